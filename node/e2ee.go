package node

import (
	"fmt"
	"time"

	"parley/identity"
	"parley/media/signal"
	"parley/node/meeting"
)

// The node's part in end-to-end encryption (see package parley/identity for the formats): it
// certifies its participants' keys, tells clients which node keys to trust, and relays key
// envelopes it cannot open to the admitted participants they name (package node/meeting
// routes them). Moderators admit people from the lobby and remove participants, which makes
// every remaining sender rekey.

// certify issues a participant's certificate; the meeting calls it when admitting.
func (n *Node) certify(r meeting.CertRequest) (identity.SignedObject, error) {
	now := time.Now()
	b := identity.CertBody{
		V: 1, ID: r.ID, Tag: r.Tag, Name: r.Name, Org: n.cfg.Name,
		Node: n.key.PublicKey(), Room: r.Room,
		SigPub: r.Keys.SigPub, Age: r.Keys.Age,
		IAT: now.Unix(), EXP: now.Add(identity.CertificateLifetime).Unix(),
	}
	if a := r.Account; a != nil {
		b.V, b.Issuer, b.Subject, b.Email = 2, a.Issuer, a.Subject, a.Email
	}
	return identity.IssueCertificate(n.key, b)
}

// relayKey checks a key envelope from the session's client and hands it to the meeting,
// which relays it to the admitted participants it names. The node cannot open it; it checks
// what it can so that nobody can announce keys in someone else's name: the sender, room and
// KID tag, and the sender's signature. An envelope for participants of other nodes goes into
// the room's log too.
func (s *session) relayKey(env *identity.SignedObject) {
	body, err := identity.ParseEnvelope(*env)
	if err == nil {
		err = s.checkEnvelope(env, body)
	}
	if err != nil {
		s.node.metrics.refused(signal.CodeBadKeys)
		s.sendError(signal.CodeBadKeys, fmt.Sprintf("key envelope refused: %v", err))
		return
	}
	forward, r := s.live.Key(meeting.Key{From: s.id, Envelope: *env, Body: body})
	if r != nil {
		s.refused(r)
		return
	}
	if forward {
		s.node.forwardKey(s.roomID, env)
	}
}

func (s *session) checkEnvelope(env *identity.SignedObject, body *identity.EnvelopeBody) error {
	if body.From != s.id {
		return fmt.Errorf("it is from %q, not from you", body.From)
	}
	if body.Room != s.roomID {
		return fmt.Errorf("it is for room %q, not this one", body.Room)
	}
	if tag, _ := identity.SplitKID(body.KID); tag != s.tag {
		return fmt.Errorf("its KID %d is not under your sender tag %d", body.KID, s.tag)
	}
	return identity.VerifyEnvelopeSignature(*env, s.keys.SigPub)
}
