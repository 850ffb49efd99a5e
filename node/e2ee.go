package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"

	"parley/identity"
	"parley/media/signal"
)

// The node's part in end-to-end encryption (see package parley/identity for the formats): it
// certifies its participants' keys, tells clients which node keys to trust, and relays key
// envelopes it cannot open to the admitted participants they name. Moderators admit people
// from the lobby and remove participants, which makes every remaining sender rekey.

// removeGrace is how long a removed client's connection stays open so that it reads why it
// was removed. It receives nothing else meanwhile: it is out of the room and the SFU.
const removeGrace = time.Second

// certificate issues the session's certificate for sender tag tag.
func (s *session) certificate(tag uint32) (identity.SignedObject, error) {
	now := time.Now()
	return identity.IssueCertificate(s.node.key, identity.CertBody{
		V: 1, ID: s.id, Tag: tag, Name: s.info.Name, Org: s.node.cfg.Name,
		Node: s.node.key.PublicKey(), Room: s.roomID,
		SigPub: s.keys.SigPub, Age: s.keys.Age,
		IAT: now.Unix(), EXP: now.Add(identity.CertificateLifetime).Unix(),
	})
}

// relayKey checks a key envelope from the session's client and hands it to the admitted
// participants it names. The node cannot open it; it checks what it can so that nobody can
// announce keys in someone else's name: the sender, room and KID tag, and the sender's
// signature.
func (s *session) relayKey(env *identity.SignedObject) {
	body, err := identity.ParseEnvelope(*env)
	if err == nil {
		err = s.checkEnvelope(env, body)
	}
	if err != nil {
		s.sendError(signal.CodeBadKeys, fmt.Sprintf("key envelope refused: %v", err))
		return
	}
	data, err := json.Marshal(&signal.Message{Type: signal.TypeKey, Envelope: env})
	if err != nil {
		return // our own message types always encode
	}
	to := slices.Clone(body.To)
	slices.Sort(to)
	to = slices.Compact(to)
	delivered := s.node.hub.deliver(s.roomID, to, s.id, data)
	s.node.metrics.envelopes.Add(float64(delivered))
	s.node.metrics.envBytes.Add(float64(delivered * len(data)))
	if s.node.hub.anyRemote(s.roomID, to) {
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

// admit lets a person waiting in the lobby into the meeting. Moderators only.
func (s *session) admit(id string) {
	if !s.moderator {
		s.sendError(signal.CodeNotAllowed, "only moderators admit people from the lobby")
		return
	}
	w := s.node.hub.takeWaiting(s.roomID, id)
	if w == nil {
		s.sendError(signal.CodeBadMessage, fmt.Sprintf("nobody with id %q is waiting in the lobby", id))
		return
	}
	s.log.Info("admitted from the lobby", "admitted", id)
	if end := w.enter(); end {
		w.kill(websocket.StatusInternalError, "could not enter the meeting")
	}
}

// remove takes a participant out of the meeting, or refuses someone waiting in the lobby.
// Moderators only. Everyone remaining sees participant_left with reason "removed" and rekeys.
func (s *session) remove(id string) {
	if !s.moderator {
		s.sendError(signal.CodeNotAllowed, "only moderators remove participants")
		return
	}
	if id == s.id {
		s.sendError(signal.CodeBadMessage, "to leave, send leave")
		return
	}
	t := s.node.hub.takeWaiting(s.roomID, id)
	if t == nil {
		t = s.node.hub.member(s.roomID, id)
	}
	if t == nil {
		s.sendError(signal.CodeBadMessage, fmt.Sprintf("nobody with id %q is in the room or its lobby", id))
		return
	}
	t.leave(signal.ReasonRemoved)
	t.sendError(signal.CodeRemoved, "a moderator removed you from the meeting")
	time.AfterFunc(removeGrace, func() { t.hangUp(websocket.StatusPolicyViolation, "removed by a moderator") })
	s.log.Info("removed from the room", "removed", id)
}
