package identity

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// quickBodies are envelope bodies in the usual spelling and in others: the quick reader must
// read the first kind and leave the others to decodeStrict.
func quickBodies(t testing.TB) (usual []string, other []string) {
	r := newEnvRoom(t, 3)
	body := r.seal(t, KIDOf(senderTag, 7), randomKey(t)).Body
	usual = []string{
		body,
		" {\"v\" : 1 ,\n\t\"room\":\"" + testRoom + "\",\"from\":\"sender\",\"kid\":0,\"to\":[ ],\"age\":\"AA==\",\"iat_ms\":-0}\r\n",
		`{"iat_ms":5,"age":"AAAA","to":["a" , "b"],"kid":12,"from":"f","room":"r","v":1}`,
	}
	other = []string{
		strings.Replace(body, `"from":"sender"`, `"from":"sen\u0064er"`, 1),
		strings.Replace(body, `"from"`, `"fr\u006fm"`, 1),
		strings.Replace(body, `"v":1`, `"v":1.0`, 1),
		strings.Replace(body, `"v":1`, `"v":1e0`, 1),
		strings.Replace(body, `"v":1`, `"v":01`, 1),
		strings.Replace(body, `"v":1`, `"v":null`, 1),
		strings.Replace(body, `"v":1`, `"v":"1"`, 1),
		strings.Replace(body, `"v":1`, `"V":1`, 1),
		strings.Replace(body, `"v":1`, `"v":1,"v":1`, 1),
		strings.Replace(body, `"v":1,`, ``, 1),
		strings.Replace(body, `"kid":`, `"kid":-`, 1),
		strings.Replace(body, `"kid":`, `"kid":99999999999999999999`, 1),
		strings.Replace(body, `"from":"sender"`, `"from":"sénder"`, 1),
		strings.Replace(body, `"from":"sender"`, "\"from\":\"sen\tder\"", 1),
		body + "x",
		body + "{}",
		"{}",
		"",
		"[" + body + "]",
	}
	return usual, other
}

// TestQuickEnvelopeJSON: the quick reader reads the usual spellings to what decodeStrict
// reads, and gives up on the others.
func TestQuickEnvelopeJSON(t *testing.T) {
	usual, other := quickBodies(t)
	for _, body := range usual {
		got, ok := quickEnvelopeWire(body)
		if !ok {
			t.Errorf("quick reader gave up on %q", body)
			continue
		}
		var want envelopeWire
		if err := decodeStrict([]byte(body), envelopeFields, &want); err != nil {
			t.Fatalf("decodeStrict refuses %q: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("quick %+v, strict %+v", got, want)
		}
		if from, ok := quickEnvelopeFrom(body); !ok || from != want.From {
			t.Errorf("from of %q: %q, %v", body, from, ok)
		}
	}
	for _, body := range other {
		if w, ok := quickEnvelopeWire(body); ok {
			t.Errorf("quick reader read %q to %+v; it must leave it to decodeStrict", body, w)
		}
	}
	if k, ok := quickEnvelopeKey(`{"room":"r","from":"f","kid":3,"key":"AAAAAAAAAAAAAAAAAAAAAA"}`); !ok ||
		k != (envelopeKey{Room: "r", From: "f", KID: 3, Key: "AAAAAAAAAAAAAAAAAAAAAA"}) {
		t.Errorf("key plaintext: %+v, %v", k, ok)
	}
	if _, ok := quickEnvelopeKey(`{"room":"r","from":"f","kid":3,"key":"k","key":"k"}`); ok {
		t.Error("quick reader read a repeated key")
	}
}

// TestEnvelopeSender names the sender of bodies in the usual spelling and in others, and
// refuses what names none.
func TestEnvelopeSender(t *testing.T) {
	r := newEnvRoom(t, 2)
	o := r.seal(t, KIDOf(senderTag, 1), randomKey(t))
	if from, err := EnvelopeSender(o); err != nil || from != "sender" {
		t.Fatalf("EnvelopeSender: %q, %v", from, err)
	}
	escaped := SignedObject{Body: strings.Replace(o.Body, `"from":"sender"`, `"from":"sen\u0064er"`, 1), Sig: o.Sig}
	if from, err := EnvelopeSender(escaped); err != nil || from != "sender" {
		t.Fatalf("EnvelopeSender of an escaped name: %q, %v", from, err)
	}
	for _, body := range []string{"", "{}", `{"from":1}`, strings.Repeat(" ", MaxEnvelopeBody+1)} {
		if _, err := EnvelopeSender(SignedObject{Body: body}); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("EnvelopeSender(%.20q): %v, want ErrBadEnvelope", body, err)
		}
	}
}

// FuzzEnvelopeJSONQuick: whatever the quick readers read, decodeStrict reads to the same
// values; and EnvelopeSender names the sender that ParseEnvelope reads.
func FuzzEnvelopeJSONQuick(f *testing.F) {
	usual, other := quickBodies(f)
	for _, b := range append(usual, other...) {
		f.Add(b)
	}
	f.Add(`{"room":"r","from":"f","kid":3,"key":"AAAAAAAAAAAAAAAAAAAAAA"}`)
	f.Fuzz(func(t *testing.T, text string) {
		if w, ok := quickEnvelopeWire(text); ok {
			var want envelopeWire
			if err := decodeStrict([]byte(text), envelopeFields, &want); err != nil {
				t.Fatalf("quick read %q, decodeStrict refuses it: %v", text, err)
			}
			if !reflect.DeepEqual(w, want) {
				t.Fatalf("%q: quick %+v, strict %+v", text, w, want)
			}
		}
		if k, ok := quickEnvelopeKey(text); ok {
			var want envelopeKey
			if err := decodeStrict([]byte(text), envelopeKeyFields, &want); err != nil || k != want {
				t.Fatalf("%q: quick %+v, strict %+v (%v)", text, k, want, err)
			}
		}
		b, err := ParseEnvelope(SignedObject{Body: text})
		from, ferr := EnvelopeSender(SignedObject{Body: text})
		if err == nil && (ferr != nil || from != b.From) {
			t.Fatalf("%q: EnvelopeSender %q, %v; ParseEnvelope from %q", text, from, ferr, b.From)
		}
		if ferr != nil && !errors.Is(ferr, ErrBadEnvelope) {
			t.Fatalf("EnvelopeSender error %v does not wrap ErrBadEnvelope", ferr)
		}
	})
}

// BenchmarkParseEnvelope50 reads the body of a 50-recipient envelope, quickly and with
// decodeStrict.
func BenchmarkParseEnvelope50(b *testing.B) {
	r := newEnvRoom(b, 50)
	for i := range r.to {
		r.to[i].ID = fmt.Sprintf("%016d", i)
	}
	o := r.seal(b, KIDOf(senderTag, 1), randomKey(b))
	b.Run("quick", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseEnvelope(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		for b.Loop() {
			var w envelopeWire
			if err := decodeStrict([]byte(o.Body), envelopeFields, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
