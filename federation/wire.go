package federation

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
)

// Every object a node signs travels in one envelope, on gossip and in catch-up responses
// alike, and is stored as received:
//
//	{"v":1,"t":"<kind>","from":"<origin peer ID>","body":{…},"sig":"<b64u Ed25519 signature>"}
//
//	kind   body                                  signed by
//	node   NodeRecord  (node record)             the node itself
//	room   Room        (room directory record)   the room's owner node
//	state  StateRecord (one node's room state)   that node
//	entry  Entry       (one chat/event entry)    that node
//
// The signature covers the bytes of the domain prefix "parley-fed-<kind>-v1\n" followed by
// body exactly as transmitted. The verifying key is taken from "from", an Ed25519 libp2p
// peer ID (its public key is inlined in it), and the body must name the same node as its
// origin (peer, owner or node). A reader checks the size, decodes the envelope, checks the
// signature and only then decodes the body.
//
// Every JSON text a node reads from a peer is strict and canonical: it must be exactly the
// bytes encoding/json produces for the value it decodes to (no unknown, missing, duplicate
// or differently-cased fields, no whitespace, no trailing data). Signed bytes therefore have
// one spelling, and a peer cannot make one record look like two.

// wireVersion is the "v" of every message this package writes and the only one it reads.
const wireVersion = 1

// kind names the type of a signed object; it selects the signature's domain prefix.
type kind string

const (
	kindNode  kind = "node"
	kindRoom  kind = "room"
	kindState kind = "state"
	kindEntry kind = "entry"
	kindCast  kind = "cast"
)

// Size limits. MaxMessageSize bounds one gossip message and one signed object; the mesh's
// MaxMessageSize must be at least this so that no valid state record is dropped.
const (
	MaxMessageSize = 1 << 20
	maxNodeBody    = 8 << 10
	maxRoomBody    = 8 << 10
	maxEntryBody   = 64 << 10
	maxStateBody   = MaxMessageSize - 1<<10
	envelopeExtra  = 512 // envelope fields around a body
)

// maxBody is the largest body of kind k.
func maxBody(k kind) int {
	switch k {
	case kindNode:
		return maxNodeBody
	case kindRoom:
		return maxRoomBody
	case kindState:
		return maxStateBody
	case kindEntry:
		return maxEntryBody
	case kindCast:
		return maxCastBody
	}
	return 0
}

func signPrefix(k kind) string { return "parley-fed-" + string(k) + "-v1\n" }

// signedEnvelope is the wire form of a signed object (see the drawing above).
type signedEnvelope struct {
	V    int             `json:"v"`
	T    kind            `json:"t"`
	From string          `json:"from"`
	Body json.RawMessage `json:"body"`
	Sig  string          `json:"sig"`
}

// errNotCanonical is wrapped by decodeStrict for JSON that decodes but is not spelled as
// encoding/json spells the value.
var errNotCanonical = errors.New("not canonical JSON")

// decodeStrict decodes data into v and checks that data is the canonical encoding of v.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	again, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, data) {
		return errNotCanonical
	}
	return nil
}

// peerIDOf is the libp2p peer ID of an Ed25519 public key (the same derivation as mesh's).
func peerIDOf(pub ed25519.PublicKey) (peer.ID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("federation: node public key: %w", err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("federation: peer ID of node key: %w", err)
	}
	return id, nil
}

// parsePeerID decodes a peer ID spelled canonically ("12D3KooW…") that inlines an Ed25519
// key, and returns the ID with its key.
func parsePeerID(s string) (peer.ID, ed25519.PublicKey, error) {
	if s == "" || len(s) > 128 {
		return "", nil, errors.New("missing or overlong peer ID")
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", nil, err
	}
	if id.String() != s {
		return "", nil, fmt.Errorf("peer ID %q is not in canonical form", s)
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return "", nil, fmt.Errorf("peer ID %q: %w", s, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return "", nil, fmt.Errorf("peer ID %q is not an Ed25519 key", s)
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return "", nil, fmt.Errorf("peer ID %q: bad Ed25519 key", s)
	}
	return id, ed25519.PublicKey(raw), nil
}

// seal signs body (a record of kind k) with key and returns the envelope's bytes.
func seal(key *identity.NodeKey, from peer.ID, k kind, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("federation: encode %s record: %w", k, err)
	}
	if len(b) > maxBody(k) {
		return nil, fmt.Errorf("federation: %s record is %d bytes, more than %d", k, len(b), maxBody(k))
	}
	sig := key.Sign(append([]byte(signPrefix(k)), b...))
	env := signedEnvelope{V: wireVersion, T: k, From: from.String(), Body: b, Sig: base64.RawURLEncoding.EncodeToString(sig)}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("federation: encode %s envelope: %w", k, err)
	}
	return out, nil
}

// message is a signed object whose envelope, signature and body have been checked: one of
// the record pointers is set, matching kind.
type message struct {
	kind   kind
	origin peer.ID
	raw    []byte // the envelope as received; what is stored and served on

	node  *nodeBody
	room  *roomBody
	state *stateBody
	entry *entryBody
	cast  *castBody
}

// decodeMessage checks one signed object: its size, its envelope, its signature by the
// origin it names, and its body (strictly decoded and validated, naming the same origin).
// It knows nothing of who is federated or what is already stored; errors are *rejectError.
func decodeMessage(data []byte) (message, error) { return decodeWith(data, nil) }

// verifiedSet remembers the SHA-256 of envelopes whose signature verified, so that the
// copies of one message that arrive by gossip validation, delivery and catch-up cost one
// Ed25519 verification. It holds at most verifiedMax hashes and forgets them all when full.
type verifiedSet struct {
	mu     sync.Mutex
	hashes map[[32]byte]struct{} // guarded by mu
}

const verifiedMax = 1 << 14

func (v *verifiedSet) has(h [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.hashes[h]
	return ok
}

func (v *verifiedSet) add(h [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.hashes == nil || len(v.hashes) >= verifiedMax {
		v.hashes = make(map[[32]byte]struct{})
	}
	v.hashes[h] = struct{}{}
}

// decodeWith is decodeMessage that skips the signature verification of envelopes in
// verified (byte-identical to one that verified before) and adds those that verify.
func decodeWith(data []byte, verified *verifiedSet) (message, error) {
	if len(data) > MaxMessageSize {
		return message{}, reject(ReasonOversize, "message of %d bytes", len(data))
	}
	var env signedEnvelope
	if err := decodeStrict(data, &env); err != nil {
		return message{}, reject(ReasonMalformed, "envelope: %v", err)
	}
	if env.V != wireVersion {
		return message{}, reject(ReasonMalformed, "envelope version %d", env.V)
	}
	limit := maxBody(env.T)
	if limit == 0 {
		return message{}, reject(ReasonMalformed, "unknown kind %q", env.T)
	}
	if len(env.Body) > limit {
		return message{}, reject(ReasonOversize, "%s body of %d bytes", env.T, len(env.Body))
	}
	if env.Sig == "" {
		return message{}, reject(ReasonUnsigned, "%s from %s has no signature", env.T, env.From)
	}
	origin, pub, err := parsePeerID(env.From)
	if err != nil {
		return message{}, reject(ReasonMalformed, "origin: %v", err)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return message{}, reject(ReasonBadSignature, "%s from %s: signature is not 64 bytes of base64url", env.T, origin)
	}
	var sum [32]byte
	if verified != nil {
		sum = sha256.Sum256(data)
	}
	if verified == nil || !verified.has(sum) {
		if !ed25519.Verify(pub, append([]byte(signPrefix(env.T)), env.Body...), sig) {
			return message{}, reject(ReasonBadSignature, "%s from %s", env.T, origin)
		}
	}
	m := message{kind: env.T, origin: origin, raw: data}
	var claimed peer.ID
	switch env.T {
	case kindNode:
		m.node = new(nodeBody)
		err = decodeNodeRecord(env.Body, m.node)
		claimed = m.node.Peer
	case kindRoom:
		m.room = new(roomBody)
		err = decodeRoom(env.Body, m.room)
		claimed = m.room.Owner
	case kindState:
		m.state = new(stateBody)
		err = decodeStateRecord(env.Body, m.state)
		claimed = m.state.Node
	case kindEntry:
		m.entry = new(entryBody)
		err = decodeEntry(env.Body, m.entry)
		claimed = m.entry.Node
	case kindCast:
		m.cast = new(castBody)
		err = decodeCast(env.Body, m.cast)
		claimed = m.cast.Node
	}
	if err != nil {
		return message{}, reject(ReasonMalformed, "%s from %s: %v", env.T, origin, err)
	}
	if claimed != origin {
		return message{}, reject(ReasonBadSignature, "%s signed by %s names %q as its origin", env.T, origin, claimed)
	}
	if verified != nil {
		verified.add(sum)
	}
	return m, nil
}
