package federation

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// An invite is one line of text an administrator copies from the inviting node to the
// joining one:
//
//	parley-invite-v1.<base32( body || checksum )>
//
// base32 is RFC 4648 in lowercase without padding (a-z, 2-7: one word to double-click);
// checksum is the first 4 bytes of SHA-256(body), so a mangled paste is caught before any
// network traffic; body is the canonical JSON
//
//	{"v":1,"peer":"12D3KooW…","addrs":["/ip4/…",…],"url":"https://a.example:8443",
//	 "tls":"<hex SHA-256 of the inviter's TLS certificate, DER>","secret":"<b64u 32 bytes>",
//	 "exp":<unix seconds>}
//
// The joiner redeems it over HTTPS at url, accepting only a server certificate whose SHA-256
// is tls (an https url requires it; an empty tls is allowed only with http on a loopback
// host). The inviter keeps only SHA-256(secret) and its expiry, and forgets both when the
// invite is redeemed.

// InvitePrefix starts every invite.
const InvitePrefix = "parley-invite-v1."

const (
	maxInviteLen = 8 << 10
	secretLen    = 32
	checksumLen  = 4
)

var inviteEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Errors of invites, for errors.Is.
var (
	// ErrBadInvite: the text is not an invite (prefix, encoding, checksum or content).
	ErrBadInvite = errors.New("not a valid invite")
	// ErrInviteExpired: the invite's expiry has passed.
	ErrInviteExpired = errors.New("invite has expired")
	// ErrInviteRefused: the inviting node refused the invite (unknown, used or expired secret).
	ErrInviteRefused = errors.New("invite refused by the inviting node")
)

// Invite is the content of an invite.
type Invite struct {
	Peer           peer.ID  // the inviting node
	Addrs          []string // its libp2p addresses
	URL            string   // its HTTP(S) base URL
	TLSFingerprint []byte   // SHA-256 of its TLS certificate (DER); nil with plain HTTP on loopback
	Secret         []byte   // one-time secret, 32 bytes
	Expires        time.Time
}

type inviteBody struct {
	V      int      `json:"v"`
	Peer   peer.ID  `json:"peer"`
	Addrs  []string `json:"addrs"`
	URL    string   `json:"url"`
	TLS    string   `json:"tls"`
	Secret string   `json:"secret"`
	Exp    int64    `json:"exp"`
}

// String encodes the invite as its one line of text.
func (inv Invite) String() string {
	body, err := json.Marshal(inviteBody{
		V: wireVersion, Peer: inv.Peer, Addrs: inv.Addrs, URL: inv.URL,
		TLS: hex.EncodeToString(inv.TLSFingerprint), Secret: base64.RawURLEncoding.EncodeToString(inv.Secret),
		Exp: inv.Expires.Unix(),
	})
	if err != nil {
		return "" // unreachable: every field encodes
	}
	sum := sha256.Sum256(body)
	return InvitePrefix + inviteEncoding.EncodeToString(append(body, sum[:checksumLen]...))
}

// ParseInvite decodes and checks an invite's text (surrounding white space is ignored). It
// does not check the expiry: see Invite.Expires. Errors wrap ErrBadInvite.
func ParseInvite(s string) (Invite, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxInviteLen {
		return Invite{}, fmt.Errorf("%w: %d characters", ErrBadInvite, len(s))
	}
	rest, ok := strings.CutPrefix(s, InvitePrefix)
	if !ok {
		return Invite{}, fmt.Errorf("%w: it does not start with %q", ErrBadInvite, InvitePrefix)
	}
	raw, err := inviteEncoding.DecodeString(rest)
	// Re-encoding catches changes to the unused low bits of the last character.
	if err != nil || len(raw) <= checksumLen || inviteEncoding.EncodeToString(raw) != rest {
		return Invite{}, fmt.Errorf("%w: damaged text (check that it was copied whole)", ErrBadInvite)
	}
	body, check := raw[:len(raw)-checksumLen], raw[len(raw)-checksumLen:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:checksumLen], check) {
		return Invite{}, fmt.Errorf("%w: checksum mismatch (check that it was copied whole)", ErrBadInvite)
	}
	var b inviteBody
	if err := decodeStrict(body, &b); err != nil {
		return Invite{}, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	inv, err := b.invite()
	if err != nil {
		return Invite{}, fmt.Errorf("%w: %v", ErrBadInvite, err)
	}
	return inv, nil
}

func (b inviteBody) invite() (Invite, error) {
	if b.V != wireVersion {
		return Invite{}, errVersion
	}
	if _, _, err := parsePeerID(b.Peer.String()); err != nil {
		return Invite{}, err
	}
	if err := addrList(b.Addrs); err != nil {
		return Invite{}, err
	}
	if err := httpURL("url", b.URL, false); err != nil {
		return Invite{}, err
	}
	fp, err := hex.DecodeString(b.TLS)
	if err != nil || (len(fp) != 0 && len(fp) != sha256.Size) || hex.EncodeToString(fp) != b.TLS {
		return Invite{}, errors.New("tls is not a lowercase hex SHA-256")
	}
	if err := checkTransport(b.URL, fp); err != nil {
		return Invite{}, err
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(b.Secret)
	if err != nil || len(secret) != secretLen {
		return Invite{}, errors.New("secret is not 32 bytes of base64url")
	}
	if b.Exp <= 0 || b.Exp >= maxMillis/1000 {
		return Invite{}, errors.New("exp is not a plausible unix time")
	}
	if len(fp) == 0 {
		fp = nil
	}
	return Invite{Peer: b.Peer, Addrs: b.Addrs, URL: b.URL, TLSFingerprint: fp, Secret: secret, Expires: time.Unix(b.Exp, 0)}, nil
}

// checkTransport allows an https URL with a certificate fingerprint, or an http URL of a
// loopback host without one.
func checkTransport(rawURL string, fingerprint []byte) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https" && len(fingerprint) == sha256.Size:
		return nil
	case u.Scheme == "https":
		return errors.New("an https URL needs the SHA-256 fingerprint of the node's TLS certificate")
	case len(fingerprint) != 0:
		return errors.New("a TLS fingerprint needs an https URL")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("plain http is allowed only on loopback, not %s", host)
}
