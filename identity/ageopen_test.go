package identity

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// ageOpenSlow opens msg as OpenKeyEnvelopeAs did before the quick reader: with age, trying
// the stanza at place first.
func ageOpenSlow(msg []byte, id *ageIdentity, place int) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(msg), stanzaFirst{id, place})
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// otherStanza is an age recipient of a type no identity here knows.
type otherStanza struct{}

func (otherStanza) Wrap([]byte) ([]*age.Stanza, error) {
	return []*age.Stanza{{Type: "other", Args: []string{"a"}, Body: []byte("some body")}}, nil
}

// TestAgeOpenAt: the quick reader opens messages that SealKeyEnvelope's recipients and age's
// own X25519 recipients write, as every recipient by place, and gives up where age must
// decide: another shape, a stanza not the reader's, a changed byte anywhere.
func TestAgeOpenAt(t *testing.T) {
	var ids []*ageIdentity
	var ours, theirs []age.Recipient
	for range 5 {
		id, _ := generateAgeIdentity()
		ids = append(ids, id)
		r, _ := parseAgeRecipient(id.recipient())
		ours = append(ours, r)
		a, _ := age.ParseX25519Recipient(id.recipient())
		theirs = append(theirs, a)
	}
	plain := []byte(`{"room":"r","from":"f","kid":1,"key":"AAAAAAAAAAAAAAAAAAAAAA"}`)
	for name, to := range map[string][]age.Recipient{"ours": ours, "age's": theirs} {
		msg := ageSeal(t, plain, to...)
		for i, id := range ids {
			got, ok := id.openAt(msg, i, maxEnvelopePlaintext)
			if !ok || !bytes.Equal(got, plain) {
				t.Fatalf("%s, recipient %d: %q, %v", name, i, got, ok)
			}
			if _, ok := id.openAt(msg, (i+1)%len(ids), maxEnvelopePlaintext); ok {
				t.Fatalf("%s, recipient %d opened another's stanza", name, i)
			}
		}
		if _, ok := ids[0].openAt(msg, -1, maxEnvelopePlaintext); ok {
			t.Fatalf("%s: opened at place -1", name)
		}
		if _, ok := ids[0].openAt(msg, 0, len(plain)-1); ok {
			t.Fatalf("%s: opened a plaintext over the limit", name)
		}
		for k := range msg {
			changed := bytes.Clone(msg)
			changed[k] ^= 0x04
			if _, ok := ids[2].openAt(changed, 2, maxEnvelopePlaintext); ok {
				t.Fatalf("%s: opened with byte %d changed", name, k)
			}
		}
	}
	mixed := ageSeal(t, plain, otherStanza{}, ours[1])
	if _, ok := ids[1].openAt(mixed, 1, maxEnvelopePlaintext); ok {
		t.Fatal("quick reader opened a message with a stanza of another type")
	}
	if got, err := ageOpenSlow(mixed, ids[1], 1); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("age: %q, %v", got, err)
	}
}

// TestOpenKeyEnvelopeFallsBackToAge: an envelope whose age message the quick reader gives up
// on (a stanza of another type first) is opened by age.
func TestOpenKeyEnvelopeFallsBackToAge(t *testing.T) {
	r := newEnvRoom(t, 1)
	key := randomKey(t)
	kid := KIDOf(senderTag, 3)
	inner, err := marshalBody(envelopeKey{Room: testRoom, From: "sender", KID: kid, Key: encodeB64u(key)})
	if err != nil {
		t.Fatal(err)
	}
	rcpt, _ := parseAgeRecipient(r.to[0].Age)
	b := EnvelopeBody{V: 1, Room: testRoom, From: "sender", KID: kid, To: []string{"x", r.to[0].ID},
		Age: ageSeal(t, inner, otherStanza{}, rcpt), IATms: 1}
	if _, ok := r.users[0].age.openAt(b.Age, 1, maxEnvelopePlaintext); ok {
		t.Fatal("the quick reader opened it")
	}
	_, got, err := OpenKeyEnvelopeAs(r.resign(t, &b), r.cert, r.users[0], r.to[0].ID, testRoom)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("%x, %v", got, err)
	}
}

// FuzzAgeOpenAt: whatever the quick reader opens, age opens to the same plaintext.
func FuzzAgeOpenAt(f *testing.F) {
	id, _ := generateAgeIdentity()
	rcpt, _ := parseAgeRecipient(id.recipient())
	other, _ := generateAgeIdentity()
	otherRcpt, _ := parseAgeRecipient(other.recipient())
	plain := []byte(`{"room":"r","from":"f","kid":1,"key":"AAAAAAAAAAAAAAAAAAAAAA"}`)
	f.Add(ageSeal(f, plain, rcpt), 0)
	f.Add(ageSeal(f, plain, otherRcpt, rcpt), 1)
	f.Add(ageSeal(f, plain, otherStanza{}, rcpt), 1)
	f.Add(ageSeal(f, nil, rcpt, otherRcpt), 0)
	f.Fuzz(func(t *testing.T, msg []byte, place int) {
		got, ok := id.openAt(msg, place, maxEnvelopePlaintext)
		if !ok {
			return
		}
		want, err := ageOpenSlow(msg, id, place)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("quick reader opened %q to %q; age: %q, %v", msg, got, want, err)
		}
	})
}

// FuzzAgeOpenAtHeader lets the fuzzer write the stanzas of a message whose MAC and payload
// are made right for them, so that it reaches every check of the header's shape: whatever
// the quick reader opens, age opens to the same plaintext.
func FuzzAgeOpenAtHeader(f *testing.F) {
	id, _ := generateAgeIdentity()
	rcpt, _ := parseAgeRecipient(id.recipient())
	other, _ := generateAgeIdentity()
	otherRcpt, _ := parseAgeRecipient(other.recipient())
	fileKey := bytes.Repeat([]byte{7}, ageFileKeySize)
	stanza := func(r *ageRecipient) string {
		s, err := r.Wrap(fileKey)
		if err != nil {
			f.Fatal(err)
		}
		return fmt.Sprintf("-> %s %s\n%s\n", s[0].Type, s[0].Args[0], base64.RawStdEncoding.EncodeToString(s[0].Body))
	}
	f.Add(stanza(rcpt), 0)
	f.Add(stanza(otherRcpt)+stanza(rcpt), 1)
	f.Add(stanza(rcpt)+"-> other a\nc29tZSBib2R5\n", 0)
	f.Add(stanza(rcpt)+"-> X25519  a\n\n", 0)
	nonce := bytes.Repeat([]byte{9}, ageNonceSize)
	plain := []byte(`{"room":"r","from":"f","kid":1,"key":"AAAAAAAAAAAAAAAAAAAAAA"}`)
	streamKey, _ := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	aead, _ := chacha20poly1305.New(streamKey)
	var chunkNonce [chacha20poly1305.NonceSize]byte
	chunkNonce[len(chunkNonce)-1] = 1
	payload := append(nonce, aead.Seal(nil, chunkNonce[:], plain, nil)...)
	hmacKey, _ := hkdf.Key(sha256.New, fileKey, nil, "header", sha256.Size)
	build := func(stanzas string) []byte {
		header := ageIntro + stanzas + "---"
		h := hmac.New(sha256.New, hmacKey)
		h.Write([]byte(header))
		return append([]byte(header+" "+base64.RawStdEncoding.EncodeToString(h.Sum(nil))+"\n"), payload...)
	}
	if got, ok := id.openAt(build(stanza(rcpt)), 0, maxEnvelopePlaintext); !ok || !bytes.Equal(got, plain) {
		f.Fatalf("the first seed does not open: %q, %v", got, ok)
	}
	f.Fuzz(func(t *testing.T, stanzas string, place int) {
		msg := build(stanzas)
		got, ok := id.openAt(msg, place, maxEnvelopePlaintext)
		if !ok {
			return
		}
		want, err := ageOpenSlow(msg, id, place)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("quick reader opened %q to %q; age: %q, %v", msg, got, want, err)
		}
	})
}
