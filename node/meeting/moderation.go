package meeting

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
	"parley/media/signal"
)

// Moderation beyond the lobby, and reactions. A moderator mutes one participant or everyone
// (a request the client obeys: with end-to-end encryption the node cannot silence media it
// cannot read), lowers every hand, or ends the meeting for all; the room's owner makes
// co-hosts. Each action, and each reaction, reaches the other nodes of the room as an Event
// (Config.Forward puts it in the room's log); a node applies another node's event to its own
// members only if that node shows the actor as a moderator (as the owner, for co-hosts).

// Event is a moderator's action or a reaction, as it crosses to the other nodes of a room.
type Event struct {
	By       string `json:"by"`                 // the participant who acted
	Name     string `json:"name"`               // their name, for those it concerns
	Action   string `json:"action,omitempty"`   // a signal.Action constant
	Target   string `json:"target,omitempty"`   // mute, cohost: whom
	Reaction string `json:"reaction,omitempty"` // a reaction (then Action is empty)
}

// EventFreshness is how old another node's event may be and still be applied: one that
// arrives later (a link healing after a partition) would surprise more than it helps.
const EventFreshness = 30 * time.Second

// moderate applies moderator by's action (target for mute and cohost).
func (m *meeting) moderate(by, action, target string, now time.Time) *Refusal {
	w, r := m.moderator(by, "mute, lower hands or end the meeting")
	if r != nil {
		return r
	}
	if !w.moderate.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many moderator actions; wait a moment"), now)
	}
	ev := Event{By: by, Name: w.info.Name, Action: action, Target: target}
	switch action {
	case signal.ActionMute:
		if target == by {
			return refuse(signal.CodeBadMessage, "to mute yourself, send mute")
		}
		if o := m.members[target]; o != nil {
			m.audit(by, "mute", o)
			o.conn.Send(moderated(action, w.info.Name))
			return nil
		}
		if m.remote.shown[target] == nil {
			return refuse(signal.CodeBadMessage, "nobody with id %q is in the meeting", target)
		}
	case signal.ActionCohost:
		if !w.owner {
			return refuse(signal.CodeNotAllowed, "only the person who made the meeting makes co-hosts")
		}
		if r := m.cohost(w, target, now); r != nil {
			return r
		}
	case signal.ActionMuteAll, signal.ActionLowerHands:
		m.apply(ev)
		m.cfg.audit(m.room.ID, m.actor(by), action, "everyone")
	case signal.ActionTranscribe, signal.ActionTranscribeStop:
		on := action == signal.ActionTranscribe
		if m.cfg.Transcribe == nil {
			return refuse(signal.CodeNoEngine, "this node has no speech engine: its operator sets one up (transcription in config.json)")
		}
		if err := m.cfg.Transcribe(m.room.ID, on); err != nil {
			return refuse(signal.CodeNoEngine, "%v", err)
		}
		m.cfg.audit(m.room.ID, m.actor(by), action, "")
		return nil
	case signal.ActionEnd:
		m.cfg.audit(m.room.ID, m.actor(by), "end", "everyone")
		m.forward(ev)
		m.end(signal.CodeEnded, fmt.Sprintf("%s ended the meeting for everyone", w.info.Name))
		return nil
	default:
		return refuse(signal.CodeBadMessage, "unknown moderator action %q", action)
	}
	m.forward(ev)
	return nil
}

// cohost makes target a moderator on the owner w's word: at once if target is here, through
// the target's node otherwise; and, if target is signed in, the room's record names them as
// a co-host so that they are one wherever and whenever they join.
func (m *meeting) cohost(w *member, target string, now time.Time) *Refusal {
	if o := m.members[target]; o != nil {
		m.audit(w.id, "cohost", o)
		m.promote(o, w.info.Name)
		if o.account != nil {
			m.cfg.addCohost(m.room.ID, o.account.Key())
		}
		return nil
	}
	rm := m.remote.shown[target]
	if rm == nil {
		return refuse(signal.CodeBadMessage, "nobody with id %q is in the meeting", target)
	}
	m.cfg.audit(m.room.ID, m.actor(w.id), "cohost", target+" ("+rm.info.Name+")")
	if rm.info.Cert == nil {
		return nil
	}
	nodeKey := m.cfg.PeerKey(rm.node)
	cert, err := identity.VerifyCertificate(*rm.info.Cert, func(k ed25519.PublicKey) bool { return nodeKey != nil && k.Equal(nodeKey) }, m.room.ID, now)
	if err == nil && cert.Verified() {
		m.cfg.addCohost(m.room.ID, (&Account{Issuer: cert.Issuer, Subject: cert.Subject}).Key())
	}
	return nil
}

// promote makes o a moderator: everyone sees it, and o gets the lobby.
func (m *meeting) promote(o *member, by string) {
	if o.moderator {
		return
	}
	o.moderator, o.info.Moderator = true, true
	if raw, err := EncodeInfo(o.info); err == nil {
		m.infoSize += len(raw) - o.infoSize
		o.infoSize = len(raw)
	}
	p := o.info.participant(o.id)
	m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}), "")
	o.conn.Send(moderated(signal.ActionCohost, by))
	o.conn.Send(m.waitingList())
	m.dirty = true
	m.log.Info("made a co-host", "participant", o.id)
}

// apply carries out ev's action on this node's members (but its author): mute all, lower
// hands, or mute one or make one a co-host if they are here.
func (m *meeting) apply(ev Event) {
	switch ev.Action {
	case signal.ActionMute:
		if o := m.members[ev.Target]; o != nil {
			o.conn.Send(moderated(ev.Action, ev.Name))
		}
	case signal.ActionCohost:
		if o := m.members[ev.Target]; o != nil {
			m.promote(o, ev.Name)
		}
	case signal.ActionMuteAll:
		data := moderated(ev.Action, ev.Name)
		m.broadcast(data, ev.By)
	case signal.ActionLowerHands:
		data := moderated(ev.Action, ev.Name)
		for id, o := range m.members {
			if !o.info.Hand {
				continue
			}
			o.info.Hand = false
			p := o.info.participant(id)
			m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}), "")
			o.conn.Send(data)
			m.dirty = true
		}
	case signal.ActionEnd:
		m.end(signal.CodeEnded, fmt.Sprintf("%s ended the meeting for everyone", ev.Name))
	}
}

// react shows id's reaction to everyone in the room, id included.
func (m *meeting) react(id, reaction string, now time.Time) *Refusal {
	w, r := m.member(id)
	if r != nil {
		return r
	}
	if !signal.ValidReaction(reaction) {
		return refuse(signal.CodeBadMessage, "unknown reaction %q", reaction)
	}
	if !w.react.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many reactions; wait a moment"), now)
	}
	m.broadcast(encode(&signal.Message{Type: signal.TypeReaction, ID: id, Reaction: reaction}), "")
	m.forward(Event{By: id, Name: w.info.Name, Reaction: reaction})
	return nil
}

// caption relays a caption of the room's transcriber agent to everyone admitted but it.
func (m *meeting) caption(id string, sframe []byte, now time.Time) *Refusal {
	w, r := m.member(id)
	if r != nil {
		return r
	}
	if !w.agent {
		return refuse(signal.CodeNotAllowed, "only the meeting's transcriber sends captions")
	}
	if !w.caption.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many captions; wait a moment"), now)
	}
	m.broadcast(encode(&signal.Message{Type: signal.TypeCaption, Caption: &signal.Caption{From: id, SFrame: sframe, Time: now.UnixMilli()}}), id)
	if m.cfg.Cast != nil && m.remote.len() > 0 {
		m.cfg.Cast(m.room.ID, id, sframe)
	}
	return nil
}

// remoteCaption relays a caption of another node's transcriber from, shown here as one of
// that node's participants and marked an agent by it, to everyone admitted here.
func (m *meeting) remoteCaption(node peer.ID, from string, sframe []byte, now time.Time) *Refusal {
	by := m.remote.shown[from]
	switch {
	case by == nil || by.node != node:
		return refuse(signal.CodeNotAllowed, "%q is not a participant of node %s", from, node)
	case !by.info.Agent:
		return refuse(signal.CodeNotAllowed, "%q of node %s is not its transcriber", from, node)
	case len(sframe) == 0 || len(sframe) > signal.MaxChatCiphertext:
		return refuse(signal.CodeBadMessage, "caption of %d bytes", len(sframe))
	case !by.caption.Allow(now):
		m.cfg.Metrics.Refused(CodeRateLimited)
		return refuse(CodeRateLimited, "too many captions from %s", from)
	}
	m.broadcast(encode(&signal.Message{Type: signal.TypeCaption, Caption: &signal.Caption{From: from, SFrame: sframe, Time: now.UnixMilli()}}), "")
	return nil
}

// setLang records the language id speaks and tells everyone (the transcriber listens for it).
func (m *meeting) setLang(id, lang string, now time.Time) *Refusal {
	if !signal.ValidLang(lang) {
		return refuse(signal.CodeBadMessage, "%q is not a language tag", lang)
	}
	if i := m.waiting(id); i >= 0 {
		if w := m.lobby[i]; w.mute.Allow(now) {
			w.info.Lang = lang // shown once admitted
		}
		return nil
	}
	w, r := m.member(id)
	if r != nil {
		return r
	}
	if !w.mute.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many changes; wait a moment"), now)
	}
	if w.info.Lang == lang {
		return nil
	}
	w.info.Lang = lang
	if raw, err := EncodeInfo(w.info); err == nil {
		m.infoSize += len(raw) - w.infoSize
		w.infoSize = len(raw)
	}
	p := w.info.participant(id)
	m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}), "")
	m.dirty = true
	return nil
}

// remoteEvent applies an event node put in the room's log at time at. Its author must be a
// participant node shows, a moderator for a moderation, the room's owner on the room's owner
// node for a co-host. Errors are for the log: nobody here is answered.
func (m *meeting) remoteEvent(node peer.ID, ev Event, at, now time.Time) *Refusal {
	if now.Sub(at) > EventFreshness {
		return refuse(signal.CodeBadMessage, "event of %v ago: too old to apply", now.Sub(at).Round(time.Second))
	}
	by := m.remote.author(node, ev.By)
	if by == nil {
		return refuse(signal.CodeNotAllowed, "%q is not a participant of node %s", ev.By, node)
	}
	ev.Name = by.info.Name // as its node vouches for it, not as the event says
	if ev.Reaction != "" {
		if ev.Action != "" || !signal.ValidReaction(ev.Reaction) {
			return refuse(signal.CodeBadMessage, "bad reaction %q", ev.Reaction)
		}
		if !by.react.Allow(now) {
			m.cfg.Metrics.Refused(CodeRateLimited)
			return refuse(CodeRateLimited, "too many reactions from %s", ev.By)
		}
		m.broadcast(encode(&signal.Message{Type: signal.TypeReaction, ID: ev.By, Reaction: ev.Reaction}), "")
		return nil
	}
	if !by.info.Moderator {
		return refuse(signal.CodeNotAllowed, "%q is not a moderator", ev.By)
	}
	switch ev.Action {
	case signal.ActionCohost:
		if !by.info.Owner || node != m.room.Owner {
			return refuse(signal.CodeNotAllowed, "%q did not make the room", ev.By)
		}
	case signal.ActionMute, signal.ActionMuteAll, signal.ActionLowerHands, signal.ActionEnd:
	default:
		return refuse(signal.CodeBadMessage, "unknown moderator action %q", ev.Action)
	}
	if !by.moderate.Allow(now) {
		m.cfg.Metrics.Refused(CodeRateLimited)
		return refuse(CodeRateLimited, "too many moderator actions from %s", ev.By)
	}
	m.log.Info("moderator of another node", "node", node, "by", ev.By, "action", ev.Action, "target", ev.Target)
	m.cfg.audit(m.room.ID, fmt.Sprintf("moderator %s (%s) of node %s", ev.By, ev.Name, node), ev.Action, ev.Target)
	m.apply(ev)
	return nil
}

// policyCohosts makes the members the room's record names as co-hosts moderators.
func (m *meeting) policyCohosts() {
	for _, o := range m.members {
		if o.account != nil && !o.moderator && m.room.IsCohost(o.account.Key()) {
			m.promote(o, "")
		}
	}
}

// forward hands ev to the other nodes of the room, if there are any.
func (m *meeting) forward(ev Event) {
	if m.cfg.Forward != nil && m.remote.len() > 0 {
		m.cfg.Forward(m.room.ID, ev)
	}
}

// actor names participant id for the audit log.
func (m *meeting) actor(id string) string {
	if w := m.members[id]; w != nil {
		return "moderator " + id + " (" + w.info.Name + ")"
	}
	return "moderator " + id
}

// moderated is the message telling a participant what a moderator did.
func moderated(action, by string) []byte {
	return encode(&signal.Message{Type: signal.TypeModerated, Action: action, Name: by})
}
