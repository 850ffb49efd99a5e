package identity

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// The BIP 173 examples: valid strings decode and encode back; invalid ones are refused.
func TestBech32Vectors(t *testing.T) {
	for _, s := range []string{
		"a12uel5l",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	} {
		for _, spelling := range []string{s, strings.ToUpper(s)} {
			hrp, data, err := bech32Decode(spelling)
			if err != nil {
				// Some examples carry 5-bit data that is not whole bytes; age keys always are.
				if strings.Contains(err.Error(), "padding") {
					continue
				}
				t.Fatalf("decode %q: %v", spelling, err)
			}
			if got := bech32Encode(hrp, data); got != s {
				t.Errorf("encode(decode(%q)) = %q", spelling, got)
			}
		}
	}
	for _, s := range []string{
		"A12Uel5l",      // mixed case
		"a12uel5m",      // checksum
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty prefix
		"x1b4n0q5v",     // 'b' is not in the alphabet
		"li1dgmt3",      // checksum too short
		"a1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", // bad checksum
	} {
		if _, _, err := bech32Decode(s); err == nil {
			t.Errorf("bech32Decode(%q) accepted it", s)
		}
	}
}

// Keys made here are age's keys: age parses both spellings, and each side opens what the other
// seals.
func TestAgeKeysInteroperate(t *testing.T) {
	for range 20 {
		ours, err := generateAgeIdentity()
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := age.ParseX25519Identity(ours.secret())
		if err != nil {
			t.Fatalf("age refuses our secret key: %v", err)
		}
		if got := theirs.Recipient().String(); got != ours.recipient() {
			t.Fatalf("age derives recipient %s, we spell %s", got, ours.recipient())
		}
		ourRcpt, err := parseAgeRecipient(ours.recipient())
		if err != nil {
			t.Fatal(err)
		}
		other, err := age.GenerateX25519Identity() // a second recipient, so stanzas are tried in turn
		if err != nil {
			t.Fatal(err)
		}
		otherRcpt, err := parseAgeRecipient(other.Recipient().String())
		if err != nil {
			t.Fatalf("an age recipient refused: %v", err)
		}

		msg := []byte("the base key")
		// Sealed here, opened by age.
		sealed := ageSeal(t, msg, otherRcpt, ourRcpt)
		if got := ageOpen(t, sealed, theirs); !bytes.Equal(got, msg) {
			t.Fatalf("age opened %q", got)
		}
		if got := ageOpen(t, sealed, other); !bytes.Equal(got, msg) {
			t.Fatalf("age opened %q for the other recipient", got)
		}
		// Sealed by age, opened here.
		sealed = ageSeal(t, msg, other.Recipient(), theirs.Recipient())
		if got := ageOpen(t, sealed, ours); !bytes.Equal(got, msg) {
			t.Fatalf("opened %q", got)
		}
		// Not a recipient: the identity does not match.
		stranger, _ := generateAgeIdentity()
		if _, err := age.Decrypt(bytes.NewReader(sealed), stranger); err == nil {
			t.Fatal("a stranger opened the message")
		} else if _, ok := errors.AsType[*age.NoIdentityMatchError](err); !ok {
			t.Fatalf("a stranger: %v, want no identity match", err)
		}
	}
}

func ageSeal(t testing.TB, msg []byte, to ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ageOpen(t *testing.T, sealed []byte, id age.Identity) []byte {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Malformed X25519 stanzas are errors; stanzas of other types, or for another key, are not
// ours.
func TestAgeUnwrapRefusals(t *testing.T) {
	id, _ := generateAgeIdentity()
	rcpt, _ := parseAgeRecipient(id.recipient())
	good, err := rcpt.Wrap(make([]byte, ageFileKeySize))
	if err != nil {
		t.Fatal(err)
	}
	g := good[0]
	for name, tc := range map[string]struct {
		s       age.Stanza
		notOurs bool
	}{
		"other type":    {age.Stanza{Type: "scrypt", Args: g.Args, Body: g.Body}, true},
		"tampered body": {age.Stanza{Type: g.Type, Args: g.Args, Body: append([]byte{g.Body[0] ^ 1}, g.Body[1:]...)}, true},
		"no argument":   {age.Stanza{Type: g.Type, Body: g.Body}, false},
		"two arguments": {age.Stanza{Type: g.Type, Args: []string{g.Args[0], g.Args[0]}, Body: g.Body}, false},
		"short share":   {age.Stanza{Type: g.Type, Args: []string{g.Args[0][:40]}, Body: g.Body}, false},
		"padded share":  {age.Stanza{Type: g.Type, Args: []string{g.Args[0] + "="}, Body: g.Body}, false},
		"short body":    {age.Stanza{Type: g.Type, Args: g.Args, Body: g.Body[:31]}, false},
		"zero share":    {age.Stanza{Type: g.Type, Args: []string{strings.Repeat("A", 43)}, Body: g.Body}, false},
	} {
		_, err := id.Unwrap([]*age.Stanza{&tc.s})
		switch {
		case err == nil:
			t.Errorf("%s: opened", name)
		case tc.notOurs != errors.Is(err, age.ErrIncorrectIdentity):
			t.Errorf("%s: %v (not ours: %v)", name, err, tc.notOurs)
		}
	}
	if key, err := id.Unwrap(good); err != nil || len(key) != ageFileKeySize {
		t.Fatalf("the good stanza: %x, %v", key, err)
	}
}

// FuzzAgeRecipient: a recipient is accepted here exactly when age accepts it and it is in its
// canonical lower-case spelling, and then both read the same key.
func FuzzAgeRecipient(f *testing.F) {
	id, _ := generateAgeIdentity()
	f.Add(id.recipient())
	f.Add(strings.ToUpper(id.recipient()))
	f.Add("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")
	f.Add("age1")
	f.Fuzz(func(t *testing.T, s string) {
		ours, err := parseAgeRecipient(s)
		theirs, ageErr := age.ParseX25519Recipient(s)
		want := ageErr == nil && theirs.String() == s && len(s) <= maxAgeRecipientLen
		if (err == nil) != want {
			t.Fatalf("%q: ours %v, age %v", s, err, ageErr)
		}
		if err == nil && bech32Encode(ageRecipientHRP, ours.raw) != theirs.String() {
			t.Fatalf("%q: read as another key", s)
		}
	})
}

// BenchmarkAgeX25519 compares age's own X25519 types with these, for one wrap and one
// unwrap (what a key envelope costs per recipient).
func BenchmarkAgeX25519(b *testing.B) {
	ours, _ := generateAgeIdentity()
	theirs, _ := age.ParseX25519Identity(ours.secret())
	ourRcpt, _ := parseAgeRecipient(ours.recipient())
	fileKey := make([]byte, ageFileKeySize)
	stanzas, _ := ourRcpt.Wrap(fileKey)
	b.Run("wrap/age", func(b *testing.B) {
		for b.Loop() {
			if _, err := theirs.Recipient().Wrap(fileKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrap/ecdh", func(b *testing.B) {
		for b.Loop() {
			if _, err := ourRcpt.Wrap(fileKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unwrap/age", func(b *testing.B) {
		for b.Loop() {
			if _, err := theirs.Unwrap(stanzas); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unwrap/ecdh", func(b *testing.B) {
		for b.Loop() {
			if _, err := ours.Unwrap(stanzas); err != nil {
				b.Fatal(err)
			}
		}
	})
}
