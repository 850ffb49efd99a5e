package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"parley/identity"
	"parley/media"
	"parley/media/signal"
	"parley/media/transcribe/agent"
	"parley/node/meeting"
)

// Signalling session limits and timings.
const (
	sessionQueueLen = 512              // messages queued for one client before it counts as too slow
	writeTimeout    = 10 * time.Second // one WebSocket write
	flushTimeout    = 3 * time.Second  // writing what is queued when a session ends
	pingInterval    = 20 * time.Second // WebSocket keepalive pings
	pingTimeout     = 15 * time.Second // wait for the pong
	joinDeadline    = 30 * time.Second // the first join must arrive within
	maxBadInARow    = 10               // consecutive bad messages before the node hangs up
	historyLen      = 200              // chat messages sent in joined
	// wsHardLimit is the size past which a message closes the socket (1009) instead of being
	// answered: messages between signal.MaxMessageSize and this are read, discarded and
	// answered with bad_message.
	wsHardLimit = 1 << 20
	// endGrace is how long a connection the node ends stays open so that the client reads
	// why. It receives nothing else meanwhile: it is out of the room and the SFU.
	endGrace = time.Second
)

// errOversized is readMessage's error for a message over signal.MaxMessageSize.
var errOversized = errors.New("oversized message")

// session is one client's signalling WebSocket. Its read loop runs in the HTTP handler's
// goroutine and owns the fields marked so; one writer goroutine owns writes, fed by a bounded
// queue that nobody ever blocks on (a client whose queue fills up is disconnected); one
// keepalive goroutine pings. What the client is in the meeting belongs to the room's
// goroutine (package node/meeting); the session is its Conn.
type session struct {
	node   *Node
	conn   *websocket.Conn
	log    *slog.Logger
	roomID string
	addr   string // the client's address, for the per-address session limit
	owner  bool   // signed in as the person who made the room: joins as its moderator
	// verifiedName is the identity provider's name of the person signed in, "" for a guest:
	// a signed-in person joins under it, whatever name the client sends. account is their
	// account there, which their certificate names.
	verifiedName string
	account      *meeting.Account

	ctx         context.Context
	cancel      context.CancelFunc
	out         chan []byte
	stopWriting chan struct{} // closed when the read loop is done: flush and return
	writerDone  chan struct{}
	pingDone    chan struct{}
	state       atomic.Int32 // stateNew, stateWaiting, stateJoined or stateEnded

	killOnce    sync.Once
	closeCode   websocket.StatusCode // set by the first kill or by the read loop's end
	closeReason string

	// Set by the read loop's join before the session is visible to anyone else; then fixed.
	id   string
	name string
	keys identity.PublicIdentity
	live *meeting.Room // held from join until the session ends

	// Set by Admitted (on the room's goroutine) before state becomes stateJoined, which
	// publishes them to the read loop.
	tag   uint32
	media meeting.MediaSession

	badInARow int // owned by the read loop

	// What the SFU sends before the joined message waits for it (SendMedia, Admitted).
	mediaMu   sync.Mutex
	joinedOut bool     // guarded by mediaMu
	mediaHeld [][]byte // guarded by mediaMu
}

// Session states: a new session has not joined yet; a waiting one sits in its room's lobby; a
// joined one is in the meeting; an ended one was let go by the meeting and waits to close.
const (
	stateNew int32 = iota
	stateWaiting
	stateJoined
	stateEnded
)

func newSession(n *Node, conn *websocket.Conn, roomID, addr string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		node: n, conn: conn, roomID: roomID, addr: addr,
		log: n.log.With("room", roomID),
		ctx: ctx, cancel: cancel,
		out:         make(chan []byte, sessionQueueLen),
		stopWriting: make(chan struct{}),
		writerDone:  make(chan struct{}),
		pingDone:    make(chan struct{}),
	}
}

// run serves the session until the client leaves, the connection fails or the node stops.
func (s *session) run() {
	s.conn.SetReadLimit(wsHardLimit)
	go s.writeLoop()
	go s.keepalive()
	joinTimer := time.AfterFunc(joinDeadline, func() {
		if s.state.Load() == stateNew {
			s.node.metrics.disconnected("no_join")
			s.kill(websocket.StatusPolicyViolation, "no join message")
		}
	})
	code, reason := s.readLoop()
	joinTimer.Stop()
	if s.live != nil {
		s.live.Leave(s.id)
		s.live.Release()
	}
	s.killOnce.Do(func() { s.closeCode, s.closeReason = code, reason })
	close(s.stopWriting)
	<-s.writerDone
	if s.ctx.Err() == nil {
		_ = s.conn.Close(s.closeCode, s.closeReason)
	}
	s.cancel()
	_ = s.conn.CloseNow()
	<-s.pingDone
	s.log.Debug("signalling session ended", "participant", s.id, "code", s.closeCode, "reason", s.closeReason)
}

// kill ends the session now, without flushing: the read loop's Reader and any write fail.
func (s *session) kill(code websocket.StatusCode, reason string) {
	s.killOnce.Do(func() { s.closeCode, s.closeReason = code, reason })
	s.cancel()
}

// hangUp ends the session from outside its goroutines with a proper close handshake, after
// whatever was already written. The read loop then ends as if the client had closed.
func (s *session) hangUp(code websocket.StatusCode, reason string) {
	s.killOnce.Do(func() { s.closeCode, s.closeReason = code, reason })
	_ = s.conn.Close(code, reason)
}

// Send implements meeting.Conn: it queues data for the client without blocking. A full
// queue means the client does not keep up; it is disconnected rather than allowed to hold
// anyone up.
func (s *session) Send(data []byte) {
	select {
	case s.out <- data:
	default:
		if s.ctx.Err() == nil {
			s.node.metrics.disconnected("slow")
		}
		s.kill(websocket.StatusPolicyViolation, "too slow: signalling messages piled up")
	}
}

// SendMedia implements meeting.Conn for the SFU, from its own goroutines. Active-speaker
// updates are dropped rather than queued past a full queue: the next one replaces them.
func (s *session) SendMedia(m *signal.Message) {
	data, err := json.Marshal(m)
	if err != nil {
		s.log.Error("encode signalling message", "type", m.Type, "err", err)
		return
	}
	s.mediaMu.Lock()
	defer s.mediaMu.Unlock()
	switch {
	case m.Type == signal.TypeSpeakers && !s.joinedOut:
		// Before joined: the next update replaces it.
	case m.Type == signal.TypeSpeakers:
		select {
		case s.out <- data:
		default:
			s.node.metrics.dropped(signal.TypeSpeakers)
		}
	case !s.joinedOut && len(s.mediaHeld) < maxMediaHeld:
		s.mediaHeld = append(s.mediaHeld, data)
	case !s.joinedOut:
		s.kill(websocket.StatusInternalError, "the SFU sent too much before the meeting let the client in")
	default:
		s.Send(data)
	}
}

// maxMediaHeld bounds what the SFU may send a participant before its joined message.
const maxMediaHeld = 64

// Admitted implements meeting.Conn: the joined message goes out, then what the SFU sent
// meanwhile.
func (s *session) Admitted(a meeting.Admission) {
	s.tag, s.media = a.Tag, a.Media
	s.state.Store(stateJoined)
	s.mediaMu.Lock()
	defer s.mediaMu.Unlock()
	s.Send(a.Joined)
	for _, data := range s.mediaHeld {
		s.Send(data)
	}
	s.mediaHeld, s.joinedOut = nil, true
}

// End implements meeting.Conn: the client reads why, then the connection closes.
func (s *session) End(code, text string) {
	s.state.Store(stateEnded)
	s.sendError(code, text)
	time.AfterFunc(endGrace, func() { s.hangUp(websocket.StatusPolicyViolation, code) })
}

// send queues m for the client.
func (s *session) send(m *signal.Message) {
	data, err := json.Marshal(m)
	if err != nil {
		s.log.Error("encode signalling message", "type", m.Type, "err", err)
		return
	}
	s.Send(data)
}

// sendError counts and sends an error message.
func (s *session) sendError(code, text string) {
	s.node.metrics.signallingError(code)
	s.send(&signal.Message{Type: signal.TypeError, Code: code, Error: text})
}

// refused answers a refusal of the meeting; nil is no refusal.
func (s *session) refused(r *meeting.Refusal) {
	if r != nil {
		s.sendError(r.Code, r.Text)
	}
}

func (s *session) writeLoop() {
	defer close(s.writerDone)
	write := func(ctx context.Context, data []byte) bool {
		ctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		if err := s.conn.Write(ctx, websocket.MessageText, data); err != nil {
			s.kill(websocket.StatusAbnormalClosure, "write failed")
			return false
		}
		return true
	}
	for {
		select {
		case data := <-s.out:
			if !write(s.ctx, data) {
				return
			}
		case <-s.ctx.Done():
			return
		case <-s.stopWriting:
			ctx, cancel := context.WithTimeout(s.ctx, flushTimeout)
			defer cancel()
			for {
				select {
				case data := <-s.out:
					if !write(ctx, data) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (s *session) keepalive() {
	defer close(s.pingDone)
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, pingTimeout)
			err := s.conn.Ping(ctx)
			cancel()
			if err != nil {
				s.node.metrics.disconnected("ping_timeout")
				s.kill(websocket.StatusGoingAway, "keepalive ping unanswered")
				return
			}
		}
	}
}

// readMessage reads one text message of at most signal.MaxMessageSize bytes. A larger one is
// read to its end and discarded (errOversized), up to wsHardLimit where the library closes
// the connection.
func (s *session) readMessage() ([]byte, error) {
	typ, r, err := s.conn.Reader(s.ctx)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, signal.MaxMessageSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > signal.MaxMessageSize {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		return nil, errOversized
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("%w: binary WebSocket messages are not accepted", signal.ErrBadMessage)
	}
	return data, nil
}

// readLoop reads and handles messages until the session should end, and returns the close
// code and reason to send.
func (s *session) readLoop() (websocket.StatusCode, string) {
	for {
		data, err := s.readMessage()
		var m *signal.Message
		switch {
		case errors.Is(err, errOversized):
			err = fmt.Errorf("%w: message is over %d bytes", signal.ErrBadMessage, signal.MaxMessageSize)
		case errors.Is(err, websocket.ErrMessageTooBig):
			s.node.metrics.signallingError(signal.CodeBadMessage)
			s.node.metrics.disconnected("message_too_big")
			return websocket.StatusMessageTooBig, "message too big"
		case errors.Is(err, signal.ErrBadMessage):
		case err != nil:
			return websocket.StatusNormalClosure, ""
		default:
			m, err = signal.Decode(data)
		}
		if err != nil {
			if s.bad(signal.CodeBadMessage, err.Error()) {
				s.node.metrics.disconnected("bad_messages")
				return websocket.StatusPolicyViolation, "too many bad messages"
			}
			continue
		}
		if end := s.handle(m); end {
			return websocket.StatusNormalClosure, ""
		}
	}
}

// bad answers a bad message; it reports whether the client has sent too many in a row.
func (s *session) bad(code, text string) bool {
	s.sendError(code, text)
	s.badInARow++
	return s.badInARow >= maxBadInARow
}

// handle acts on one decoded message; it reports whether the session should end.
func (s *session) handle(m *signal.Message) bool {
	if m.Type == signal.TypePing {
		s.send(&signal.Message{Type: signal.TypePong})
		return false
	}
	if m.Type == signal.TypeLeave {
		return true
	}
	switch s.state.Load() {
	case stateNew:
		if m.Type != signal.TypeJoin {
			return s.bad(signal.CodeNotJoined, fmt.Sprintf("send join before %s", m.Type))
		}
		return s.join(m)
	case stateWaiting:
		return s.bad(signal.CodeNotJoined, fmt.Sprintf("you are waiting in the lobby; %s must wait until a moderator admits you", m.Type))
	case stateEnded:
		return false // the meeting let this client go; the connection closes shortly
	}
	s.badInARow = 0
	switch m.Type {
	case signal.TypeJoin:
		return s.bad(signal.CodeBadMessage, "already joined")
	case signal.TypeOffer:
		if r := s.live.Allow(s.id, meeting.ActionOffer); r != nil {
			s.refused(r)
			return false
		}
		screen := false
		for _, t := range m.Tracks {
			screen = screen || t.Source == signal.SourceScreen
		}
		if err := s.media.Handle(m); err != nil {
			return s.mediaError(m, err)
		}
		s.refused(s.live.Change(s.id, meeting.ChangeScreen, screen))
	case signal.TypeAnswer, signal.TypeCandidate, signal.TypeLayer:
		if err := s.media.Handle(m); err != nil {
			return s.mediaError(m, err)
		}
	case signal.TypeChat:
		s.chatMessage(m.SFrame)
	case signal.TypeKey:
		s.relayKey(m.Envelope)
	case signal.TypeAdmit:
		s.refused(s.live.Admit(s.id, m.ID))
	case signal.TypeRemove:
		s.refused(s.live.Remove(s.id, m.ID))
	case signal.TypeModerate:
		s.refused(s.live.Moderate(s.id, m.Action, m.ID))
	case signal.TypeReact:
		s.refused(s.live.React(s.id, m.Reaction))
	case signal.TypeCaption:
		s.refused(s.live.Caption(s.id, m.SFrame))
	case signal.TypeLang:
		s.refused(s.live.SetLang(s.id, m.Lang))
	case signal.TypeHand:
		s.refused(s.live.Change(s.id, meeting.ChangeHand, *m.Raised))
	case signal.TypeMute:
		switch m.Source {
		case signal.SourceMic:
			s.refused(s.live.Change(s.id, meeting.ChangeMic, *m.Muted))
		case signal.SourceCamera:
			s.refused(s.live.Change(s.id, meeting.ChangeCamera, *m.Muted))
		} // a screen share is stopped, not muted
	}
	return false
}

// mediaError answers an error from the SFU; it reports whether the session should end.
func (s *session) mediaError(m *signal.Message, err error) bool {
	switch {
	case errors.Is(err, media.ErrBadSDP):
		s.sendError(signal.CodeBadSDP, err.Error())
	case errors.Is(err, media.ErrClosed):
		s.sendError(signal.CodeInternal, "you are no longer in the meeting's media (it ended or the node is shutting down)")
		return true
	case m.Type == signal.TypeLayer:
		s.sendError(signal.CodeBadMessage, err.Error())
	default:
		s.log.Warn("media rejected a message", "participant", s.id, "type", m.Type, "err", err)
		s.sendError(signal.CodeInternal, fmt.Sprintf("the node could not apply %s: %v", m.Type, err))
	}
	return false
}

// join takes the client's join to the room's meeting: into its lobby or into the meeting
// (the meeting decides). It reports whether the session should end.
func (s *session) join(m *signal.Message) bool {
	n := s.node
	room, err := n.lookupRoom(s.roomID)
	if errors.Is(err, ErrRoomDeleted) {
		s.sendError(signal.CodeRoomDeleted, "the meeting is over: its host deleted the room")
		return true
	}
	if errors.Is(err, ErrNotFound) {
		s.sendError(signal.CodeUnknownRoom, fmt.Sprintf("there is no room %q on this node or its federation; check the link", s.roomID))
		return true
	}
	if err != nil {
		s.log.Error("read room", "err", err)
		s.sendError(signal.CodeInternal, "the node could not read the room; try again later")
		return true
	}
	if !n.openTo(room) {
		s.sendError(signal.CodeNotAllowed, n.closedText(room))
		return true
	}
	keys, err := identity.ParsePublicIdentity(m.Keys.SigPub, m.Keys.Age)
	if err != nil {
		s.sendError(signal.CodeBadKeys, fmt.Sprintf("your public keys were refused: %v", err))
		return true
	}
	history, err := n.chatHistory(s.roomID)
	if err != nil {
		s.log.Error("read chat history", "err", err)
		s.sendError(signal.CodeInternal, "the node could not read the room's chat; try again later")
		return true
	}
	moderator := s.owner || n.isModerator(room.ID, m.Mod)
	if m.Mod != "" && !moderator {
		s.sendError(signal.CodeNotAllowed, "the moderator link is not valid for this room; joining as a participant")
	}
	s.id = newParticipantID()
	s.log = s.log.With("participant", s.id)
	s.keys, s.name = keys, strings.TrimSpace(m.Name)
	if s.verifiedName != "" {
		s.name = s.verifiedName
	}
	isAgent := m.Agent != ""
	if isAgent {
		if !n.agentToken(room.ID, m.Agent) {
			s.sendError(signal.CodeNotAllowed, "the agent token is not valid for this room")
			return true
		}
		acct := agentAccount
		s.account, s.name, moderator = &acct, agent.Name, false
	}
	if s.live = n.meetings.Acquire(room); s.live == nil {
		s.sendError(signal.CodeInternal, "the node is shutting down")
		return true
	}
	s.state.Store(stateWaiting) // until Admitted
	if r := s.live.Join(meeting.JoinRequest{Conn: s, ID: s.id, Name: s.name, Keys: keys,
		Moderator: moderator, Owner: s.owner && !isAgent, Account: s.account, History: history, Agent: isAgent, Lang: m.Lang}); r != nil {
		s.state.Store(stateEnded)
		s.refused(r)
		return true
	}
	return false
}

// chatMessage stores an end-to-end encrypted chat message in the room's log, which hands it
// to everyone in the room, sender included.
func (s *session) chatMessage(ciphertext []byte) {
	if r := s.live.Allow(s.id, meeting.ActionChat); r != nil {
		s.refused(r)
		return
	}
	if err := s.node.appendChat(s.roomID, chatEntry{From: s.id, Name: s.name, SFrame: ciphertext}); err != nil {
		s.log.Error("store chat message", "err", err)
		s.sendError(signal.CodeInternal, "the node could not store your message; try again")
	}
}
