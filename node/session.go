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
)

// Signalling session limits and timings.
const (
	sessionQueueLen = 256              // messages queued for one client before it counts as too slow
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
	chatRate    = 5  // chat messages per second, sustained, per participant
	chatBurst   = 10 // chat messages in a burst
)

// codeRateLimited is the error code for a chat message over the rate limit. It extends the
// signal.Code* set; clients show the text like any other error.
const codeRateLimited = "rate_limited"

// errOversized is readMessage's error for a message over signal.MaxMessageSize.
var errOversized = errors.New("oversized message")

// session is one client's signalling WebSocket. Its read loop runs in the HTTP handler's
// goroutine and owns the fields marked so; one writer goroutine owns writes, fed by a bounded
// queue that nobody ever blocks on (a client whose queue fills up is disconnected); one
// keepalive goroutine pings.
type session struct {
	node   *Node
	conn   *websocket.Conn
	log    *slog.Logger
	roomID string

	ctx         context.Context
	cancel      context.CancelFunc
	out         chan []byte
	stopWriting chan struct{} // closed when the read loop is done: flush and return
	writerDone  chan struct{}
	pingDone    chan struct{}
	state       atomic.Int32 // stateNew, stateWaiting or stateJoined

	killOnce    sync.Once
	closeCode   websocket.StatusCode // set by the first kill or by the read loop's end
	closeReason string

	// Set by the read loop's join before the session is visible to anyone else; then fixed.
	id        string
	room      Room
	keys      identity.PublicIdentity
	moderator bool

	// Owned by the read loop.
	chat      tokenBucket
	badInARow int

	// Entering the meeting (from the read loop, or from a moderator's admit) and leaving it.
	enterMu sync.Mutex
	media   *media.Participant // set once by enter before state becomes stateJoined; guarded by enterMu
	gone    bool               // the session left or was removed; guarded by enterMu

	tag  uint32             // sender tag in the room's KIDs; set by enter under node.hub.mu
	info signal.Participant // guarded by node.hub.mu once in the hub
}

// Session states: a new session has not joined yet; a waiting one sits in its room's lobby; a
// joined one is in the meeting.
const (
	stateNew int32 = iota
	stateWaiting
	stateJoined
)

func newSession(n *Node, conn *websocket.Conn, roomID string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		node: n, conn: conn, roomID: roomID,
		log: n.log.With("room", roomID),
		ctx: ctx, cancel: cancel,
		out:         make(chan []byte, sessionQueueLen),
		stopWriting: make(chan struct{}),
		writerDone:  make(chan struct{}),
		pingDone:    make(chan struct{}),
		chat:        tokenBucket{rate: chatRate, burst: chatBurst},
	}
}

// run serves the session until the client leaves, the connection fails or the node stops.
func (s *session) run() {
	s.conn.SetReadLimit(wsHardLimit)
	go s.writeLoop()
	go s.keepalive()
	joinTimer := time.AfterFunc(joinDeadline, func() {
		if s.state.Load() == stateNew {
			s.kill(websocket.StatusPolicyViolation, "no join message")
		}
	})
	code, reason := s.readLoop()
	joinTimer.Stop()
	s.leave(signal.ReasonLeft)
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

// enqueue queues data for the client without blocking. A full queue means the client does
// not keep up; it is disconnected rather than allowed to hold anyone up.
func (s *session) enqueue(data []byte) {
	select {
	case s.out <- data:
	default:
		s.kill(websocket.StatusPolicyViolation, "too slow: signalling messages piled up")
	}
}

// send queues m for the client. The SFU calls it (as its SendFunc) from its own goroutines.
func (s *session) send(m *signal.Message) {
	data, err := json.Marshal(m)
	if err != nil {
		s.log.Error("encode signalling message", "type", m.Type, "err", err)
		return
	}
	s.enqueue(data)
}

// sendError counts and sends an error message.
func (s *session) sendError(code, text string) {
	s.node.metrics.signallingError(code)
	s.send(&signal.Message{Type: signal.TypeError, Code: code, Error: text})
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
			return websocket.StatusMessageTooBig, "message too big"
		case errors.Is(err, signal.ErrBadMessage):
		case err != nil:
			return websocket.StatusNormalClosure, ""
		default:
			m, err = signal.Decode(data)
		}
		if err != nil {
			if s.bad(signal.CodeBadMessage, err.Error()) {
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
	}
	s.badInARow = 0
	switch m.Type {
	case signal.TypeJoin:
		return s.bad(signal.CodeBadMessage, "already joined")
	case signal.TypeOffer:
		screen := false
		for _, t := range m.Tracks {
			screen = screen || t.Source == signal.SourceScreen
		}
		if err := s.media.Handle(m); err != nil {
			return s.mediaError(m, err)
		}
		s.updateInfo(func(p *signal.Participant) bool {
			changed := p.Screen != screen
			p.Screen = screen
			return changed
		})
	case signal.TypeAnswer, signal.TypeCandidate, signal.TypeLayer:
		if err := s.media.Handle(m); err != nil {
			return s.mediaError(m, err)
		}
	case signal.TypeChat:
		s.chatMessage(m.SFrame)
	case signal.TypeKey:
		s.relayKey(m.Envelope)
	case signal.TypeAdmit:
		s.admit(m.ID)
	case signal.TypeRemove:
		s.remove(m.ID)
	case signal.TypeHand:
		raised := *m.Raised
		s.updateInfo(func(p *signal.Participant) bool {
			changed := p.Hand != raised
			p.Hand = raised
			return changed
		})
	case signal.TypeMute:
		muted, source := *m.Muted, m.Source
		s.updateInfo(func(p *signal.Participant) bool {
			var f *bool
			switch source {
			case signal.SourceMic:
				f = &p.MicMuted
			case signal.SourceCamera:
				f = &p.CameraMuted
			default:
				return false // a screen share is stopped, not muted
			}
			changed := *f != muted
			*f = muted
			return changed
		})
	}
	return false
}

// mediaError answers an error from the SFU; it reports whether the session should end.
func (s *session) mediaError(m *signal.Message, err error) bool {
	switch {
	case errors.Is(err, media.ErrBadSDP):
		s.sendError(signal.CodeBadSDP, err.Error())
	case errors.Is(err, media.ErrClosed):
		s.sendError(signal.CodeInternal, "the node is shutting down")
		return true
	case m.Type == signal.TypeLayer:
		s.sendError(signal.CodeBadMessage, err.Error())
	default:
		s.log.Warn("media rejected a message", "participant", s.id, "type", m.Type, "err", err)
		s.sendError(signal.CodeInternal, fmt.Sprintf("the node could not apply %s: %v", m.Type, err))
	}
	return false
}

// join takes the client's join: into the lobby if the room has one and the client is not a
// moderator, else into the meeting. It reports whether the session should end.
func (s *session) join(m *signal.Message) bool {
	n := s.node
	room, err := n.lookupRoom(s.roomID)
	if errors.Is(err, ErrNotFound) {
		s.sendError(signal.CodeUnknownRoom, fmt.Sprintf("there is no room %q on this node or its federation; check the link", s.roomID))
		return true
	}
	if err == nil && !room.openTo(n.cfg.Organisation) {
		s.sendError(signal.CodeNotAllowed, room.closedText(n.cfg.Organisation))
		return true
	}
	if err != nil {
		s.log.Error("read room", "err", err)
		s.sendError(signal.CodeInternal, "the node could not read the room; try again later")
		return true
	}
	keys, err := identity.ParsePublicIdentity(m.Keys.SigPub, m.Keys.Age)
	if err != nil {
		s.sendError(signal.CodeBadKeys, fmt.Sprintf("your public keys were refused: %v", err))
		return true
	}
	s.id = newParticipantID()
	s.log = s.log.With("participant", s.id)
	s.room, s.keys = room, keys
	s.moderator = n.isModerator(room.ID, m.Mod)
	s.info = signal.Participant{ID: s.id, Name: strings.TrimSpace(m.Name)}
	if m.Mod != "" && !s.moderator {
		s.sendError(signal.CodeNotAllowed, "the moderator link is not valid for this room; joining as a participant")
	}
	if room.Lobby && !s.moderator {
		s.state.Store(stateWaiting)
		s.send(&signal.Message{Type: signal.TypeLobby, Room: s.signalRoom()})
		n.hub.wait(s)
		s.log.Info("waiting in the lobby", "name", s.info.Name)
		return false
	}
	return s.enter()
}

func (s *session) signalRoom() *signal.Room {
	return &signal.Room{ID: s.room.ID, Title: s.room.Title, Lobby: s.room.Lobby}
}

// enter brings the client into the meeting: a certificate, the joined message, the SFU. It
// runs in the session's read loop, or in a moderator's when admitted from the lobby. It
// reports whether the session should end.
func (s *session) enter() bool {
	n := s.node
	s.enterMu.Lock()
	defer s.enterMu.Unlock()
	if s.gone {
		return true
	}
	history, err := n.chatHistory(s.roomID)
	if err != nil {
		s.log.Error("read chat history", "err", err)
		s.sendError(signal.CodeInternal, "the node could not read the room's chat; try again later")
		return true
	}
	var you signal.Participant
	err = n.hub.join(s, n.cfg.MaxParticipantsPerRoom, func(tag uint32, others []signal.Participant) error {
		cert, err := s.certificate(tag)
		if err != nil {
			return err
		}
		s.tag = tag
		s.info.Org, s.info.Moderator, s.info.Cert = n.cfg.Name, s.moderator, &cert
		you = s.info
		s.send(&signal.Message{Type: signal.TypeJoined, You: &you, Room: s.signalRoom(),
			Participants: others, History: history, NodeKeys: n.trustedNodeKeys()})
		if s.moderator {
			s.enqueue(n.hub.waitingMessage(s.roomID))
		}
		return nil
	})
	if errors.Is(err, errRoomFull) {
		s.sendError(signal.CodeRoomFull, fmt.Sprintf("the room is full (%d participants)", n.cfg.MaxParticipantsPerRoom))
		return true
	}
	if err != nil {
		s.log.Error("issue certificate", "err", err)
		s.sendError(signal.CodeInternal, "the node could not certify your keys; try again later")
		return true
	}
	p, err := n.sfu.Join(s.roomID, s.id, s.send)
	if err != nil {
		if n.hub.leave(s) {
			n.hub.broadcast(s.roomID, &signal.Message{Type: signal.TypeParticipantLeft, ID: s.id}, s)
		}
		s.log.Error("join the SFU", "err", err)
		s.sendError(signal.CodeInternal, "the node could not add you to the meeting; try again later")
		return true
	}
	s.media = p
	s.state.Store(stateJoined)
	n.publishParticipants(s.roomID)
	s.log.Info("participant joined", "name", you.Name, "moderator", s.moderator)
	return false
}

// updateInfo changes the participant's state as everyone sees it.
func (s *session) updateInfo(change func(p *signal.Participant) bool) {
	if s.node.hub.update(s, change) {
		s.node.publishParticipants(s.roomID)
	}
}

// chatMessage stores an end-to-end encrypted chat message and sends it to everyone in the
// room, sender included.
func (s *session) chatMessage(ciphertext []byte) {
	now := time.Now()
	if !s.chat.allow(now) {
		s.sendError(codeRateLimited, fmt.Sprintf("too many chat messages (at most %d a second); wait a moment", chatRate))
		return
	}
	if err := s.node.appendChat(s.roomID, chatEntry{From: s.id, Name: s.info.Name, SFrame: ciphertext}); err != nil {
		s.log.Error("store chat message", "err", err)
		s.sendError(signal.CodeInternal, "the node could not store your message; try again")
	}
}

// leave takes the client out of the lobby or the meeting, once; reason says why others see
// it go (signal.ReasonLeft or signal.ReasonRemoved).
func (s *session) leave(reason string) {
	s.enterMu.Lock()
	if s.gone {
		s.enterMu.Unlock()
		return
	}
	s.gone = true
	p := s.media
	s.enterMu.Unlock()
	if s.node.hub.dropWaiting(s) {
		s.log.Info("left the lobby")
	}
	if p == nil {
		return
	}
	if s.node.hub.leave(s) {
		s.node.hub.broadcast(s.roomID, &signal.Message{Type: signal.TypeParticipantLeft, ID: s.id, Reason: reason}, s)
		s.node.publishParticipants(s.roomID)
	}
	if err := p.Close(); err != nil {
		s.log.Warn("leave the SFU", "err", err)
	}
	s.log.Info("participant left", "reason", reason)
}

// tokenBucket is a rate limiter: rate tokens a second, at most burst saved up.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.burst, b.tokens+d*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
