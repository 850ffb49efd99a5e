package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"filippo.io/age"
)

// MaxRecipients is the limit on the recipients of one key envelope (age's own limit on the
// recipient stanzas of one message).
const MaxRecipients = 1024

// maxEnvelopePlaintext bounds the decrypted inner JSON; the longest valid one (64-byte ids,
// a 15-digit KID) is about 200 bytes.
const maxEnvelopePlaintext = 512

var (
	// ErrNotForMe is returned by OpenKeyEnvelope for a valid envelope that is not addressed
	// to the identity trying to open it.
	ErrNotForMe = errors.New("key envelope is not addressed to this identity")
	// ErrBadEnvelope is wrapped by every other error of ParseEnvelope, OpenKeyEnvelope and
	// VerifyEnvelopeSignature; a failed signature also wraps ErrBadSignature.
	ErrBadEnvelope = errors.New("bad key envelope")
)

// EnvelopeBody is the signed, public part of a key envelope: who sends which KID to whom in
// which room. Age holds the binary age message that only the recipients can open. Its JSON:
//
//	{"v":1,"room":"…","from":"<participant id>","kid":458752,"to":["<id>",…],
//	 "age":"<standard base64 of the binary age message>","iat_ms":1700000000000}
//
// The age message's plaintext, which must repeat room, from and kid:
//
//	{"room":"…","from":"…","kid":458752,"key":"<b64u 16-byte base key>"}
type EnvelopeBody struct {
	V     int
	Room  string
	From  string
	KID   uint64
	To    []string
	Age   []byte
	IATms int64
}

// envelopeWire is EnvelopeBody as it is spelled in JSON.
type envelopeWire struct {
	V     int      `json:"v"`
	Room  string   `json:"room"`
	From  string   `json:"from"`
	KID   uint64   `json:"kid"`
	To    []string `json:"to"`
	Age   string   `json:"age"`
	IATms int64    `json:"iat_ms"`
}

var envelopeFields = []string{"v", "room", "from", "kid", "to", "age", "iat_ms"}

// envelopeKey is the age message's plaintext.
type envelopeKey struct {
	Room string `json:"room"`
	From string `json:"from"`
	KID  uint64 `json:"kid"`
	Key  string `json:"key"`
}

var envelopeKeyFields = []string{"room", "from", "kid", "key"}

// Recipient names a participant a key envelope is for: its id and the age recipient from
// its certificate.
type Recipient struct {
	ID  string
	Age string
}

// MarshalJSON writes the body in the wire format, without checking it.
func (b EnvelopeBody) MarshalJSON() ([]byte, error) {
	return marshalBody(envelopeWire{
		V: b.V, Room: b.Room, From: b.From, KID: b.KID, To: b.To,
		Age: base64.StdEncoding.EncodeToString(b.Age), IATms: b.IATms,
	})
}

// UnmarshalJSON reads a body strictly and checks every field's form: version 1, ids of
// [A-Za-z0-9_-]{1,64}, a KID below 2^48, 1 to MaxRecipients distinct recipients, a
// non-empty age message in canonical padded base64, iat_ms >= 0.
func (b *EnvelopeBody) UnmarshalJSON(data []byte) error {
	if len(data) > MaxEnvelopeBody {
		return fmt.Errorf("body is %d bytes, limit %d", len(data), MaxEnvelopeBody)
	}
	return b.parse(string(data))
}

// parse is UnmarshalJSON of a body no longer than MaxEnvelopeBody.
func (b *EnvelopeBody) parse(body string) error {
	w, ok := quickEnvelopeWire(body)
	if !ok {
		if err := decodeStrict([]byte(body), envelopeFields, &w); err != nil {
			return err
		}
	}
	// Strict decoding refuses every character outside the alphabet and padding but skips CR
	// and LF; with none of those, the one encoding of a message is as long as the length
	// checked here.
	msg, err := base64.StdEncoding.Strict().DecodeString(w.Age)
	if err != nil || len(msg) == 0 || base64.StdEncoding.EncodedLen(len(msg)) != len(w.Age) {
		return errors.New("age is not a non-empty message in canonical standard base64")
	}
	e := EnvelopeBody{V: w.V, Room: w.Room, From: w.From, KID: w.KID, To: w.To, Age: msg, IATms: w.IATms}
	if err := e.validate(); err != nil {
		return err
	}
	*b = e
	return nil
}

func (b *EnvelopeBody) validate() error {
	if b.V != 1 {
		return fmt.Errorf("version %d, want 1", b.V)
	}
	if err := checkID("room", b.Room); err != nil {
		return err
	}
	if err := checkID("from", b.From); err != nil {
		return err
	}
	if b.KID > MaxKID {
		return fmt.Errorf("kid %d is over 2^48-1", b.KID)
	}
	if len(b.To) == 0 || len(b.To) > MaxRecipients {
		return fmt.Errorf("%d recipients, want 1 to %d", len(b.To), MaxRecipients)
	}
	seen := make(map[string]struct{}, len(b.To))
	for _, id := range b.To {
		if err := checkID("recipient", id); err != nil {
			return err
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("recipient %q is named twice", id)
		}
		seen[id] = struct{}{}
	}
	if b.IATms < 0 {
		return fmt.Errorf("iat_ms %d is negative", b.IATms)
	}
	return nil
}

// SealKeyEnvelope makes the envelope that announces the sender's base key for kid to the
// recipients in to: one age message to all their age recipients, signed with the sender's
// signing key. from is the sender's participant id, now the time it is sent.
func SealKeyEnvelope(sender *UserIdentity, room, from string, kid uint64, baseKey []byte, to []Recipient, now time.Time) (SignedObject, error) {
	if len(baseKey) != BaseKeySize {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: base key is %d bytes, want %d", len(baseKey), BaseKeySize)
	}
	b := EnvelopeBody{V: 1, Room: room, From: from, KID: kid, To: make([]string, len(to)), IATms: now.UnixMilli()}
	recips := make([]age.Recipient, len(to))
	for i, r := range to {
		b.To[i] = r.ID
		rcpt, err := parseAgeRecipient(r.Age)
		if err != nil {
			return SignedObject{}, fmt.Errorf("identity: seal key envelope: recipient %q: %w", r.ID, err)
		}
		recips[i] = rcpt
	}
	if err := b.validate(); err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	inner, err := marshalBody(envelopeKey{Room: room, From: from, KID: kid, Key: encodeB64u(baseKey)})
	if err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	var msg bytes.Buffer
	w, err := age.Encrypt(&msg, recips...)
	if err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	if _, err := w.Write(inner); err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	if err := w.Close(); err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	b.Age = msg.Bytes()
	body, err := b.MarshalJSON()
	if err != nil {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: %w", err)
	}
	if len(body) > MaxEnvelopeBody {
		return SignedObject{}, fmt.Errorf("identity: seal key envelope: body is %d bytes, limit %d", len(body), MaxEnvelopeBody)
	}
	return sender.sign(EnvelopePrefix, body), nil
}

// ParseEnvelope reads an envelope's body strictly WITHOUT checking its signature, so that it
// can be routed (by to) or matched to its sender's certificate (by from). Nothing in it may
// be trusted before VerifyEnvelopeSignature or OpenKeyEnvelope. Every error wraps
// ErrBadEnvelope.
func ParseEnvelope(o SignedObject) (*EnvelopeBody, error) {
	if len(o.Body) > MaxEnvelopeBody {
		return nil, fmt.Errorf("identity: %w: body is %d bytes, limit %d", ErrBadEnvelope, len(o.Body), MaxEnvelopeBody)
	}
	var b EnvelopeBody
	if err := b.parse(o.Body); err != nil {
		return nil, fmt.Errorf("identity: %w: %v", ErrBadEnvelope, err)
	}
	return &b, nil
}

// EnvelopeSender names the participant an envelope says it is from, so that a receiver can
// pick the certificate to open it with (OpenKeyEnvelopeAs) before anything else of the body
// is read: in the usual spelling it reads the body only up to its "from" member; otherwise
// it parses the body as ParseEnvelope does. The name is not checked and is not to be trusted
// until OpenKeyEnvelopeAs accepts the envelope with that participant's certificate. Errors
// wrap ErrBadEnvelope.
func EnvelopeSender(o SignedObject) (string, error) {
	if len(o.Body) > MaxEnvelopeBody {
		return "", fmt.Errorf("identity: %w: body is %d bytes, limit %d", ErrBadEnvelope, len(o.Body), MaxEnvelopeBody)
	}
	if from, ok := quickEnvelopeFrom(o.Body); ok {
		return from, nil
	}
	b, err := ParseEnvelope(o)
	if err != nil {
		return "", err
	}
	return b.From, nil
}

// VerifyEnvelopeSignature checks only that o is signed by sigPub as a key envelope; a node
// uses it to refuse envelopes in someone else's name. Errors wrap ErrBadEnvelope and
// ErrBadSignature.
func VerifyEnvelopeSignature(o SignedObject, sigPub ed25519.PublicKey) error {
	if err := o.Verify(EnvelopePrefix, sigPub); err != nil {
		return fmt.Errorf("identity: %w: %w", ErrBadEnvelope, err)
	}
	return nil
}

// OpenKeyEnvelope checks an envelope from the participant whose (already verified)
// certificate is sender and returns the key it carries for me. It accepts the envelope only
// if the signature verifies with sender's sig_pub, the body is well formed, room is the body's
// and the certificate's room, from is the certificate's id, kid>>16 is its tag, and the age
// message opens with me's identity to a plaintext that repeats room, from and kid and holds
// a 16-byte key. A signed envelope that me cannot open yields ErrNotForMe (a damaged age
// stanza for me looks the same as none); every other error wraps ErrBadEnvelope.
func OpenKeyEnvelope(o SignedObject, sender *CertBody, me *UserIdentity, room string) (kid uint64, baseKey []byte, err error) {
	return OpenKeyEnvelopeAs(o, sender, me, "", room)
}

// OpenKeyEnvelopeAs is OpenKeyEnvelope for the participant myID: it first tries only the age
// stanza at myID's place in the envelope's "to" (SealKeyEnvelope writes one stanza per
// recipient, in that order), which costs one X25519 operation instead of one per recipient,
// and falls back to trying every stanza.
func OpenKeyEnvelopeAs(o SignedObject, sender *CertBody, me *UserIdentity, myID, room string) (kid uint64, baseKey []byte, err error) {
	if sender == nil || me == nil {
		return 0, nil, fmt.Errorf("identity: %w: no sender certificate or no identity", ErrBadEnvelope)
	}
	if err := VerifyEnvelopeSignature(o, sender.SigPub); err != nil {
		return 0, nil, err
	}
	b, err := ParseEnvelope(o)
	if err != nil {
		return 0, nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("identity: %w: "+format, append([]any{ErrBadEnvelope}, args...)...)
	}
	switch {
	case b.Room != room:
		return 0, nil, bad("it is for room %q, not %q", b.Room, room)
	case sender.Room != room:
		return 0, nil, bad("the sender's certificate is for room %q, not %q", sender.Room, room)
	case b.From != sender.ID:
		return 0, nil, bad("it is from %q, but the certificate is %q's", b.From, sender.ID)
	}
	if tag, _ := SplitKID(b.KID); tag != sender.Tag {
		return 0, nil, bad("kid %d has tag %d, the sender's is %d", b.KID, tag, sender.Tag)
	}
	place := -1
	if myID != "" {
		place = slices.Index(b.To, myID)
	}
	plain, err := openEnvelopeAge(b, me.age, place)
	if err != nil {
		return 0, nil, err
	}
	k, ok := quickEnvelopeKey(string(plain))
	if !ok {
		if err := decodeStrict(plain, envelopeKeyFields, &k); err != nil {
			return 0, nil, bad("plaintext: %v", err)
		}
	}
	if k.Room != b.Room || k.From != b.From || k.KID != b.KID {
		return 0, nil, bad("plaintext names room %q, from %q, kid %d; the body %q, %q, %d",
			k.Room, k.From, k.KID, b.Room, b.From, b.KID)
	}
	key, err := decodeB64u(k.Key, BaseKeySize)
	if err != nil {
		return 0, nil, bad("key: %v", err)
	}
	return b.KID, key, nil
}

// openEnvelopeAge decrypts the age message of b with id, whose stanza is at place in "to"
// (-1: not named there): with the quick reader if it can, else with age.
func openEnvelopeAge(b *EnvelopeBody, id *ageIdentity, place int) ([]byte, error) {
	if place >= 0 {
		if plain, ok := id.openAt(b.Age, place, maxEnvelopePlaintext); ok {
			return plain, nil
		}
	}
	var ident age.Identity = id
	if place >= 0 {
		ident = stanzaFirst{id, place}
	}
	r, err := age.Decrypt(bytes.NewReader(b.Age), ident)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return nil, fmt.Errorf("identity: kid %d from %s: %w", b.KID, b.From, ErrNotForMe)
		}
		return nil, fmt.Errorf("identity: %w: age: %v", ErrBadEnvelope, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxEnvelopePlaintext+1))
	if err != nil {
		return nil, fmt.Errorf("identity: %w: age: %v", ErrBadEnvelope, err)
	}
	if len(plain) > maxEnvelopePlaintext {
		return nil, fmt.Errorf("identity: %w: plaintext is over %d bytes", ErrBadEnvelope, maxEnvelopePlaintext)
	}
	return plain, nil
}

// stanzaFirst is an age identity that tries the stanza at index i before all of them.
type stanzaFirst struct {
	id *ageIdentity
	i  int
}

func (s stanzaFirst) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if s.i < len(stanzas) {
		key, err := s.id.Unwrap(stanzas[s.i : s.i+1])
		if err == nil || !errors.Is(err, age.ErrIncorrectIdentity) {
			return key, err
		}
	}
	return s.id.Unwrap(stanzas)
}
