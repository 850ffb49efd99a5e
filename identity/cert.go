package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CertificateLifetime is how long a certificate is valid after it is issued.
const CertificateLifetime = 12 * time.Hour

// certClockSkew is how far in the future a certificate's iat may be: a client accepts it
// from iat-60 s.
const certClockSkew = 60

// Limits on certificate fields.
const (
	MaxIDLen   = 64  // bytes of a participant or room id, [A-Za-z0-9_-]
	MaxNameLen = 64  // runes of a display name
	MaxOrgLen  = 200 // bytes of an organisation (a node's name)
	MaxIssLen  = 200 // bytes of an identity provider's issuer
	MaxSubLen  = 255 // bytes of a subject at the identity provider
	MaxMailLen = 254 // bytes of an e-mail address
)

// ErrBadCertificate is wrapped by every error of VerifyCertificate.
var ErrBadCertificate = errors.New("bad certificate")

// CertBody is what a home node vouches for: that the participant id, with sender tag Tag and
// display name Name, holds the keys SigPub and Age in room Room, from IAT to EXP (unix
// seconds), and, for a person it signed in (V 2), who they are at its identity provider.
// Its JSON is the certificate body of the package documentation:
//
//	{"v":1,"id":"…","tag":7,"name":"Ada","org":"Example","node":"<b64u>","room":"…",
//	 "sig_pub":"<b64u>","age":"age1…","iat":1700000000,"exp":1700043200}
type CertBody struct {
	V      int
	ID     string
	Tag    uint32
	Name   string
	Org    string
	Node   ed25519.PublicKey
	Room   string
	SigPub ed25519.PublicKey
	Age    string
	IAT    int64
	EXP    int64
	// Version 2 only: the identity provider's issuer, the person's subject there and e-mail.
	Issuer  string
	Subject string
	Email   string
}

// AgentIssuer is the issuer a node puts in the certificate of an agent it runs itself (the
// meeting's transcriber) in place of an identity provider's.
const AgentIssuer = "urn:parley:agent"

// Verified reports whether the body vouches for a signed-in person (version 2, not an
// agent).
func (b *CertBody) Verified() bool { return b.V == 2 && b.Issuer != AgentIssuer }

// Agent reports whether the body is that of an agent the node runs (the transcriber).
func (b *CertBody) Agent() bool { return b.V == 2 && b.Issuer == AgentIssuer }

// certWire is CertBody as it is spelled in JSON.
type certWire struct {
	V      int    `json:"v"`
	ID     string `json:"id"`
	Tag    uint32 `json:"tag"`
	Name   string `json:"name"`
	Org    string `json:"org"`
	Node   string `json:"node"`
	Room   string `json:"room"`
	SigPub string `json:"sig_pub"`
	Age    string `json:"age"`
	IAT    int64  `json:"iat"`
	EXP    int64  `json:"exp"`
	Iss    string `json:"iss,omitempty"`
	Sub    string `json:"sub,omitempty"`
	Email  string `json:"email,omitzero"`
}

// certIdentity is certWire's version 2 form, whose email is present even when empty.
type certIdentity struct {
	certWire
	Email string `json:"email"`
}

var (
	certFields   = []string{"v", "id", "tag", "name", "org", "node", "room", "sig_pub", "age", "iat", "exp"}
	certFieldsV2 = append(slices.Clone(certFields), "iss", "sub", "email")
)

// MarshalJSON writes the body in the wire format, without checking it.
func (b CertBody) MarshalJSON() ([]byte, error) {
	w := certWire{
		V: b.V, ID: b.ID, Tag: b.Tag, Name: b.Name, Org: b.Org, Node: encodeB64u(b.Node),
		Room: b.Room, SigPub: encodeB64u(b.SigPub), Age: b.Age, IAT: b.IAT, EXP: b.EXP,
	}
	if b.V != 2 {
		return marshalBody(w)
	}
	w.Iss, w.Sub = b.Issuer, b.Subject
	return marshalBody(certIdentity{certWire: w, Email: b.Email})
}

// UnmarshalJSON reads a body strictly (see the package documentation) and checks every
// field's form; it does not check a signature, a room or the time.
func (b *CertBody) UnmarshalJSON(data []byte) error {
	if len(data) > MaxBody {
		return fmt.Errorf("certificate body is %d bytes, limit %d", len(data), MaxBody)
	}
	// The version says which fields there must be; the strict decoding checks the rest (a
	// repeated "v" among them).
	var ver struct {
		V int `json:"v"`
	}
	fields := certFields
	if json.Unmarshal(data, &ver) == nil && ver.V == 2 {
		fields = certFieldsV2
	}
	var w certIdentity
	if err := decodeStrict(data, fields, &w); err != nil {
		return err
	}
	node, err := parseSigPub(w.Node)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	sigPub, err := parseSigPub(w.SigPub)
	if err != nil {
		return fmt.Errorf("sig_pub: %w", err)
	}
	c := CertBody{
		V: w.V, ID: w.ID, Tag: w.Tag, Name: w.Name, Org: w.Org, Node: node, Room: w.Room,
		SigPub: sigPub, Age: w.Age, IAT: w.IAT, EXP: w.EXP,
		Issuer: w.Iss, Subject: w.Sub, Email: w.Email,
	}
	if err := c.validate(); err != nil {
		return err
	}
	*b = c
	return nil
}

// validate checks the form of every field: version 1, ids of [A-Za-z0-9_-]{1,64}, a name of
// 1 to 64 runes and an org of 1 to 200 bytes, neither blank nor with control characters,
// 32-byte keys, a canonical age X25519 recipient, and 0 < exp-iat <= CertificateLifetime.
func (b *CertBody) validate() error {
	switch b.V {
	case 1:
		if b.Issuer != "" || b.Subject != "" || b.Email != "" {
			return errors.New("version 1 names no identity provider account")
		}
	case 2:
		if err := checkText("iss", b.Issuer, MaxIssLen, len(b.Issuer)); err != nil {
			return err
		}
		if err := checkText("sub", b.Subject, MaxSubLen, len(b.Subject)); err != nil {
			return err
		}
		if b.Email != "" {
			if err := checkText("email", b.Email, MaxMailLen, len(b.Email)); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("version %d, want 1 or 2", b.V)
	}
	if err := checkID("id", b.ID); err != nil {
		return err
	}
	if err := checkID("room", b.Room); err != nil {
		return err
	}
	if err := checkText("name", b.Name, MaxNameLen, utf8.RuneCountInString(b.Name)); err != nil {
		return err
	}
	if err := checkText("org", b.Org, MaxOrgLen, len(b.Org)); err != nil {
		return err
	}
	if len(b.Node) != ed25519.PublicKeySize {
		return fmt.Errorf("node key is %d bytes, want %d", len(b.Node), ed25519.PublicKeySize)
	}
	if len(b.SigPub) != ed25519.PublicKeySize {
		return fmt.Errorf("sig_pub is %d bytes, want %d", len(b.SigPub), ed25519.PublicKeySize)
	}
	if err := checkAgeRecipient(b.Age); err != nil {
		return fmt.Errorf("age: %w", err)
	}
	if b.IAT <= 0 || b.EXP <= b.IAT || b.EXP-b.IAT > int64(CertificateLifetime/time.Second) {
		return fmt.Errorf("iat %d and exp %d: want 0 < iat < exp <= iat+%d", b.IAT, b.EXP, int64(CertificateLifetime/time.Second))
	}
	return nil
}

// IssueCertificate signs b with the node key. b.V 0 means 1, or 2 when b names a subject; and a nil b.Node means the node
// key's public key; any other node key is an error. The caller sets IAT and EXP, at most
// CertificateLifetime apart.
func IssueCertificate(nk *NodeKey, b CertBody) (SignedObject, error) {
	if b.V == 0 {
		b.V = 1
		if b.Subject != "" {
			b.V = 2
		}
	}
	if b.Node == nil {
		b.Node = nk.PublicKey()
	}
	if !b.Node.Equal(nk.PublicKey()) {
		return SignedObject{}, errors.New("identity: certificate names another node key than the issuer's")
	}
	if err := b.validate(); err != nil {
		return SignedObject{}, fmt.Errorf("identity: issue certificate: %w", err)
	}
	body, err := b.MarshalJSON()
	if err != nil {
		return SignedObject{}, fmt.Errorf("identity: issue certificate: %w", err)
	}
	if len(body) > MaxBody {
		return SignedObject{}, fmt.Errorf("identity: issue certificate: body is %d bytes, limit %d", len(body), MaxBody)
	}
	return signObject(nk.PrivateKey(), CertificatePrefix, body), nil
}

// VerifyCertificate accepts a certificate only if its body is well formed, its node is one
// that trusted accepts, the node's signature verifies, it is for room, and
// iat-60 <= now <= exp (unix seconds). Every error wraps ErrBadCertificate; a failed
// signature also wraps ErrBadSignature.
//
// The body names the key that signed it, so it is parsed (strictly, and bounded by MaxBody)
// before the signature is checked.
func VerifyCertificate(o SignedObject, trusted func(node ed25519.PublicKey) bool, room string, now time.Time) (*CertBody, error) {
	if len(o.Body) > MaxBody {
		return nil, fmt.Errorf("identity: %w: body is %d bytes, limit %d", ErrBadCertificate, len(o.Body), MaxBody)
	}
	var b CertBody
	if err := b.UnmarshalJSON([]byte(o.Body)); err != nil {
		return nil, fmt.Errorf("identity: %w: %v", ErrBadCertificate, err)
	}
	if trusted == nil || !trusted(b.Node) {
		return nil, fmt.Errorf("identity: %w: issued by node %s, which is not trusted", ErrBadCertificate, encodeB64u(b.Node))
	}
	if err := o.Verify(CertificatePrefix, b.Node); err != nil {
		return nil, fmt.Errorf("identity: %w: %w", ErrBadCertificate, err)
	}
	if b.Room != room {
		return nil, fmt.Errorf("identity: %w: it is for room %q, not %q", ErrBadCertificate, b.Room, room)
	}
	t := now.Unix()
	if t < b.IAT-certClockSkew {
		return nil, fmt.Errorf("identity: %w: not valid before %s", ErrBadCertificate, time.Unix(b.IAT-certClockSkew, 0).UTC().Format(time.RFC3339))
	}
	if t > b.EXP {
		return nil, fmt.Errorf("identity: %w: expired at %s", ErrBadCertificate, time.Unix(b.EXP, 0).UTC().Format(time.RFC3339))
	}
	return &b, nil
}

// checkID accepts 1 to MaxIDLen bytes of [A-Za-z0-9_-].
func checkID(field, s string) error {
	if s == "" || len(s) > MaxIDLen {
		return fmt.Errorf("%s must be 1 to %d characters of A-Z a-z 0-9 _ -", field, MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q has a character other than A-Z a-z 0-9 _ -", field, s)
		}
	}
	return nil
}

// checkText accepts valid UTF-8 of length 1..limit (n, counted by the caller) that is not
// blank and has no control characters.
func checkText(field, s string, limit, n int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if strings.TrimSpace(s) == "" || n > limit {
		return fmt.Errorf("%s must be 1 to %d characters and not blank", field, limit)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%s contains a control character", field)
	}
	return nil
}

// marshalBody encodes a wire struct as compact JSON without HTML escaping.
func marshalBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
