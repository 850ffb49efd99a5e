package identity

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MaxKID is the largest KID: a 32-bit sender tag and a 16-bit epoch.
//
//	 47                             16 15             0
//	+--------------------------------+----------------+
//	|           sender tag           |     epoch      |
//	+--------------------------------+----------------+
const MaxKID = 1<<48 - 1

// DefaultRetain is how long a KeyRing keeps a sender's older keys after a newer one arrives.
const DefaultRetain = 10 * time.Second

// KIDOf is the KID of a sender tag's epoch.
func KIDOf(tag uint32, epoch uint16) uint64 { return uint64(tag)<<16 | uint64(epoch) }

// SplitKID is the sender tag and epoch of kid; bits above 47 are ignored.
func SplitKID(kid uint64) (tag uint32, epoch uint16) { return uint32(kid >> 16), uint16(kid) }

// newerEpoch reports whether epoch a comes after b, counting modulo 2^16 so that a sender
// whose epochs wrap around keeps going: a is newer if it is less than 2^15 steps ahead.
func newerEpoch(a, b uint16) bool { return int16(a-b) > 0 }

// KeyRing holds the keys a receiver got from other senders (and its own, for its own chat),
// by KID. A sender's newest epoch stays until a newer one arrives or RemoveTag; older ones
// are kept for the retain time after that, for late frames, and then erased by Expire. It is
// safe for concurrent use; Lookup is an identity KeyLookup for a FrameReceiver.
type KeyRing struct {
	retain time.Duration

	mu     sync.RWMutex
	keys   map[uint64]*ringKey // guarded by mu
	newest map[uint32]uint16   // sender tag -> its newest epoch; guarded by mu
}

type ringKey struct {
	base    []byte // a copy, zeroed when the key is erased
	key     *SFrameKey
	expires time.Time // zero while it is its sender's newest key
}

// NewKeyRing makes an empty key ring that keeps superseded keys for retain (DefaultRetain
// when zero or negative).
func NewKeyRing(retain time.Duration) *KeyRing {
	if retain <= 0 {
		retain = DefaultRetain
	}
	return &KeyRing{retain: retain, keys: map[uint64]*ringKey{}, newest: map[uint32]uint16{}}
}

// Add keeps baseKey for kid. If kid's epoch is its tag's newest, the tag's other keys start
// their retain time now; if it is older than a key already held, kid itself does. Adding the
// same key again changes nothing; a different key for a KID already held is an error (a
// sender that starts over needs RemoveTag first).
func (r *KeyRing) Add(kid uint64, baseKey []byte, now time.Time) error {
	if kid > MaxKID {
		return fmt.Errorf("identity: key ring: kid %d is over 2^48-1", kid)
	}
	if len(baseKey) != BaseKeySize {
		return fmt.Errorf("identity: key ring: base key is %d bytes, want %d", len(baseKey), BaseKeySize)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.keys[kid]; ok {
		if bytes.Equal(k.base, baseKey) {
			return nil
		}
		return errors.New("identity: key ring: a different key for a KID already held")
	}
	key, err := NewSFrameKey(baseKey, kid)
	if err != nil {
		return fmt.Errorf("identity: key ring: %w", err)
	}
	k := &ringKey{base: bytes.Clone(baseKey), key: key}
	tag, epoch := SplitKID(kid)
	if cur, ok := r.newest[tag]; ok && !newerEpoch(epoch, cur) {
		k.expires = now.Add(r.retain)
	} else {
		r.newest[tag] = epoch
		for other, o := range r.keys {
			if t, _ := SplitKID(other); t == tag && o.expires.IsZero() {
				o.expires = now.Add(r.retain)
			}
		}
	}
	r.keys[kid] = k
	return nil
}

// Lookup returns the key for kid, if the ring holds it.
func (r *KeyRing) Lookup(kid uint64) (*SFrameKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[kid]
	if !ok {
		return nil, false
	}
	return k.key, true
}

// Expire erases every key whose retain time has passed at now and returns their KIDs in
// increasing order.
func (r *KeyRing) Expire(now time.Time) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []uint64
	for kid, k := range r.keys {
		if !k.expires.IsZero() && !now.Before(k.expires) {
			gone = append(gone, kid)
		}
	}
	return r.eraseLocked(gone)
}

// RemoveTag erases every key of sender tag (the sender left) and returns their KIDs in
// increasing order.
func (r *KeyRing) RemoveTag(tag uint32) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []uint64
	for kid := range r.keys {
		if t, _ := SplitKID(kid); t == tag {
			gone = append(gone, kid)
		}
	}
	delete(r.newest, tag)
	return r.eraseLocked(gone)
}

// eraseLocked zeroes and drops the keys of kids, sorted in place and returned. The derived
// SFrameKey is dropped, not zeroed: a frame being decrypted with it may still hold it.
func (r *KeyRing) eraseLocked(kids []uint64) []uint64 {
	slices.Sort(kids)
	for _, kid := range kids {
		clear(r.keys[kid].base)
		delete(r.keys, kid)
	}
	return kids
}
