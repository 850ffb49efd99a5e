package identity

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestKIDOf(t *testing.T) {
	cases := []struct {
		tag   uint32
		epoch uint16
		kid   uint64
	}{
		{0, 0, 0},
		{1, 0, 0x10000},
		{0xc0ffee, 3, 0xc0ffee0003},
		{1<<32 - 1, 1<<16 - 1, MaxKID},
	}
	for _, c := range cases {
		if got := KIDOf(c.tag, c.epoch); got != c.kid {
			t.Errorf("KIDOf(%#x, %d) = %#x, want %#x", c.tag, c.epoch, got, c.kid)
		}
		if tag, epoch := SplitKID(c.kid); tag != c.tag || epoch != c.epoch {
			t.Errorf("SplitKID(%#x) = %#x, %d", c.kid, tag, epoch)
		}
	}
	if MaxKID >= 1<<53 {
		t.Error("KIDs must stay exact as JavaScript numbers")
	}
}

func TestKeyRingRetention(t *testing.T) {
	const retain = 10 * time.Second
	r := NewKeyRing(0) // default: 10 s
	t0 := time.Unix(1000, 0)
	k0, k1, other := KIDOf(7, 0), KIDOf(7, 1), KIDOf(8, 0)
	key0, key1 := randomKey(t), randomKey(t)
	mustAdd(t, r, k0, key0, t0)
	mustAdd(t, r, other, randomKey(t), t0)
	if sk, ok := r.Lookup(k0); !ok || sk.KID() != k0 {
		t.Fatalf("Lookup(k0) = %v, %v", sk, ok)
	}
	if _, ok := r.Lookup(k1); ok {
		t.Fatal("Lookup of a KID never added succeeded")
	}
	if gone := r.Expire(t0.Add(time.Hour)); gone != nil {
		t.Fatalf("newest keys expired: %v", gone)
	}
	// A newer epoch starts the old one's retain time.
	t1 := t0.Add(time.Minute)
	mustAdd(t, r, k1, key1, t1)
	held := r.keys[k0].base
	if gone := r.Expire(t1.Add(retain - time.Nanosecond)); gone != nil {
		t.Fatalf("expired before the retain time: %v", gone)
	}
	if _, ok := r.Lookup(k0); !ok {
		t.Fatal("old key gone during its retain time")
	}
	if gone := r.Expire(t1.Add(retain)); !slices.Equal(gone, []uint64{k0}) {
		t.Fatalf("Expire = %v, want [k0]", gone)
	}
	if _, ok := r.Lookup(k0); ok {
		t.Error("expired key still found")
	}
	if !bytes.Equal(held, make([]byte, BaseKeySize)) {
		t.Errorf("expired base key not zeroed: %x", held)
	}
	for _, kid := range []uint64{k1, other} {
		if _, ok := r.Lookup(kid); !ok {
			t.Errorf("kid %#x gone with another key", kid)
		}
	}
	// A late envelope for an older epoch is kept only for the retain time.
	t2 := t1.Add(time.Hour)
	mustAdd(t, r, k0, key0, t2)
	if gone := r.Expire(t2.Add(retain)); !slices.Equal(gone, []uint64{k0}) {
		t.Errorf("late old key: Expire = %v, want [k0]", gone)
	}
	if _, ok := r.Lookup(k1); !ok {
		t.Error("a late older key superseded the newest")
	}
}

func TestKeyRingAddRules(t *testing.T) {
	r := NewKeyRing(time.Second)
	now := time.Unix(1000, 0)
	key := randomKey(t)
	mustAdd(t, r, KIDOf(1, 5), key, now)
	if err := r.Add(KIDOf(1, 5), key, now); err != nil {
		t.Errorf("same key again: %v", err)
	}
	if err := r.Add(KIDOf(1, 5), randomKey(t), now); err == nil {
		t.Error("a different key for a held KID was accepted")
	}
	if err := r.Add(MaxKID+1, key, now); err == nil {
		t.Error("KID over 2^48-1 accepted")
	}
	if err := r.Add(KIDOf(2, 0), key[:15], now); err == nil {
		t.Error("15-byte key accepted")
	}
	// Epochs wrap: 0 after 65535 is newer.
	mustAdd(t, r, KIDOf(3, 0xffff), randomKey(t), now)
	mustAdd(t, r, KIDOf(3, 0), randomKey(t), now)
	if gone := r.Expire(now.Add(time.Second)); !slices.Equal(gone, []uint64{KIDOf(3, 0xffff)}) {
		t.Errorf("after wrap-around Expire = %v, want epoch 65535", gone)
	}
}

func TestKeyRingRemoveTag(t *testing.T) {
	r := NewKeyRing(time.Minute)
	now := time.Unix(1000, 0)
	for _, kid := range []uint64{KIDOf(4, 1), KIDOf(4, 0), KIDOf(5, 0)} {
		mustAdd(t, r, kid, randomKey(t), now)
	}
	held := r.keys[KIDOf(4, 1)].base
	if gone := r.RemoveTag(4); !slices.Equal(gone, []uint64{KIDOf(4, 0), KIDOf(4, 1)}) {
		t.Errorf("RemoveTag = %v", gone)
	}
	if !bytes.Equal(held, make([]byte, BaseKeySize)) {
		t.Error("removed base key not zeroed")
	}
	if _, ok := r.Lookup(KIDOf(4, 1)); ok {
		t.Error("removed key found")
	}
	if _, ok := r.Lookup(KIDOf(5, 0)); !ok {
		t.Error("other sender's key removed")
	}
	// The sender may come back and start from epoch 0 with a new key.
	mustAdd(t, r, KIDOf(4, 0), randomKey(t), now)
	if gone := r.RemoveTag(9); gone != nil {
		t.Errorf("RemoveTag of an unknown tag = %v", gone)
	}
}

// TestKeyRingConcurrent is for the race detector: lookups while keys come and go.
func TestKeyRingConcurrent(t *testing.T) {
	r := NewKeyRing(time.Millisecond)
	var lookup KeyLookup = r.Lookup
	now := time.Unix(1000, 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				kid := KIDOf(uint32(g), uint16(i))
				if g%2 == 0 {
					_ = r.Add(kid, randomKey(t), now.Add(time.Duration(i)*time.Millisecond))
					r.Expire(now.Add(time.Duration(i) * time.Millisecond))
				} else {
					lookup(KIDOf(uint32(g-1), uint16(i)))
					if i%50 == 0 {
						r.RemoveTag(uint32(g - 1))
					}
				}
			}
		})
	}
	wg.Wait()
}

func mustAdd(t *testing.T, r *KeyRing, kid uint64, key []byte, now time.Time) {
	t.Helper()
	if err := r.Add(kid, key, now); err != nil {
		t.Fatalf("Add(%#x): %v", kid, err)
	}
}
