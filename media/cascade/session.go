package cascade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/quic-go/quic-go"
)

// ctrlQueue is the number of encoded control frames waiting for the control writer. A peer
// that lets it fill up is not reading its control stream.
const ctrlQueue = 256

// session is one QUIC connection of a link, from the exchange of hellos to its close. Its
// goroutines: readControl (the control stream, in order), writeControl, readDatagrams (the
// receive hot path), sendDatagrams (drains the send queue) and tick (NACK timing, stats,
// liveness; it also closes the connection when the session ends).
type session struct {
	l     *Link
	ep    *Endpoint
	conn  *quic.Conn
	ctrl  *quic.Stream
	log   *slog.Logger
	queue *sendQueue
	out   chan []byte // encoded control frames

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce   sync.Once
	closeCode   quic.ApplicationErrorCode
	closeReason string
	cause       error

	loss      lossMeter
	rxBytes   atomic.Uint64 // datagram bytes received on this connection
	txDropped atomic.Uint64 // datagrams dropped before sending on this connection
	peerDrops atomic.Uint64 // datagrams the peer reported dropping, not yet seen by tick

	mu        sync.Mutex
	nextNum   uint16
	inbound   map[uint16]*Inbound  // our subscriptions, by the number we chose
	outbound  map[uint16]*Outbound // the peer's subscriptions, by the number it chose
	outKeys   map[trackKey]uint16
	peerStats wireStats // last stats message from the peer
	inSnap    atomic.Pointer[map[uint16]*Inbound]
}

func newSession(l *Link, conn *quic.Conn, ctrl *quic.Stream) *session {
	s := &session{
		l: l, ep: l.ep, conn: conn, ctrl: ctrl,
		log:      l.log.With("conn", conn.RemoteAddr().String()),
		queue:    newSendQueue(l.ep.cfg.SendQueue),
		out:      make(chan []byte, ctrlQueue),
		inbound:  map[uint16]*Inbound{},
		outbound: map[uint16]*Outbound{},
		outKeys:  map[trackKey]uint16{},
	}
	empty := map[uint16]*Inbound{}
	s.inSnap.Store(&empty)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

func (s *session) start() {
	for _, f := range []func(){s.readControl, s.writeControl, s.readDatagrams, s.sendDatagrams, s.tick} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f()
		}()
	}
}

// close ends the session: the tick goroutine closes the connection with code and reason.
// cause is what the link reports as the reason the connection ended. It never blocks.
func (s *session) close(code quic.ApplicationErrorCode, reason string, cause error) {
	s.closeOnce.Do(func() {
		s.closeCode, s.closeReason, s.cause = code, reason, cause
		s.cancel()
	})
}

// abandon closes the connection of a session that was never started.
func (s *session) abandon(code quic.ApplicationErrorCode, reason string) {
	s.close(code, reason, nil)
	_ = s.conn.CloseWithError(code, reason)
}

// closeConn closes the QUIC connection as close asked. It runs once the session is done.
func (s *session) closeConn() {
	<-s.ctx.Done()
	_ = s.conn.CloseWithError(s.closeCode, s.closeReason)
}

// wait waits for every goroutine of a session that was started.
func (s *session) wait() { s.wg.Wait() }

// err is why the session ended; valid after wait.
func (s *session) err() error { return s.cause }

// fail ends the session after an I/O error.
func (s *session) fail(err error) {
	if s.ctx.Err() != nil {
		return
	}
	switch {
	case errors.Is(err, errBadControl):
		s.close(CodeProtocol, reasonText(err.Error()), err)
	case errors.Is(err, io.EOF):
		s.close(CodeProtocol, "control stream ended", errors.New("peer ended the control stream"))
	default:
		s.close(CodeClosed, "", closeError(err))
	}
}

// teardown ends what lived on the connection: the peer's subscriptions to local tracks. The
// link has already unbound its own subscriptions. Called after wait.
func (s *session) teardown() {
	s.mu.Lock()
	outs := make([]*Outbound, 0, len(s.outbound))
	for _, o := range s.outbound {
		outs = append(outs, o)
	}
	s.outbound, s.outKeys, s.inbound = nil, nil, nil
	s.mu.Unlock()
	empty := map[uint16]*Inbound{}
	s.inSnap.Store(&empty)
	for _, o := range outs {
		o.shut()
	}
}

// send queues a control message. A message that is not essential (keyframe and NACK
// requests, stats) is dropped if the queue is half full; an essential one that does not fit
// ends the session. It never blocks.
func (s *session) send(m *message, essential bool) {
	b, err := appendMessage(nil, m)
	if err != nil {
		s.log.Error("cascade control message not sent", "type", m.typ, "err", err)
		return
	}
	if !essential && len(s.out) >= ctrlQueue/2 {
		return // the rest of the queue is kept for what must not be lost
	}
	select {
	case s.out <- b:
	default:
		s.close(CodeOverload, "control stream not read", errors.New("peer does not read its control stream"))
	}
}

func (s *session) sendEnd(num uint16, code endCode, reason string) {
	s.send(&message{typ: msgEnd, num: num, code: code, reason: reasonText(reason)}, true)
}

// reasonText makes an error text fit a reason field: no control characters, at most
// maxReasonLen bytes, cut at a character boundary.
func reasonText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	for len(s) > maxReasonLen {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func (s *session) writeControl() {
	var batch []byte
	for {
		select {
		case <-s.ctx.Done():
			return
		case b := <-s.out:
			batch = append(batch[:0], b...)
		}
		// Whatever else is queued goes in the same write.
	more:
		for len(batch) < 16<<10 {
			select {
			case b := <-s.out:
				batch = append(batch, b...)
			default:
				break more
			}
		}
		if _, err := s.ctrl.Write(batch); err != nil {
			s.fail(err)
			return
		}
	}
}

func (s *session) readControl() {
	var buf [controlHeaderLen + maxControlBody]byte
	for {
		m, err := readMessage(s.ctrl, &buf)
		if err != nil {
			s.fail(err)
			return
		}
		if err := s.handle(&m); err != nil {
			s.close(CodeProtocol, reasonText(err.Error()), err)
			return
		}
	}
}

// handle acts on one control message from the peer. An error is a protocol violation that
// ends the connection; a request about a subscription that no longer exists is ignored (the
// two sides may have crossed).
func (s *session) handle(m *message) error {
	switch m.typ {
	case msgSubscribe:
		return s.onSubscribe(m)
	case msgSubscribed:
		s.onSubscribed(m)
	case msgEnd:
		s.onEnd(m)
	case msgUnsubscribe:
		if o := s.takeOutbound(m.num); o != nil {
			o.shut()
		}
	case msgLayers:
		if o := s.outboundByNum(m.num); o != nil {
			o.layers.Store(uint32(m.layers))
		}
	case msgKeyframe:
		s.l.c.keyframesReceived.Add(1)
		if o := s.outboundByNum(m.num); o != nil {
			o.keyframe(int(m.layer))
		}
	case msgNack:
		s.l.c.nacksReceived.Add(uint64(len(m.seqs)))
		if o := s.outboundByNum(m.num); o != nil {
			o.retransmit(int(m.layer), m.seqs)
		}
	case msgStats:
		s.onStats(m)
	default:
		return fmt.Errorf("%w: unexpected %s", errBadControl, m.typ)
	}
	return nil
}

// onSubscribe serves a peer's subscription to a local track, if the peer takes part in the
// room and the track exists.
func (s *session) onSubscribe(m *message) error {
	l := s.l
	key := trackKey{m.room, m.track}
	if !s.ep.cfg.Auth.AllowRoom(l.peer, m.room) {
		s.log.Info("cascade subscribe refused: room not shared", "room", m.room, "track", m.track)
		s.sendEnd(m.num, endRoomNotShared, fmt.Sprintf("node %s takes no part in room %s", l.id, m.room))
		return nil
	}
	s.mu.Lock()
	if _, used := s.outbound[m.num]; used {
		s.mu.Unlock()
		return fmt.Errorf("%w: subscription number %d already in use", errBadControl, m.num)
	}
	if _, dup := s.outKeys[key]; dup {
		s.mu.Unlock()
		s.sendEnd(m.num, endDuplicate, "track "+m.track+" of room "+m.room+" is already subscribed")
		return nil
	}
	if len(s.outbound) >= s.ep.cfg.MaxSubscriptions {
		s.mu.Unlock()
		s.sendEnd(m.num, endLimit, fmt.Sprintf("at most %d subscriptions per link", s.ep.cfg.MaxSubscriptions))
		return nil
	}
	o := newOutbound(s, m.num, key, m.layers)
	s.outbound[m.num] = o
	s.outKeys[key] = m.num
	s.mu.Unlock()

	var (
		info TrackInfo
		h    OutboundHandler
		err  = fmt.Errorf("%w: %s in room %s", ErrNoTrack, m.track, m.room)
	)
	if src := s.ep.cfg.Tracks; src != nil {
		info, h, err = src.OpenTrack(o)
		if err == nil {
			err = checkOpened(info, h)
		}
	}
	if err != nil {
		s.takeOutbound(m.num)
		o.closed.Store(true)
		s.sendEnd(m.num, endNoTrack, err.Error())
		return nil
	}
	o.bind(info, h)
	if o.closed.Load() {
		return nil // ended by the source already
	}
	s.send(&message{typ: msgSubscribed, num: m.num, info: info}, true)
	return nil
}

// checkOpened checks what a TrackSource returned for an accepted subscription.
func checkOpened(info TrackInfo, h OutboundHandler) error {
	if h == nil {
		return errors.New("track source returned no handler")
	}
	m := message{typ: msgSubscribed, num: 1, info: info}
	if err := m.check(); err != nil {
		return fmt.Errorf("track source returned an invalid description: %w", err)
	}
	return nil
}

func (s *session) outboundByNum(num uint16) *Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbound[num]
}

// takeOutbound removes and returns the peer's subscription num, if it exists.
func (s *session) takeOutbound(num uint16) *Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.outbound[num]
	if o != nil {
		delete(s.outbound, num)
		delete(s.outKeys, o.key)
	}
	return o
}

func (s *session) outboundStats() []TrackStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TrackStats, 0, len(s.outbound))
	for _, o := range s.outbound {
		out = append(out, o.stats())
	}
	return out
}

// subscribe sends in's subscription on this connection under a new number. Called with
// l.mu held.
func (s *session) subscribe(in *Inbound) {
	if in.sess == s {
		return
	}
	s.mu.Lock()
	if s.inbound == nil {
		s.mu.Unlock()
		return // torn down; the next session subscribes
	}
	num := s.allocNum()
	s.inbound[num] = in
	s.publishInbound()
	s.mu.Unlock()
	in.sess, in.num = s, num
	in.resetNack()
	s.send(&message{typ: msgSubscribe, num: num, layers: in.Layers(), room: in.key.room, track: in.key.track}, true)
}

// allocNum picks an unused subscription number, the next after the last one given, so that a
// number is not reused while datagrams for its previous holder may still be in flight.
// Called with s.mu held; len(s.inbound) < 65535.
func (s *session) allocNum() uint16 {
	for {
		s.nextNum++
		if s.nextNum == 0 {
			continue
		}
		if _, used := s.inbound[s.nextNum]; !used {
			return s.nextNum
		}
	}
}

// publishInbound makes the datagram reader see the current subscriptions. Called with s.mu
// held.
func (s *session) publishInbound() {
	snap := maps.Clone(s.inbound)
	s.inSnap.Store(&snap)
}

// dropInbound forgets our subscription num on this connection.
func (s *session) dropInbound(num uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inbound == nil {
		return
	}
	delete(s.inbound, num)
	s.publishInbound()
}

// boundInbound returns our subscription num if in is still the one bound to it. Called with
// l.mu held.
func (s *session) boundInbound(num uint16) *Inbound {
	s.mu.Lock()
	in := s.inbound[num]
	s.mu.Unlock()
	if in == nil || in.sess != s || in.num != num {
		return nil
	}
	return in
}

// onSubscribed completes our subscription: the peer accepted it.
func (s *session) onSubscribed(m *message) {
	l := s.l
	l.mu.Lock()
	in := s.boundInbound(m.num)
	if in == nil {
		l.mu.Unlock()
		return
	}
	in.info = m.info
	in.video.Store(m.info.Video())
	first := !in.answered
	in.answered = true
	l.mu.Unlock()
	if first {
		in.answer <- nil
	}
	if m.info.Video() {
		// A subscription (re)starts on a keyframe.
		for layer := range MaxLayers {
			if in.Layers().Has(layer) {
				in.requestKeyframe(layer, true)
			}
		}
	}
}

// onEnd ends our subscription: the peer refused it or stopped it.
func (s *session) onEnd(m *message) {
	l := s.l
	l.mu.Lock()
	in := s.boundInbound(m.num)
	if in == nil {
		l.mu.Unlock()
		return
	}
	registered, _, _ := l.removeInboundLocked(in)
	answered := in.answered
	s.dropInbound(m.num)
	l.mu.Unlock()
	if registered {
		s.log.Info("cascade subscription ended by peer", "room", in.key.room, "track", in.key.track, "reason", m.reason)
		in.end(fmt.Errorf("refused by peer: %w (%s)", m.code.err(), m.reason), answered)
	}
}

// onStats takes the peer's view of what we sent it.
func (s *session) onStats(m *message) {
	s.mu.Lock()
	prev := s.peerStats
	s.peerStats = m.stats
	s.mu.Unlock()
	c := &s.l.c
	dRx := sub0(m.stats.rxDatagrams, prev.rxDatagrams)
	dLost := sub0(m.stats.rxLost, prev.rxLost)
	c.outLost.Add(dLost)
	if dRx+dLost > 0 {
		storeFloat(&c.outLoss, float64(dLost)/float64(dRx+dLost))
	}
	dDrop := sub0(m.stats.txDropped, prev.txDropped)
	c.inDropped.Add(dDrop)
	s.peerDrops.Add(dDrop)
}

// sub0 is a-b, or 0 if b > a.
func sub0(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
