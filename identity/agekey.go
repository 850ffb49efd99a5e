package identity

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// age's X25519 recipient type, done with crypto/ecdh keys that are parsed once. Key
// envelopes are sealed to every participant of a room and opened by every one of them, so
// this is the hot path of a rekey: age's own X25519 types compute a public key from the
// private scalar on every wrap and unwrap; these keep it. The stanza is age's, byte for byte
// (age-encryption.org/v1, "The X25519 recipient type"), so age and the browser's age library
// read what these write and the other way round:
//
//	-> X25519 <base64 of the ephemeral share, 32 bytes>
//	<base64 of ChaCha20-Poly1305(wrap key, zero nonce, file key): 16 + 16 bytes>
//
//	wrap key = HKDF-SHA256(ikm = X25519(eph, recipient), salt = share || recipient,
//	                       info = "age-encryption.org/v1/X25519")

const (
	ageX25519Type   = "X25519"
	ageX25519Label  = "age-encryption.org/v1/X25519"
	ageRecipientHRP = "age"
	ageSecretHRP    = "AGE-SECRET-KEY-"
	ageFileKeySize  = 16
)

// ageIdentity is a participant's age X25519 identity.
type ageIdentity struct {
	priv *ecdh.PrivateKey
	pub  []byte // the recipient's 32 bytes
}

func generateAgeIdentity() (*ageIdentity, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate X25519 key: %w", err)
	}
	return &ageIdentity{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// recipient spells the public key as age does: "age1…".
func (a *ageIdentity) recipient() string { return bech32Encode(ageRecipientHRP, a.pub) }

// secret spells the private key as age does: "AGE-SECRET-KEY-1…" (tests give it to age).
func (a *ageIdentity) secret() string {
	s := bech32Encode(ageSecretHRP, a.priv.Bytes())
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Unwrap implements age.Identity: it returns the file key of the first X25519 stanza that
// opens with this key, age.ErrIncorrectIdentity if none does, or an error for a malformed
// X25519 stanza.
func (a *ageIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		key, err := a.unwrap(s)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		return key, err
	}
	return nil, age.ErrIncorrectIdentity
}

func (a *ageIdentity) unwrap(s *age.Stanza) ([]byte, error) {
	if s.Type != ageX25519Type {
		return nil, age.ErrIncorrectIdentity
	}
	if len(s.Args) != 1 {
		return nil, errors.New("invalid X25519 recipient block: want one argument")
	}
	share, err := base64.RawStdEncoding.Strict().DecodeString(s.Args[0])
	if err != nil || len(share) != 32 {
		return nil, errors.New("invalid X25519 recipient block: bad ephemeral share")
	}
	return a.unwrapShare(share, s.Body)
}

// unwrapShare opens the body of an X25519 stanza whose ephemeral share is share (32 bytes).
func (a *ageIdentity) unwrapShare(share, body []byte) ([]byte, error) {
	if len(body) != ageFileKeySize+chacha20poly1305.Overhead {
		return nil, errors.New("invalid X25519 recipient block: bad body size")
	}
	peer, err := ecdh.X25519().NewPublicKey(share)
	if err != nil {
		return nil, errors.New("invalid X25519 recipient block: bad ephemeral share")
	}
	shared, err := a.priv.ECDH(peer)
	if err != nil {
		return nil, errors.New("invalid X25519 recipient block: low-order share")
	}
	aead, err := wrapAEAD(shared, share, a.pub)
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), body, nil)
	if err != nil {
		return nil, age.ErrIncorrectIdentity
	}
	return key, nil
}

// ageRecipient is a parsed age X25519 recipient.
type ageRecipient struct {
	pub *ecdh.PublicKey
	raw []byte
}

// parseAgeRecipient reads an "age1…" recipient in its canonical lower-case spelling.
func parseAgeRecipient(s string) (*ageRecipient, error) {
	if len(s) > maxAgeRecipientLen {
		return nil, fmt.Errorf("%d bytes is too long for an age recipient", len(s))
	}
	hrp, data, err := bech32Decode(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("malformed age recipient: %w", err)
	case hrp != ageRecipientHRP:
		return nil, fmt.Errorf("malformed age recipient: prefix %q, want %q", hrp, ageRecipientHRP)
	case len(data) != 32:
		return nil, fmt.Errorf("malformed age recipient: %d bytes of key, want 32", len(data))
	case bech32Encode(hrp, data) != s:
		return nil, errors.New("age recipient is not in its canonical lower-case spelling")
	}
	pub, err := ecdh.X25519().NewPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("malformed age recipient: %w", err)
	}
	return &ageRecipient{pub: pub, raw: data}, nil
}

// Wrap implements age.Recipient: one X25519 stanza carrying fileKey to r.
func (r *ageRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("X25519 wrap: %w", err)
	}
	shared, err := eph.ECDH(r.pub)
	if err != nil {
		return nil, fmt.Errorf("X25519 wrap: %w", err)
	}
	share := eph.PublicKey().Bytes()
	aead, err := wrapAEAD(shared, share, r.raw)
	if err != nil {
		return nil, err
	}
	return []*age.Stanza{{
		Type: ageX25519Type,
		Args: []string{base64.RawStdEncoding.EncodeToString(share)},
		Body: aead.Seal(nil, make([]byte, chacha20poly1305.NonceSize), fileKey, nil),
	}}, nil
}

// wrapAEAD derives the stanza's wrap key and returns its AEAD.
func wrapAEAD(shared, share, recipient []byte) (cipher.AEAD, error) {
	salt := make([]byte, 0, len(share)+len(recipient))
	salt = append(append(salt, share...), recipient...)
	key, err := hkdf.Key(sha256.New, shared, salt, ageX25519Label, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("X25519 wrap key: %w", err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("X25519 wrap key: %w", err)
	}
	return aead, nil
}
