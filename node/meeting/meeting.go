package meeting

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// Codes of refusals and disconnects, beyond signal's. Each is also the reason label of
// parley_meeting_refusals_total or parley_meeting_disconnects_total.
const (
	CodeRateLimited  = "rate_limited"  // over a per-participant rate limit
	CodeLobbyFull    = "lobby_full"    // the lobby holds Limits.MaxLobby people
	CodeLobbyTimeout = "lobby_timeout" // waited Limits.LobbyWait without being admitted
	CodeMediaTimeout = "media_timeout" // media did not connect within Limits.MediaDeadline
	CodeDuplicateKey = "duplicate_key" // a key ID announced before
	CodeFlood        = "flood"         // refused too often: disconnected
)

// Refusal is a refused request: what the client is told.
type Refusal struct{ Code, Text string }

func (r *Refusal) Error() string { return r.Code + ": " + r.Text }

func refuse(code, format string, a ...any) *Refusal {
	return &Refusal{Code: code, Text: fmt.Sprintf(format, a...)}
}

// CertRequest is what the node certifies for a participant entering a meeting.
type CertRequest struct {
	Room, ID, Name string
	Tag            uint32
	Keys           identity.PublicIdentity
	Account        *Account // a signed-in participant's account; nil for a guest
}

// Metrics is what a meeting counts.
type Metrics interface {
	Refused(reason string)      // a join or message refused
	Disconnected(reason string) // a participant sent away by the node
	Relayed(envelopes, bytes int)
}

// meeting is one live room's state: a plain state machine that the room's goroutine (Room)
// drives and tests drive directly. Effects that take time (closing media) are collected in
// closers for the caller to run; what is published is handed to cfg.publish.
type meeting struct {
	cfg  *Config
	room federation.Room
	log  *slog.Logger

	members  map[string]*member // admitted, by id
	lobby    []*member          // waiting, in order of arrival
	tags     map[uint32]bool
	infoSize int // bytes of the members' infos
	remote   remoteSet
	held     []heldKey // key envelopes of other nodes' participants not shown yet (keys.go)

	dirty   bool           // the node's record of the room must be published
	closers []MediaSession // media to close, off the goroutine
}

func newMeeting(cfg *Config, room federation.Room) *meeting {
	return &meeting{cfg: cfg, room: room, log: cfg.Log.With("room", room.ID),
		members: map[string]*member{}, tags: map[uint32]bool{}, remote: newRemoteSet()}
}

// empty reports whether nobody of this node is in the room or its lobby.
func (m *meeting) empty() bool { return len(m.members) == 0 && len(m.lobby) == 0 }

func (m *meeting) signalRoom() *signal.Room {
	return &signal.Room{ID: m.room.ID, Title: m.room.Title, Lobby: m.room.Lobby, Guests: m.room.Guests}
}

// encode encodes one of our own messages, which always encode.
func encode(msg *signal.Message) []byte {
	data, _ := json.Marshal(msg)
	return data
}

// broadcast queues data for every member but skip ("" for none).
func (m *meeting) broadcast(data []byte, skip string) {
	for id, o := range m.members {
		if id != skip {
			o.conn.Send(data)
		}
	}
}

// join takes a client's join: into the lobby if the room has one and the client is no
// moderator, else into the meeting. A nil result is success; then the connection has been
// told (lobby, or Admitted and joined).
func (m *meeting) join(req JoinRequest, now time.Time) *Refusal {
	if m.room.Deleted {
		return refuse(signal.CodeRoomDeleted, "the meeting is over: its host deleted the room")
	}
	if m.room.Owner != m.cfg.Self && !m.room.Allows(m.cfg.Organisation) {
		return refuse(signal.CodeNotAllowed, "the room is open to %s only, not to %s",
			strings.Join(m.room.Orgs, ", "), m.cfg.Organisation)
	}
	if m.members[req.ID] != nil || m.waiting(req.ID) >= 0 {
		return refuse(signal.CodeBadMessage, "participant id %s is taken", req.ID)
	}
	moderator := req.Moderator || (req.Account != nil && m.room.IsCohost(req.Account.Key()))
	if req.Account == nil && !moderator && m.room.Guests == federation.GuestsNo {
		return refuse(signal.CodeSignIn, "this meeting is only for people signed in at their organisation's node: sign in, then open the link again")
	}
	w := &member{id: req.ID, conn: req.Conn, keys: req.Keys, moderator: moderator && !req.Agent, owner: req.Owner, agent: req.Agent,
		account: req.Account, history: req.History, since: now, info: Info{Name: req.Name, Verified: req.Account != nil, Agent: req.Agent, Lang: req.Lang}}
	l := m.cfg.Limits
	w.key = Bucket{Rate: l.KeyRate, Burst: l.KeyBurst}
	w.hand = Bucket{Rate: l.HandRate, Burst: l.HandBurst}
	w.mute = Bucket{Rate: l.MuteRate, Burst: l.MuteBurst}
	w.offer = Bucket{Rate: l.OfferRate, Burst: l.OfferBurst}
	w.chat = Bucket{Rate: l.ChatRate, Burst: l.ChatBurst}
	w.moderate = Bucket{Rate: l.ModerateRate, Burst: l.ModerateBurst}
	w.react = Bucket{Rate: l.ReactRate, Burst: l.ReactBurst}
	w.caption = Bucket{Rate: l.CaptionRate, Burst: l.CaptionBurst}
	guestWaits := req.Account == nil && m.room.Guests == federation.GuestsLobby
	if (m.room.Lobby || guestWaits) && !moderator && !req.Agent {
		if len(m.lobby) >= l.MaxLobby {
			return refuse(CodeLobbyFull, "the lobby is full (%d people are waiting); try again later", l.MaxLobby)
		}
		m.lobby = append(m.lobby, w)
		w.conn.Send(encode(&signal.Message{Type: signal.TypeLobby, Room: m.signalRoom()}))
		m.toModerators(&signal.Message{Type: signal.TypeWaitingAdd, Waiting: []signal.Waiting{w.waitingEntry()}})
		m.log.Info("waiting in the lobby", "participant", w.id, "name", w.info.Name)
		return nil
	}
	return m.admit(w, now)
}

// count is everyone admitted to the room, on every node (those of nodes out of reach are
// not shown, and not counted).
func (m *meeting) count() int { return len(m.members) + m.remote.len() }

// admit brings w into the meeting: a sender tag, a certificate, the SFU, Admitted and the
// joined message; everyone else learns of it.
func (m *meeting) admit(w *member, now time.Time) *Refusal {
	l := m.cfg.Limits
	if m.count() >= l.MaxParticipants {
		idle := m.idle(now)
		if idle == nil {
			return refuse(signal.CodeRoomFull, "the room is full (%d participants)", l.MaxParticipants)
		}
		m.log.Info("an idle participant gives its place to a newcomer", "participant", idle.id)
		m.sendAway(idle, CodeMediaTimeout, fmt.Sprintf("the room is full and you had no audio or video for %v: your place went to someone joining", l.MediaDeadline))
	}
	info := Info{Name: w.info.Name, Org: m.cfg.NodeName, Moderator: w.moderator, Owner: w.owner, Verified: w.account != nil,
		Agent: w.agent, Lang: w.info.Lang}
	tag := randomTag()
	for m.tags[tag] {
		tag = randomTag()
	}
	cert, err := m.cfg.Certify(CertRequest{Room: m.room.ID, ID: w.id, Name: info.Name, Tag: tag, Keys: w.keys, Account: w.account})
	if err != nil {
		m.log.Error("issue a certificate", "participant", w.id, "err", err)
		return refuse(signal.CodeInternal, "the node could not certify your keys; try again later")
	}
	info.Cert = &cert
	raw, err := EncodeInfo(info)
	if err != nil || !federation.RecordFits(len(m.members)+1, m.infoSize+len(raw)+trackReserve*(len(m.members)+1)) {
		return refuse(signal.CodeRoomFull, "the room is full: this node's record of it holds no more participants")
	}
	ms, err := m.cfg.Media.Join(m.room.ID, w.id, w.conn.SendMedia)
	if err != nil {
		m.log.Error("join the SFU", "participant", w.id, "err", err)
		return refuse(signal.CodeInternal, "the node could not add you to the meeting; try again later")
	}
	w.admitted, w.since, w.info, w.infoSize, w.tag, w.media = true, now, info, len(raw), tag, ms
	others := make([]signal.Participant, 0, m.count())
	for id, o := range m.members {
		others = append(others, o.info.participant(id))
	}
	for id, r := range m.remote.shown {
		others = append(others, r.info.participant(id))
	}
	slices.SortFunc(others, func(a, b signal.Participant) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	you := info.participant(w.id)
	w.conn.Admitted(Admission{Tag: tag, Media: ms, Joined: encode(&signal.Message{Type: signal.TypeJoined, You: &you,
		Room: m.signalRoom(), Participants: others, History: w.history, NodeKeys: m.cfg.NodeKeys()})})
	w.history = nil
	if w.moderator {
		w.conn.Send(m.waitingList())
	}
	m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &you}), "")
	m.members[w.id] = w
	m.tags[tag] = true
	m.infoSize += len(raw)
	m.dirty = true
	m.log.Info("participant joined", "participant", w.id, "name", info.Name, "moderator", w.moderator)
	return nil
}

// randomTag returns a random sender tag (see package parley/identity: KID = tag<<16 | epoch).
func randomTag() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint32(b[:])
}

// leave takes id out of the lobby or the meeting; reason is what the others see
// (signal.ReasonLeft or signal.ReasonRemoved). It reports whether id was there.
func (m *meeting) leave(id, reason string) bool {
	if i := m.waiting(id); i >= 0 {
		m.lobby = slices.Delete(m.lobby, i, i+1)
		m.toModerators(&signal.Message{Type: signal.TypeWaitingRemove, ID: id})
		m.log.Info("left the lobby", "participant", id)
		return true
	}
	w := m.members[id]
	if w == nil {
		return false
	}
	delete(m.members, id)
	delete(m.tags, w.tag)
	m.infoSize -= w.infoSize
	m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantLeft, ID: id, Reason: reason}), "")
	m.closers = append(m.closers, w.media)
	m.dirty = true
	m.log.Info("participant left", "participant", id, "reason", reason)
	return true
}

// end sends everyone here away, the lobby first, with code and text.
func (m *meeting) end(code, text string) {
	for _, w := range slices.Clone(m.lobby) {
		m.sendAway(w, code, text)
	}
	for _, w := range m.members {
		m.sendAway(w, code, text)
	}
}

// sendAway ends w's connection with code and text, counted as a disconnect for code.
func (m *meeting) sendAway(w *member, code, text string) {
	reason := signal.ReasonLeft
	if code == signal.CodeRemoved {
		reason = signal.ReasonRemoved
	}
	m.leave(w.id, reason)
	m.cfg.Metrics.Disconnected(code)
	w.conn.End(code, text)
}

// member returns the admitted member id, or a refusal for a client that is not one.
func (m *meeting) member(id string) (*member, *Refusal) {
	if w := m.members[id]; w != nil {
		return w, nil
	}
	if m.waiting(id) >= 0 {
		return nil, refuse(signal.CodeNotJoined, "you are waiting in the lobby until a moderator admits you")
	}
	return nil, refuse(signal.CodeNotJoined, "you are not in the meeting")
}

// refused counts a refusal of w's message with code; a member refused too often within the
// flood window is sent away. It returns the refusal to answer with.
func (m *meeting) refused(w *member, r *Refusal, now time.Time) *Refusal {
	m.cfg.Metrics.Refused(r.Code)
	l := m.cfg.Limits
	if now.Sub(w.refusedFrom) > l.FloodWindow {
		w.refusedFrom, w.refused = now, 0
	}
	if w.refused++; w.refused >= l.FloodRefusals {
		m.log.Warn("participant sent away for flooding", "participant", w.id, "refused", w.refused, "code", r.Code)
		m.sendAway(w, CodeFlood, fmt.Sprintf("too many refused messages (%d in %v): disconnected", w.refused, l.FloodWindow))
	}
	return r
}

// Changes a participant makes to how others see it.
type Change int

const (
	ChangeHand Change = iota
	ChangeMic
	ChangeCamera
	ChangeScreen
)

// change applies one of id's own changes, rate-limited by kind.
func (m *meeting) change(id string, c Change, on bool, now time.Time) *Refusal {
	w, r := m.member(id)
	if r != nil {
		return r
	}
	var b *Bucket
	var f *bool
	switch c {
	case ChangeHand:
		b, f = &w.hand, &w.info.Hand
	case ChangeMic:
		b, f = &w.mute, &w.info.MicMuted
	case ChangeCamera:
		b, f = &w.mute, &w.info.CameraMuted
	case ChangeScreen: // follows offers, which allow limits
		f = &w.info.Screen
	default:
		return refuse(signal.CodeBadMessage, "unknown change")
	}
	if b != nil && !b.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many changes; wait a moment"), now)
	}
	if *f == on {
		return nil
	}
	*f = on
	p := w.info.participant(id)
	m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}), "")
	m.dirty = true
	return nil
}

// Actions a member takes that only a rate limit governs.
type Action int

const (
	ActionOffer Action = iota // an offer on its pub connection
	ActionChat                // a chat message
)

// allow rate-limits id's action.
func (m *meeting) allow(id string, a Action, now time.Time) *Refusal {
	w, r := m.member(id)
	if r != nil {
		return r
	}
	b, what, rate := &w.offer, "offers", m.cfg.Limits.OfferRate
	if a == ActionChat {
		b, what, rate = &w.chat, "chat messages", m.cfg.Limits.ChatRate
	}
	if !b.Allow(now) {
		return m.refused(w, refuse(CodeRateLimited, "too many %s (at most %g a second); wait a moment", what, rate), now)
	}
	return nil
}

// chat hands a chat message of the room's log to every member.
func (m *meeting) chat(c signal.ChatMessage) {
	m.broadcast(encode(&signal.Message{Type: signal.TypeChat, Chat: &c}), "")
}

// snapshot is the node's participants of the room as published, ordered by id, without
// their tracks (the publisher adds them).
func (m *meeting) snapshot() []Published {
	out := make([]Published, 0, len(m.members))
	for id, w := range m.members {
		out = append(out, Published{ID: id, Info: w.info})
	}
	slices.SortFunc(out, func(a, b Published) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Published is one participant of a snapshot handed to the publisher.
type Published struct {
	ID   string
	Info Info
}

// tick sends away whoever waited in the lobby too long and whoever's media did not connect
// in time.
func (m *meeting) tick(now time.Time) {
	l := m.cfg.Limits
	m.releaseHeld(now)
	for _, w := range slices.Clone(m.lobby) {
		if now.Sub(w.since) >= l.LobbyWait {
			m.sendAway(w, CodeLobbyTimeout, fmt.Sprintf("nobody admitted you within %v; try again later", l.LobbyWait))
		}
	}
	for _, w := range m.members {
		switch {
		case w.connected:
		case w.media.Connected():
			w.connected = true
		case w.started.IsZero():
			if w.media.Started() {
				w.started = now
			}
		case now.Sub(w.started) >= l.MediaDeadline:
			m.log.Info("participant's media did not connect in time", "participant", w.id)
			m.sendAway(w, CodeMediaTimeout, fmt.Sprintf("your audio and video did not connect within %v; check your network and join again", l.MediaDeadline))
		}
	}
}

// idle returns the member admitted longest ago whose media was never set up for
// Limits.MediaDeadline (a participant who listens where nobody publishes, or a client that
// never does media at all), or nil. It gives its place to a newcomer when the room is full.
func (m *meeting) idle(now time.Time) *member {
	var oldest *member
	for _, w := range m.members {
		if w.connected || !w.started.IsZero() || now.Sub(w.since) < m.cfg.Limits.MediaDeadline {
			continue
		}
		if w.media.Connected() || w.media.Started() {
			continue // since the last tick
		}
		if oldest == nil || w.since.Before(oldest.since) {
			oldest = w
		}
	}
	return oldest
}
