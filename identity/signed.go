package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// Domain prefixes of signed objects: a signature made for one kind of object never verifies
// as another.
const (
	CertificatePrefix = "parley-cert-v1\n"
	EnvelopePrefix    = "parley-key-v1\n"
)

// Size limits of signed objects.
const (
	// MaxBody is the limit on the body of a signed object (certificates).
	MaxBody = 4096
	// MaxEnvelopeBody is the limit on the body of a key envelope, which holds one age
	// stanza (~130 bytes in base64) and one id per recipient: 1024 recipients with 64-byte
	// ids take about 210 KiB.
	MaxEnvelopeBody = 256 << 10
	// MaxSignedObject bounds the JSON text of a whole signed object read by
	// ParseSignedObject: an envelope body escaped as a JSON string (at most twice its size
	// for anything a JSON encoder writes) and the signature.
	MaxSignedObject = 2*MaxEnvelopeBody + 256
)

// ErrBadSignature is wrapped by every error of SignedObject.Verify: the object's signature is
// malformed or does not verify, or its body is over the size limit.
var ErrBadSignature = errors.New("bad signature")

// SignedObject is a body signed under a domain prefix:
//
//	{"body":"<JSON text>","sig":"<b64u Ed25519 signature of prefix || body>"}
//
// The signature covers the body's bytes exactly as transmitted, so the body travels as a
// string and is parsed only after the signature has been checked.
type SignedObject struct {
	Body string `json:"body"`
	Sig  string `json:"sig"`
}

// signObject signs body under prefix with priv.
func signObject(priv ed25519.PrivateKey, prefix string, body []byte) SignedObject {
	msg := make([]byte, 0, len(prefix)+len(body))
	msg = append(append(msg, prefix...), body...)
	return SignedObject{Body: string(body), Sig: encodeB64u(ed25519.Sign(priv, msg))}
}

// maxBodyFor is the body limit of signed objects under prefix.
func maxBodyFor(prefix string) int {
	if prefix == EnvelopePrefix {
		return MaxEnvelopeBody
	}
	return MaxBody
}

// Verify checks that o is signed by pub under prefix. The body may be at most MaxBody bytes
// (MaxEnvelopeBody under EnvelopePrefix) and the signature must be 64 bytes in canonical
// b64u. Every error wraps ErrBadSignature.
func (o SignedObject) Verify(prefix string, pub ed25519.PublicKey) error {
	if limit := maxBodyFor(prefix); len(o.Body) > limit {
		return fmt.Errorf("identity: %w: body is %d bytes, limit %d", ErrBadSignature, len(o.Body), limit)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("identity: %w: public key is %d bytes", ErrBadSignature, len(pub))
	}
	sig, err := decodeB64u(o.Sig, ed25519.SignatureSize)
	if err != nil {
		return fmt.Errorf("identity: %w: sig: %v", ErrBadSignature, err)
	}
	msg := make([]byte, 0, len(prefix)+len(o.Body))
	msg = append(append(msg, prefix...), o.Body...)
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("identity: %w: signature does not verify", ErrBadSignature)
	}
	return nil
}

// ParseSignedObject reads the JSON text of a signed object strictly: exactly the members
// body and sig, no trailing data, at most MaxSignedObject bytes. It does not verify.
func ParseSignedObject(data []byte) (SignedObject, error) {
	if len(data) > MaxSignedObject {
		return SignedObject{}, fmt.Errorf("identity: signed object is %d bytes, limit %d", len(data), MaxSignedObject)
	}
	var o SignedObject
	if err := decodeStrict(data, []string{"body", "sig"}, &o); err != nil {
		return SignedObject{}, fmt.Errorf("identity: signed object: %w", err)
	}
	return o, nil
}

// decodeStrict parses data, one JSON object, into v (a pointer to a struct whose JSON names
// are fields). It refuses invalid UTF-8, a member not named exactly as one of fields, a
// repeated, missing or null member, and anything after the object.
func decodeStrict(data []byte, fields []string, v any) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := make([]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		i := slices.Index(fields, name)
		if i < 0 {
			return fmt.Errorf("unknown field %q", name)
		}
		if seen[i] {
			return fmt.Errorf("field %q appears twice", name)
		}
		seen[i] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if string(raw) == "null" {
			return fmt.Errorf("field %q is null", name)
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("missing field %q", fields[i])
		}
	}
	// Every member name is now exactly one of fields, so json's case-insensitive matching
	// cannot pick a different one.
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
