package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"filippo.io/age"
)

// maxAgeRecipientLen bounds an age recipient string before it is parsed; an X25519 recipient
// is 62 characters ("age1" and 58 of Bech32).
const maxAgeRecipientLen = 100

// UserIdentity is a participant's key pair: an Ed25519 key that signs its key envelopes and
// an age X25519 identity that opens the envelopes addressed to it. It lives only in the
// participant's client; its public half is what the home node certifies.
type UserIdentity struct {
	sig ed25519.PrivateKey
	age *ageIdentity
}

// GenerateUserIdentity makes a new random participant identity.
func GenerateUserIdentity() (*UserIdentity, error) {
	_, sig, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate signing key: %w", err)
	}
	a, err := generateAgeIdentity()
	if err != nil {
		return nil, fmt.Errorf("identity: generate age identity: %w", err)
	}
	return &UserIdentity{sig: sig, age: a}, nil
}

// SigPub is the participant's Ed25519 public key.
func (u *UserIdentity) SigPub() ed25519.PublicKey { return u.sig.Public().(ed25519.PublicKey) }

// AgeRecipient is the participant's age X25519 recipient ("age1…").
func (u *UserIdentity) AgeRecipient() string { return u.age.recipient() }

// AgeIdentity opens age files sealed to AgeRecipient (a transcript sealed to the
// moderators, say).
func (u *UserIdentity) AgeIdentity() age.Identity { return u.age }

// Public is what the participant sends in join for its node to certify.
func (u *UserIdentity) Public() PublicIdentity {
	return PublicIdentity{SigPub: u.SigPub(), Age: u.AgeRecipient()}
}

// sign makes a signed object of body under the domain prefix.
func (u *UserIdentity) sign(prefix string, body []byte) SignedObject {
	return signObject(u.sig, prefix, body)
}

// PublicIdentity is the public half of a UserIdentity.
type PublicIdentity struct {
	SigPub ed25519.PublicKey
	Age    string // age X25519 recipient, "age1…"
}

// ParsePublicIdentity reads the public keys a client sends in join: sigPubB64u is a raw
// 32-byte Ed25519 public key in b64u, ageRecipient an age X25519 recipient in its canonical
// (lower case) spelling. Anything else is an error.
func ParsePublicIdentity(sigPubB64u, ageRecipient string) (PublicIdentity, error) {
	pub, err := parseSigPub(sigPubB64u)
	if err != nil {
		return PublicIdentity{}, fmt.Errorf("identity: sig_pub: %w", err)
	}
	if err := checkAgeRecipient(ageRecipient); err != nil {
		return PublicIdentity{}, fmt.Errorf("identity: age: %w", err)
	}
	return PublicIdentity{SigPub: pub, Age: ageRecipient}, nil
}

// parseSigPub decodes a b64u Ed25519 public key.
func parseSigPub(s string) (ed25519.PublicKey, error) {
	b, err := decodeB64u(s, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}

// checkAgeRecipient accepts exactly the canonical spelling of an age X25519 recipient.
func checkAgeRecipient(s string) error {
	_, err := parseAgeRecipient(s)
	return err
}

// decodeB64u decodes s, which must be the canonical unpadded base64url encoding of exactly
// size bytes.
func decodeB64u(s string, size int) ([]byte, error) {
	if base64.RawURLEncoding.EncodedLen(size) != len(s) {
		return nil, fmt.Errorf("want %d bytes in b64u (%d characters), got %d characters",
			size, base64.RawURLEncoding.EncodedLen(size), len(s))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != size {
		return nil, errors.New("not canonical unpadded base64url")
	}
	return b, nil
}

func encodeB64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
