package meeting

import (
	"crypto/ed25519"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
	"parley/media/signal"
)

// Key envelopes: the node relays each one, which it cannot open, to the admitted
// participants it names, and never to anyone in the lobby. The sender's session has checked
// what it can (sender, room, key ID under the sender's tag, signature); the meeting
// rate-limits each sender, drops a key ID announced before and refuses an envelope larger
// than the room's membership needs.

// envelopeBase and envelopePerRecipient bound an envelope's size: a sealed key for n
// recipients is well under envelopeBase + n*envelopePerRecipient bytes of body (one age
// stanza, about 100 bytes, and an id in the recipient list, base64-encoded).
const (
	envelopeBase         = 2 << 10
	envelopePerRecipient = 512
)

// Key is a key envelope from a local member, checked by its session.
type Key struct {
	From     string
	Envelope identity.SignedObject
	Body     *identity.EnvelopeBody
}

// recipients are to without repeats.
func recipients(to []string) []string {
	to = slices.Clone(to)
	slices.Sort(to)
	return slices.Compact(to)
}

// checkSize refuses an envelope that names more recipients than the room holds, or is
// larger than that many need.
func (m *meeting) checkSize(env identity.SignedObject, to []string) *Refusal {
	n := m.count()
	if len(to) > n {
		return refuse(signal.CodeBadKeys, "key envelope names %d recipients; the room holds %d", len(to), n)
	}
	if size := len(env.Body) + len(env.Sig); size > envelopeBase+n*envelopePerRecipient {
		return refuse(signal.CodeBadKeys, "key envelope of %d bytes is larger than %d recipients need", size, n)
	}
	return nil
}

// deliver queues the key message for each admitted member of to but from. It returns how
// many got it and whether any of to is a participant of another node.
func (m *meeting) deliver(to []string, from string, data []byte) (delivered int, remote bool) {
	for _, id := range to {
		if w := m.members[id]; w != nil && id != from {
			w.conn.Send(data)
			delivered++
		} else if m.remote.shown[id] != nil {
			remote = true
		}
	}
	m.cfg.Metrics.Relayed(delivered, delivered*len(data))
	return delivered, remote
}

// key relays a local member's envelope. It reports whether other nodes' participants are
// among its recipients: then the caller forwards it to them through the room's log.
func (m *meeting) key(k Key, now time.Time) (forward bool, _ *Refusal) {
	w, r := m.member(k.From)
	if r != nil {
		return false, r
	}
	if !w.key.Allow(now) {
		return false, m.refused(w, refuse(CodeRateLimited, "too many key envelopes; wait a moment"), now)
	}
	to := recipients(k.Body.To)
	if r := m.checkSize(k.Envelope, to); r != nil {
		return false, m.refused(w, r, now)
	}
	if !w.kids.add(k.Body.KID) {
		return false, m.refused(w, refuse(CodeDuplicateKey, "key %d was announced already", k.Body.KID), now)
	}
	_, forward = m.deliver(to, k.From, encode(&signal.Message{Type: signal.TypeKey, Envelope: &k.Envelope}))
	return forward, nil
}

// remoteKey relays an envelope that node put in the room's log for this node's members: its
// sender must be a shown participant of that node, certified by it, and the envelope signed
// with the key in the certificate. Errors are for the log: nobody here is answered.
func (m *meeting) remoteKey(node peer.ID, env identity.SignedObject, now time.Time) *Refusal {
	body, err := identity.ParseEnvelope(env)
	if err != nil {
		return refuse(signal.CodeBadKeys, "%v", err)
	}
	sender := m.remote.shown[body.From]
	if sender == nil {
		// Its node's state record, which names it, may come after this log entry: hold it.
		m.holdKey(heldKey{node: node, from: body.From, env: env, at: now})
		return nil
	}
	if sender.node != node || sender.info.Cert == nil {
		return refuse(signal.CodeBadKeys, "sender %q is not a participant of node %s", body.From, node)
	}
	nodeKey := m.cfg.PeerKey(node)
	cert, err := identity.VerifyCertificate(*sender.info.Cert, func(k ed25519.PublicKey) bool { return nodeKey != nil && k.Equal(nodeKey) }, m.room.ID, now)
	if err != nil {
		return refuse(signal.CodeBadKeys, "sender's certificate: %v", err)
	}
	if tag, _ := identity.SplitKID(body.KID); tag != cert.Tag || body.Room != m.room.ID {
		return refuse(signal.CodeBadKeys, "key %d of room %s is not the sender's", body.KID, body.Room)
	}
	if err := identity.VerifyEnvelopeSignature(env, cert.SigPub); err != nil {
		return refuse(signal.CodeBadKeys, "%v", err)
	}
	if !sender.key.Allow(now) {
		m.cfg.Metrics.Refused(CodeRateLimited)
		return refuse(CodeRateLimited, "too many key envelopes from %s", body.From)
	}
	to := recipients(body.To)
	if r := m.checkSize(env, to); r != nil {
		m.cfg.Metrics.Refused(r.Code)
		return r
	}
	if !sender.kids.add(body.KID) {
		m.cfg.Metrics.Refused(CodeDuplicateKey)
		return refuse(CodeDuplicateKey, "key %d was announced already", body.KID)
	}
	m.deliver(to, body.From, encode(&signal.Message{Type: signal.TypeKey, Envelope: &env}))
	return nil
}

// Key envelopes of participants of other nodes not shown yet. A node's log entries and its
// state record travel apart: the envelope a newcomer sends as it joins may arrive before the
// record that names it. It is held for heldKeyWait and relayed when the sender is shown
// (checked then like any), at most maxHeldKeys per meeting, the oldest dropped first.
const (
	heldKeyWait = 10 * time.Second
	maxHeldKeys = 256
)

type heldKey struct {
	node peer.ID
	from string
	env  identity.SignedObject
	at   time.Time
}

func (m *meeting) holdKey(k heldKey) {
	if len(m.held) >= maxHeldKeys {
		m.cfg.Metrics.Refused(signal.CodeBadKeys)
		m.held = slices.Delete(m.held, 0, 1)
	}
	m.held = append(m.held, k)
}

// releaseHeld relays the held envelopes whose senders are shown now and forgets those held
// too long.
func (m *meeting) releaseHeld(now time.Time) {
	if len(m.held) == 0 {
		return
	}
	keep := m.held[:0]
	var ready []heldKey
	for _, k := range m.held {
		switch {
		case now.Sub(k.at) > heldKeyWait:
			m.log.Debug("key envelope of a participant of another node never shown", "node", k.node, "participant", k.from)
		case m.remote.shown[k.from] != nil:
			ready = append(ready, k)
		default:
			keep = append(keep, k)
		}
	}
	clear(m.held[len(keep):])
	m.held = keep
	for _, k := range ready {
		if r := m.remoteKey(k.node, k.env, now); r != nil {
			m.log.Debug("held key envelope refused", "node", k.node, "participant", k.from, "err", r)
		}
	}
}
