package identity

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// testRoom is a room id spelled like the node's (26 characters of a-z, 2-7).
const testRoom = "abcdefghijklmnopqrstuvwxyz"

func newUser(t testing.TB) *UserIdentity {
	t.Helper()
	u, err := GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newNode(t testing.TB) *NodeKey {
	t.Helper()
	nk, err := GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	return nk
}

// trustOnly trusts exactly the given node keys.
func trustOnly(keys ...ed25519.PublicKey) func(ed25519.PublicKey) bool {
	return func(k ed25519.PublicKey) bool {
		for _, t := range keys {
			if k.Equal(t) {
				return true
			}
		}
		return false
	}
}

func TestSignedObjectVerify(t *testing.T) {
	u := newUser(t)
	o := u.sign(EnvelopePrefix, []byte(`{"a":1}`))
	if err := o.Verify(EnvelopePrefix, u.SigPub()); err != nil {
		t.Fatalf("valid object: %v", err)
	}
	other := newUser(t)
	long := u.sign(CertificatePrefix, []byte(`"`+strings.Repeat("x", MaxBody-1)+`"`))
	envLong := u.sign(EnvelopePrefix, []byte(`"`+strings.Repeat("x", MaxBody)+`"`))
	if err := envLong.Verify(EnvelopePrefix, u.SigPub()); err != nil {
		t.Errorf("envelope body over MaxBody but under MaxEnvelopeBody: %v", err)
	}
	cases := map[string]struct {
		o      SignedObject
		prefix string
		pub    ed25519.PublicKey
	}{
		"other key":        {o, EnvelopePrefix, other.SigPub()},
		"other prefix":     {o, CertificatePrefix, u.SigPub()},
		"body changed":     {SignedObject{Body: `{"a":2}`, Sig: o.Sig}, EnvelopePrefix, u.SigPub()},
		"body whitespace":  {SignedObject{Body: `{"a":1} `, Sig: o.Sig}, EnvelopePrefix, u.SigPub()},
		"sig padded":       {SignedObject{Body: o.Body, Sig: o.Sig + "=="}, EnvelopePrefix, u.SigPub()},
		"sig short":        {SignedObject{Body: o.Body, Sig: o.Sig[:85]}, EnvelopePrefix, u.SigPub()},
		"sig std alphabet": {SignedObject{Body: o.Body, Sig: strings.NewReplacer("-", "+", "_", "/").Replace(o.Sig[:84]) + "+/"}, EnvelopePrefix, u.SigPub()},
		"sig empty":        {SignedObject{Body: o.Body}, EnvelopePrefix, u.SigPub()},
		"short public key": {o, EnvelopePrefix, u.SigPub()[:31]},
		"body over limit":  {long, CertificatePrefix, u.SigPub()},
		"envelope over":    {u.sign(EnvelopePrefix, make([]byte, MaxEnvelopeBody+1)), EnvelopePrefix, u.SigPub()},
	}
	for name, c := range cases {
		if err := c.o.Verify(c.prefix, c.pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

func TestParseSignedObject(t *testing.T) {
	good := `{"body":"{\"a\":1}","sig":"abc"}`
	o, err := ParseSignedObject([]byte(good))
	if err != nil || o.Body != `{"a":1}` || o.Sig != "abc" {
		t.Fatalf("ParseSignedObject(%s) = %+v, %v", good, o, err)
	}
	bad := map[string]string{
		"unknown field":   `{"body":"x","sig":"y","z":1}`,
		"missing sig":     `{"body":"x"}`,
		"duplicate body":  `{"body":"x","body":"y","sig":"z"}`,
		"other case":      `{"Body":"x","sig":"y"}`,
		"trailing":        `{"body":"x","sig":"y"}{}`,
		"trailing junk":   `{"body":"x","sig":"y"} x`,
		"null":            `{"body":null,"sig":"y"}`,
		"not object":      `["x","y"]`,
		"number body":     `{"body":1,"sig":"y"}`,
		"invalid utf8":    "{\"body\":\"\xff\",\"sig\":\"y\"}",
		"empty":           ``,
		"unterminated":    `{"body":"x","sig":"y"`,
		"oversize":        `{"body":"` + strings.Repeat("a", MaxSignedObject) + `","sig":"y"}`,
		"nested unknown":  `{"body":"x","sig":"y","body2":{"a":[1,2]}}`,
		"comma then none": `{"body":"x","sig":"y",}`,
	}
	for name, in := range bad {
		if _, err := ParseSignedObject([]byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
}

// FuzzParseSignedObject: never panics; whatever it accepts encodes and parses back the same.
func FuzzParseSignedObject(f *testing.F) {
	u := newUser(f)
	seed, _ := json.Marshal(u.sign(EnvelopePrefix, []byte(`{"v":1}`)))
	f.Add(seed)
	f.Add([]byte(`{"body":"x","sig":"y","body":"z"}`))
	f.Add([]byte(`{"body":"\u0041","sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseSignedObject(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		o2, err := ParseSignedObject(again)
		if err != nil || o2 != o {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", o, again, o2, err)
		}
	})
}
