package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// envRoom is a test meeting: a node, a sender with its certificate, and n recipients.
type envRoom struct {
	node   *NodeKey
	sender *UserIdentity
	cert   *CertBody
	users  []*UserIdentity
	to     []Recipient
}

const senderTag = 0x00c0ffee

func newEnvRoom(t testing.TB, n int) *envRoom {
	t.Helper()
	r := &envRoom{node: newNode(t), sender: newUser(t)}
	_, r.cert = issueCert(t, r.node, r.sender, "sender", senderTag)
	for i := range n {
		u := newUser(t)
		r.users = append(r.users, u)
		r.to = append(r.to, Recipient{ID: fmt.Sprintf("p%d", i), Age: u.AgeRecipient()})
	}
	return r
}

func randomKey(t testing.TB) []byte {
	k := make([]byte, BaseKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (r *envRoom) seal(t testing.TB, kid uint64, key []byte) SignedObject {
	t.Helper()
	o, err := SealKeyEnvelope(r.sender, testRoom, "sender", kid, key, r.to, time.UnixMilli(1_700_000_000_123))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// resign re-encodes b and signs it with the sender's key, as a sender that misbehaves would.
func (r *envRoom) resign(t testing.TB, b *EnvelopeBody) SignedObject {
	t.Helper()
	body, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return r.sender.sign(EnvelopePrefix, body)
}

func TestEnvelopeSealOpen(t *testing.T) {
	for _, n := range []int{1, 2, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := newEnvRoom(t, n)
			kid, key := KIDOf(senderTag, 3), randomKey(t)
			o := r.seal(t, kid, key)
			b, err := ParseEnvelope(o)
			if err != nil {
				t.Fatal(err)
			}
			if b.V != 1 || b.Room != testRoom || b.From != "sender" || b.KID != kid || len(b.To) != n || b.IATms != 1_700_000_000_123 {
				t.Errorf("body %+v", b)
			}
			if !bytes.HasPrefix(b.Age, []byte("age-encryption.org/v1\n")) {
				t.Errorf("age field is not a binary age message: %q", b.Age[:20])
			}
			if got := strings.Count(string(b.Age), "\n-> X25519 "); got != n {
				t.Errorf("%d X25519 stanzas, want %d", got, n)
			}
			for i, u := range r.users {
				gotKID, gotKey, err := OpenKeyEnvelope(o, r.cert, u, testRoom)
				if err != nil || gotKID != kid || !bytes.Equal(gotKey, key) {
					t.Fatalf("recipient %d: kid %d key %x err %v", i, gotKID, gotKey, err)
				}
			}
			if _, _, err := OpenKeyEnvelope(o, r.cert, newUser(t), testRoom); !errors.Is(err, ErrNotForMe) || errors.Is(err, ErrBadEnvelope) {
				t.Errorf("non-recipient: %v, want ErrNotForMe only", err)
			}
			t.Logf("%d recipients: body %d bytes", n, len(o.Body))
		})
	}
}

func TestEnvelopeRejected(t *testing.T) {
	r := newEnvRoom(t, 2)
	me := r.users[1]
	kid, key := KIDOf(senderTag, 1), randomKey(t)
	o := r.seal(t, kid, key)
	b, err := ParseEnvelope(o)
	if err != nil {
		t.Fatal(err)
	}
	mutated := func(mod func(*EnvelopeBody)) SignedObject {
		c := *b
		c.To = append([]string(nil), b.To...)
		c.Age = bytes.Clone(b.Age)
		mod(&c)
		return r.resign(t, &c)
	}
	// inner seals an age message to me whose plaintext is inner, in an envelope signed by the
	// sender with the original body.
	inner := func(plain string) SignedObject {
		var buf bytes.Buffer
		rcpt, _ := age.ParseX25519Recipient(me.AgeRecipient())
		w, err := age.Encrypt(&buf, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(plain))
		w.Close()
		return mutated(func(c *EnvelopeBody) { c.Age = buf.Bytes() })
	}
	k := encodeB64u(key)
	otherCert := *r.cert
	otherCert.SigPub = newUser(t).SigPub()
	otherRoomCert := *r.cert
	otherRoomCert.Room = "zyxwvutsrqponmlkjihgfedcba"
	wrongTag, err := SealKeyEnvelope(r.sender, testRoom, "sender", KIDOf(senderTag+1, 1), key, r.to, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// flipAt changes the age message's character after the n-th occurrence of marker to
	// another base64 character.
	flipAt := func(marker string, n int) func(*EnvelopeBody) {
		return func(c *EnvelopeBody) {
			i := -1
			for range n {
				i += 1 + bytes.Index(c.Age[i+1:], []byte(marker))
			}
			i += len(marker)
			if c.Age[i] == 'A' {
				c.Age[i] = 'B'
			} else {
				c.Age[i] = 'A'
			}
		}
	}
	cases := map[string]struct {
		o        SignedObject
		cert     *CertBody
		room     string
		sig      bool // also ErrBadSignature
		notForMe bool // ErrNotForMe instead of ErrBadEnvelope
	}{
		"tampered body":         {o: SignedObject{Body: strings.Replace(o.Body, `"p0"`, `"p9"`, 1), Sig: o.Sig}, sig: true},
		"tampered sig":          {o: SignedObject{Body: o.Body, Sig: "A" + o.Sig[1:]}, sig: true},
		"tampered age unsigned": {o: SignedObject{Body: strings.Replace(o.Body, `"age":"YWdl`, `"age":"YWdm`, 1), Sig: o.Sig}, sig: true},
		"other signer":          {o: o, cert: &otherCert, sig: true},
		"signed as cert":        {o: r.sender.sign(CertificatePrefix, []byte(o.Body)), sig: true},
		"tampered age MAC":      {o: mutated(flipAt("\n--- ", 1))},
		"tampered other stanza": {o: mutated(flipAt("\n-> X25519 ", 1))},
		// A damaged stanza for me cannot be told from a stanza for someone else.
		"tampered own stanza":  {o: mutated(flipAt("\n", 4)), notForMe: true},
		"tampered age payload": {o: mutated(func(c *EnvelopeBody) { c.Age[len(c.Age)-1] ^= 1 })},
		"truncated age":        {o: mutated(func(c *EnvelopeBody) { c.Age = c.Age[:len(c.Age)-17] })},
		"age with junk":        {o: mutated(func(c *EnvelopeBody) { c.Age = append(c.Age, 0) })},
		"kid tag mismatch":     {o: wrongTag},
		"body room":            {o: mutated(func(c *EnvelopeBody) { c.Room = "other" })},
		"cert room":            {o: o, cert: &otherRoomCert},
		"from other":           {o: mutated(func(c *EnvelopeBody) { c.From = "p0" })},
		"body kid":             {o: mutated(func(c *EnvelopeBody) { c.KID = KIDOf(senderTag, 2) })},
		"inner room":           {o: inner(fmt.Sprintf(`{"room":"other","from":"sender","kid":%d,"key":"%s"}`, kid, k))},
		"inner from":           {o: inner(fmt.Sprintf(`{"room":"%s","from":"p0","kid":%d,"key":"%s"}`, testRoom, kid, k))},
		"inner kid":            {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}`, testRoom, kid+1, k))},
		"inner short key":      {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}`, testRoom, kid, k[:20]))},
		"inner 32-byte key":    {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}`, testRoom, kid, k+k[:21]))},
		"inner extra field":    {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s","x":1}`, testRoom, kid, k))},
		"inner duplicate":      {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"kid":%d,"key":"%s"}`, testRoom, kid+1, kid, k))},
		"inner trailing":       {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}x`, testRoom, kid, k))},
		"inner too long":       {o: inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}%s`, testRoom, kid, k, strings.Repeat(" ", 600)))},
		"inner not JSON":       {o: inner("key")},
		"nil certificate":      {o: o, cert: nil},
	}
	for name, c := range cases {
		cert, room := r.cert, testRoom
		if c.cert != nil || name == "nil certificate" {
			cert = c.cert
		}
		if c.room != "" {
			room = c.room
		}
		_, _, err := OpenKeyEnvelope(c.o, cert, me, room)
		if c.notForMe {
			if !errors.Is(err, ErrNotForMe) || errors.Is(err, ErrBadEnvelope) {
				t.Errorf("%s: %v, want ErrNotForMe", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadEnvelope) || errors.Is(err, ErrNotForMe) {
			t.Errorf("%s: %v, want ErrBadEnvelope", name, err)
			continue
		}
		if c.sig != errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v: ErrBadSignature is %v, want %v", name, err, !c.sig, c.sig)
		}
	}
	// The room the receiver is in must match, too.
	if _, _, err := OpenKeyEnvelope(o, r.cert, me, "zyxwvutsrqponmlkjihgfedcba"); !errors.Is(err, ErrBadEnvelope) {
		t.Errorf("receiver in another room: %v", err)
	}
	// A well-formed inner plaintext passes the same path (the cases above fail for their reason).
	if _, got, err := OpenKeyEnvelope(inner(fmt.Sprintf(`{"room":"%s","from":"sender","kid":%d,"key":"%s"}`, testRoom, kid, k)), r.cert, me, testRoom); err != nil || !bytes.Equal(got, key) {
		t.Errorf("hand-made valid envelope: %v", err)
	}
}

func TestParseEnvelopeStrict(t *testing.T) {
	r := newEnvRoom(t, 2)
	o := r.seal(t, KIDOf(senderTag, 1), randomKey(t))
	ageB64 := func() string {
		b, _ := ParseEnvelope(o)
		return base64.StdEncoding.EncodeToString(b.Age)
	}()
	good := fmt.Sprintf(`{"v":1,"room":"%s","from":"sender","kid":%d,"to":["p0","p1"],"age":"%s","iat_ms":1}`, testRoom, KIDOf(senderTag, 1), ageB64)
	if _, err := ParseEnvelope(SignedObject{Body: good}); err != nil {
		t.Fatalf("hand-written body: %v", err)
	}
	bad := map[string]string{
		"unknown field":    strings.Replace(good, `"v":1`, `"v":1,"x":0`, 1),
		"duplicate":        strings.Replace(good, `"v":1`, `"v":1,"v":1`, 1),
		"missing iat_ms":   strings.Replace(good, `,"iat_ms":1`, ``, 1),
		"trailing":         good + "[]",
		"version 0":        strings.Replace(good, `"v":1`, `"v":0`, 1),
		"kid of 2^48":      strings.Replace(good, fmt.Sprint(KIDOf(senderTag, 1)), "281474976710656", 1),
		"negative kid":     strings.Replace(good, fmt.Sprint(KIDOf(senderTag, 1)), "-1", 1),
		"no recipients":    strings.Replace(good, `["p0","p1"]`, `[]`, 1),
		"same recipient":   strings.Replace(good, `["p0","p1"]`, `["p0","p0"]`, 1),
		"bad recipient id": strings.Replace(good, `["p0","p1"]`, `["p0","p 1"]`, 1),
		"null recipient":   strings.Replace(good, `["p0","p1"]`, `["p0",null]`, 1),
		"to not a list":    strings.Replace(good, `["p0","p1"]`, `"p0"`, 1),
		"age unpadded":     strings.Replace(good, ageB64, strings.TrimRight(ageB64, "="), 1),
		"age b64url":       strings.Replace(good, ageB64, strings.NewReplacer("+", "-", "/", "_").Replace(ageB64)+"-_", 1),
		"age newline":      strings.Replace(good, ageB64, ageB64[:8]+`\n`+ageB64[8:], 1),
		"age empty":        strings.Replace(good, ageB64, "", 1),
		"negative iat_ms":  strings.Replace(good, `"iat_ms":1`, `"iat_ms":-1`, 1),
		"bad room":         strings.Replace(good, testRoom, "room/1", 1),
		"oversize":         good + strings.Repeat(" ", MaxEnvelopeBody),
	}
	for name, body := range bad {
		if _, err := ParseEnvelope(SignedObject{Body: body}); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("%s: %v, want ErrBadEnvelope", name, err)
		}
	}
}

func TestSealKeyEnvelopeValidates(t *testing.T) {
	r := newEnvRoom(t, 2)
	key, kid := randomKey(t), KIDOf(senderTag, 0)
	tooMany := make([]Recipient, MaxRecipients+1)
	for i := range tooMany {
		tooMany[i] = Recipient{ID: fmt.Sprint("p", i), Age: r.to[0].Age}
	}
	cases := map[string]func() (SignedObject, error){
		"no recipients": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", kid, key, nil, time.Now())
		},
		"short key": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", kid, key[:15], r.to, time.Now())
		},
		"kid of 2^48": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", MaxKID+1, key, r.to, time.Now())
		},
		"bad from": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "", kid, key, r.to, time.Now())
		},
		"bad room": func() (SignedObject, error) { return SealKeyEnvelope(r.sender, "a.b", "s", kid, key, r.to, time.Now()) },
		"bad age": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", kid, key, []Recipient{{ID: "p", Age: "age1xyz"}}, time.Now())
		},
		"same id twice": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", kid, key, []Recipient{r.to[0], {ID: r.to[0].ID, Age: r.to[1].Age}}, time.Now())
		},
		"too many": func() (SignedObject, error) {
			return SealKeyEnvelope(r.sender, testRoom, "s", kid, key, tooMany, time.Now())
		},
	}
	for name, seal := range cases {
		if _, err := seal(); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
}

// TestEnvelopeMaxRecipients: the largest envelope (MaxRecipients recipients, 64-byte ids)
// fits MaxEnvelopeBody, and its last recipient opens it.
func TestEnvelopeMaxRecipients(t *testing.T) {
	if testing.Short() {
		t.Skip("seals to 1024 recipients")
	}
	r := newEnvRoom(t, 0)
	last := newUser(t)
	pad := strings.Repeat("x", MaxIDLen-5)
	for i := range MaxRecipients {
		r.to = append(r.to, Recipient{ID: fmt.Sprintf("%s%05d", pad, i), Age: last.AgeRecipient()})
	}
	o := r.seal(t, KIDOf(senderTag, 9), randomKey(t))
	t.Logf("%d recipients with %d-byte ids: body %d bytes (limit %d)", MaxRecipients, MaxIDLen, len(o.Body), MaxEnvelopeBody)
	if _, _, err := OpenKeyEnvelope(o, r.cert, last, testRoom); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseEnvelope: never panics; what it accepts encodes and parses back the same.
func FuzzParseEnvelope(f *testing.F) {
	r := newEnvRoom(f, 2)
	f.Add(r.seal(f, KIDOf(senderTag, 1), randomKey(f)).Body)
	f.Add(`{"v":1,"room":"r","from":"f","kid":1,"to":["a"],"age":"AA==","iat_ms":0}`)
	f.Add(`{"v":1,"room":"r","from":"f","kid":1,"to":["a","a"],"age":"AA==","iat_ms":0,"v":1}`)
	f.Fuzz(func(t *testing.T, body string) {
		b, err := ParseEnvelope(SignedObject{Body: body})
		if err != nil {
			if !errors.Is(err, ErrBadEnvelope) {
				t.Fatalf("error %v does not wrap ErrBadEnvelope", err)
			}
			return
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ParseEnvelope(SignedObject{Body: string(again)})
		if err != nil || fmt.Sprint(*b2) != fmt.Sprint(*b) {
			t.Fatalf("round trip of %q: %s, %v", body, again, err)
		}
	})
}

// FuzzOpenKeyEnvelope signs whatever body it is given with the sender's key, so that the
// fuzzer reaches the parser, the checks and age. It must never panic; a key it returns is
// 16 bytes for the body's KID.
func FuzzOpenKeyEnvelope(f *testing.F) {
	r := newEnvRoom(f, 2)
	f.Add(r.seal(f, KIDOf(senderTag, 1), randomKey(f)).Body, false)
	f.Add(r.seal(f, KIDOf(senderTag, 2), randomKey(f)).Body, true)
	notMine, err := SealKeyEnvelope(r.sender, testRoom, "sender", KIDOf(senderTag, 3), randomKey(f), []Recipient{{ID: "x", Age: newUser(f).AgeRecipient()}}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(notMine.Body, false)
	me := r.users[0]
	f.Fuzz(func(t *testing.T, body string, unsigned bool) {
		o := r.sender.sign(EnvelopePrefix, []byte(body))
		if unsigned {
			o.Sig = body
		}
		kid, key, err := OpenKeyEnvelope(o, r.cert, me, testRoom)
		if err != nil {
			if !errors.Is(err, ErrBadEnvelope) && !errors.Is(err, ErrNotForMe) {
				t.Fatalf("error %v wraps neither ErrBadEnvelope nor ErrNotForMe", err)
			}
			return
		}
		b, err := ParseEnvelope(o)
		if err != nil || b.KID != kid || len(key) != BaseKeySize {
			t.Fatalf("accepted kid %d key %x for body %q (%v)", kid, key, body, err)
		}
	})
}

// BenchmarkSealKeyEnvelope50 seals one key for 50 recipients, a full meeting's rekey by one
// sender.
func BenchmarkSealKeyEnvelope50(b *testing.B) {
	r := newEnvRoom(b, 50)
	for i := range r.to {
		r.to[i].ID = fmt.Sprintf("%016d", i) // as long as the node's participant ids
	}
	key := randomKey(b)
	var o SignedObject
	for b.Loop() {
		o = r.seal(b, KIDOf(senderTag, 1), key)
	}
	wire, _ := json.Marshal(o)
	b.ReportMetric(float64(len(o.Body)), "body-bytes")
	b.ReportMetric(float64(len(wire)), "json-bytes")
}

// TestOpenKeyEnvelopeAsTriesOwnStanzaFirst opens a 50-recipient envelope as each recipient by
// its place in "to", and as a recipient named wrongly (falling back to every stanza).
func TestOpenKeyEnvelopeAsTriesOwnStanzaFirst(t *testing.T) {
	r := newEnvRoom(t, 50)
	key := randomKey(t)
	o := r.seal(t, KIDOf(senderTag, 1), key)
	for i, u := range r.users {
		_, got, err := OpenKeyEnvelopeAs(o, r.cert, u, r.to[i].ID, testRoom)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("recipient %d: %x, %v", i, got, err)
		}
	}
	if _, got, err := OpenKeyEnvelopeAs(o, r.cert, r.users[7], r.to[3].ID, testRoom); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("recipient 7 named as 3: %x, %v; want the fallback to find its stanza", got, err)
	}
	if _, _, err := OpenKeyEnvelopeAs(o, r.cert, newUser(t), r.to[3].ID, testRoom); !errors.Is(err, ErrNotForMe) {
		t.Fatalf("a stranger named as recipient 3: %v, want ErrNotForMe", err)
	}
}

// BenchmarkOpenKeyEnvelope50 opens a 50-recipient envelope as its last recipient: by place
// (one X25519 operation) and by trying every stanza.
func BenchmarkOpenKeyEnvelope50(b *testing.B) {
	r := newEnvRoom(b, 50)
	o := r.seal(b, KIDOf(senderTag, 1), randomKey(b))
	last := len(r.users) - 1
	for _, c := range []struct{ name, id string }{{"by-place", r.to[last].ID}, {"every-stanza", ""}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := OpenKeyEnvelopeAs(o, r.cert, r.users[last], c.id, testRoom); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
