package federation

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleInvite(t testing.TB) Invite {
	s := newSigner(t)
	fp := sha256.Sum256([]byte("certificate"))
	return Invite{
		Peer:           s.id,
		Addrs:          []string{"/ip4/192.0.2.1/udp/4001/quic-v1/p2p/" + s.id.String(), "/ip4/192.0.2.1/tcp/4001"},
		URL:            "https://a.example:8443",
		TLSFingerprint: fp[:],
		Secret:         bytes.Repeat([]byte{7}, 32),
		Expires:        time.Unix(1893456000, 0),
	}
}

func TestInviteRoundTrip(t *testing.T) {
	inv := sampleInvite(t)
	text := inv.String()
	if !strings.HasPrefix(text, InvitePrefix) || strings.ContainsAny(text[len(InvitePrefix):], " -_+/=") {
		t.Fatalf("invite text %q", text)
	}
	got, err := ParseInvite("  " + text + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != inv.Peer || got.URL != inv.URL || !bytes.Equal(got.Secret, inv.Secret) ||
		!bytes.Equal(got.TLSFingerprint, inv.TLSFingerprint) || !got.Expires.Equal(inv.Expires) || len(got.Addrs) != 2 {
		t.Fatalf("parsed %+v, want %+v", got, inv)
	}
	if got.String() != text {
		t.Fatal("re-encoding differs")
	}
}

func TestInviteChecksumCatchesDamage(t *testing.T) {
	text := sampleInvite(t).String()
	alphabet := "abcdefghijklmnopqrstuvwxyz234567"
	for i := len(InvitePrefix); i < len(text); i++ {
		c := strings.IndexByte(alphabet, text[i])
		mut := text[:i] + string(alphabet[(c+1)%32]) + text[i+1:]
		if _, err := ParseInvite(mut); !errors.Is(err, ErrBadInvite) {
			t.Fatalf("character %d changed: %v", i, err)
		}
	}
	for _, bad := range []string{"", "parley-invite-v2." + text[len(InvitePrefix):], text[:len(text)-1], text + "a", strings.ToUpper(text)} {
		if _, err := ParseInvite(bad); !errors.Is(err, ErrBadInvite) {
			t.Errorf("%.40q: %v", bad, err)
		}
	}
}

func TestInviteTransportRules(t *testing.T) {
	for _, c := range []struct {
		url string
		fp  []byte
		ok  bool
	}{
		{"https://a.example", make([]byte, 32), true},
		{"https://a.example", nil, false},
		{"http://127.0.0.1:8080", nil, true},
		{"http://localhost:8080", nil, true},
		{"http://[::1]:8080", nil, true},
		{"http://192.0.2.1:8080", nil, false},
		{"http://127.0.0.1:8080", make([]byte, 32), false},
	} {
		inv := sampleInvite(t)
		inv.URL, inv.TLSFingerprint = c.url, c.fp
		_, err := ParseInvite(inv.String())
		if (err == nil) != c.ok {
			t.Errorf("%s with fingerprint %v: %v", c.url, c.fp != nil, err)
		}
	}
}
