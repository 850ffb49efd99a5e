package federation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Redeeming an invite runs over the inviter's HTTPS API, since the inviter's mesh host
// refuses the joiner until it is trusted:
//
//	POST <url>/api/federation/join    Content-Type: application/json
//	{"v":1,"secret":"<b64u 32 bytes>","record":{…joiner's node record envelope…},
//	 "proof":"<b64u Ed25519 signature by the joiner's node key>"}
//
//	200 {"v":1,"record":{…inviter's node record envelope…}}
//	4xx {"error":"<reason>"}      400 malformed, 403 unknown/used/expired secret, 405, 413
//
// proof signs "parley-fed-join-v1\n" || inviter peer ID || "\n" || secret, so only the
// holder of the joiner's key can redeem the secret for it. The inviter checks size,
// strictness, the record's signature and the proof, then consumes the secret (once, even
// under concurrent redemptions) and trusts the joiner; the joiner checks that the record it
// gets back is signed by the peer named in the invite and trusts the inviter.

// JoinPath is where JoinHandler is mounted on the node's HTTP server.
const JoinPath = "/api/federation/join"

const (
	maxJoinBody = 16 << 10
	joinTimeout = 30 * time.Second
	joinPrefix  = "parley-fed-join-v1\n"
)

type joinRequest struct {
	V      int             `json:"v"`
	Secret string          `json:"secret"`
	Record json.RawMessage `json:"record"`
	Proof  string          `json:"proof"`
}

type joinResponse struct {
	V      int             `json:"v"`
	Record json.RawMessage `json:"record"`
}

type joinError struct {
	Error string `json:"error"`
}

func joinProofMessage(inviter string, secret []byte) []byte {
	return append([]byte(joinPrefix+inviter+"\n"), secret...)
}

// decodeJoinRequest checks a join request's form, record and proof for inviter; it does not
// look at the secret's validity.
func decodeJoinRequest(data []byte, inviter string) (joinRequest, message, []byte, error) {
	var req joinRequest
	if len(data) > maxJoinBody {
		return req, message{}, nil, reject(ReasonOversize, "join request of %d bytes", len(data))
	}
	if err := decodeStrict(data, &req); err != nil {
		return req, message{}, nil, reject(ReasonMalformed, "join request: %v", err)
	}
	if req.V != wireVersion {
		return req, message{}, nil, reject(ReasonMalformed, "join request: %v", errVersion)
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(req.Secret)
	if err != nil || len(secret) != secretLen {
		return req, message{}, nil, reject(ReasonMalformed, "join request: secret is not 32 bytes of base64url")
	}
	m, err := decodeMessage(req.Record)
	if err != nil {
		return req, message{}, nil, err
	}
	if m.kind != kindNode {
		return req, message{}, nil, reject(ReasonMalformed, "join request: a %s record is not a node record", m.kind)
	}
	_, pub, err := parsePeerID(m.origin.String())
	if err != nil {
		return req, message{}, nil, reject(ReasonMalformed, "join request: %v", err)
	}
	proof, err := base64.RawURLEncoding.Strict().DecodeString(req.Proof)
	if err != nil || !ed25519.Verify(pub, joinProofMessage(inviter, secret), proof) {
		return req, message{}, nil, reject(ReasonBadSignature, "join request: proof does not verify")
	}
	return req, m, secret, nil
}

// JoinHandler serves POST JoinPath: it redeems an invite this node made (see the drawing
// above). The node mounts it on its HTTPS server.
func (f *Federation) JoinHandler() http.Handler {
	return http.HandlerFunc(f.serveJoin)
}

func (f *Federation) serveJoin(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(joinError{Error: msg})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "use POST")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err != nil {
		fail(http.StatusRequestEntityTooLarge, "request too large")
		return
	}
	_, m, secret, err := decodeJoinRequest(data, f.self.String())
	if err != nil {
		f.count(err)
		fail(http.StatusBadRequest, "bad join request: "+string(reasonOf(err)))
		return
	}
	if m.origin == f.self {
		fail(http.StatusBadRequest, "a node cannot join itself")
		return
	}
	ok, err := f.st.takeInvite(secretHash(secret), time.Now().UnixMilli())
	if err != nil {
		f.log.Warn("redeem invite", "err", err)
		fail(http.StatusInternalServerError, "internal error")
		return
	}
	if !ok {
		f.log.Warn("invite refused: unknown, used or expired secret", "joiner", m.origin, "remote", r.RemoteAddr)
		fail(http.StatusForbidden, "invite unknown, already used or expired")
		return
	}
	p, err := f.addPeer(m)
	if err != nil {
		f.log.Warn("federate joiner", "peer", m.origin, "err", err)
		fail(http.StatusInternalServerError, "internal error")
		return
	}
	out, _ := json.Marshal(joinResponse{V: wireVersion, Record: f.Record()})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	f.log.Info("invite redeemed", "peer", p.ID, "name", p.Record.Name)
}

// Join redeems an invite made by another node: it calls the inviter's JoinPath over HTTPS,
// accepting only the certificate pinned in the invite, and federates the inviter. Errors
// wrap ErrBadInvite, ErrInviteExpired or ErrInviteRefused where those apply.
func (f *Federation) Join(ctx context.Context, invite string) (Peer, error) {
	inv, err := ParseInvite(invite)
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join: %w", err)
	}
	if time.Now().After(inv.Expires) {
		return Peer{}, fmt.Errorf("federation: join: %w (at %s)", ErrInviteExpired, inv.Expires.UTC().Format(time.RFC3339))
	}
	if inv.Peer == f.self {
		return Peer{}, errors.New("federation: join: the invite was made by this node")
	}
	proof := f.key.Sign(joinProofMessage(inv.Peer.String(), inv.Secret))
	body, err := json.Marshal(joinRequest{
		V: wireVersion, Secret: base64.RawURLEncoding.EncodeToString(inv.Secret), Record: f.Record(),
		Proof: base64.RawURLEncoding.EncodeToString(proof),
	})
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(inv.URL, "/")+JoinPath, bytes.NewReader(body))
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := pinnedClient(inv.TLSFingerprint)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join %s: %w", inv.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJoinBody+1))
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join %s: read answer: %w", inv.URL, err)
	}
	if len(data) > maxJoinBody {
		return Peer{}, fmt.Errorf("federation: join %s: answer over %d bytes", inv.URL, maxJoinBody)
	}
	if resp.StatusCode != http.StatusOK {
		var je joinError
		_ = json.Unmarshal(data, &je)
		msg := fmt.Sprintf("HTTP %d %q", resp.StatusCode, truncate(je.Error, 200))
		if resp.StatusCode == http.StatusForbidden {
			return Peer{}, fmt.Errorf("federation: join %s: %w: %s", inv.URL, ErrInviteRefused, msg)
		}
		return Peer{}, fmt.Errorf("federation: join %s: %s", inv.URL, msg)
	}
	var jr joinResponse
	if err := decodeStrict(data, &jr); err != nil || jr.V != wireVersion {
		return Peer{}, fmt.Errorf("federation: join %s: malformed answer: %v", inv.URL, err)
	}
	m, err := decodeMessage(jr.Record)
	if err != nil {
		return Peer{}, fmt.Errorf("federation: join %s: inviter's record: %w", inv.URL, err)
	}
	if m.kind != kindNode || m.origin != inv.Peer {
		return Peer{}, fmt.Errorf("federation: join %s: the answer is not signed by the invite's peer %s", inv.URL, inv.Peer)
	}
	if len(m.node.Addrs) == 0 {
		m.node.Addrs = inv.Addrs
	}
	return f.addPeer(m)
}

// pinnedClient is an HTTP client that accepts only a server certificate whose SHA-256 is
// fingerprint (chain and name are not checked: the pin is the trust), or plain HTTP when
// fingerprint is nil (the invite allows that only on loopback).
func pinnedClient(fingerprint []byte) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        1,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
				if len(rawCerts) == 0 {
					return errors.New("server sent no certificate")
				}
				sum := sha256.Sum256(rawCerts[0])
				if subtle.ConstantTimeCompare(sum[:], fingerprint) != 1 {
					return fmt.Errorf("server certificate SHA-256 %x is not the one in the invite", sum[:])
				}
				return nil
			},
		},
	}
	return &http.Client{Transport: tr, Timeout: joinTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
