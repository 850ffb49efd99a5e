package cascade

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Why a link closed a connection itself.
var (
	errUnresponsive = errors.New("peer unresponsive")
	errReplaced     = errors.New("replaced by a newer connection")
)

// Link is this node's relation with one peer node: at most one QUIC connection at a time
// (a session), re-established after a break by the dialing side, and the subscriptions to
// the peer's tracks, which outlive connections. It is safe for concurrent use.
type Link struct {
	ep     *Endpoint
	peer   ed25519.PublicKey
	id     string
	dialer bool
	log    *slog.Logger
	c      linkCounters
	est    *estimator // used by the current session's stats tick only

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	kick   chan struct{} // an incoming session is waiting

	claimed bool // guarded by ep.mu: someone asked for the link with Endpoint.Link

	mu       sync.Mutex
	addr     net.Addr
	sess     *session // the running session; nil while down
	pending  *session // an accepted session waiting to take over
	inbounds map[trackKey]*Inbound
	lastErr  error
	closed   bool
}

func newLink(e *Endpoint, peer ed25519.PublicKey, dialer bool, addr net.Addr) *Link {
	id := nodeID(peer)
	l := &Link{
		ep: e, peer: peer, id: id, dialer: dialer, addr: addr,
		log:      e.log.With("peer", id),
		est:      newEstimator(e.cfg.InitialCapacity),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		inbounds: map[trackKey]*Inbound{},
	}
	l.c.capacity.Store(math.Float64bits(e.cfg.InitialCapacity))
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

func (l *Link) start() { go l.run() }

// Peer is the peer node's key.
func (l *Link) Peer() ed25519.PublicKey { return l.peer }

// Connected reports whether the link has a connection now.
func (l *Link) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess != nil
}

// Capacity is the current estimate, in bits/s, of what the peer can send this node over the
// link (LinkStats.CapacityIn).
func (l *Link) Capacity() float64 { return math.Float64frombits(l.c.capacity.Load()) }

func (l *Link) setAddr(addr net.Addr) {
	l.mu.Lock()
	l.addr = addr
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}: // a dialer without an address waits for one
	default:
	}
}

// offer hands the link an accepted session; it replaces the running one, if any.
func (l *Link) offer(s *session) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		s.abandon(CodeClosed, "link closed")
		return
	}
	old := l.pending
	l.pending = s
	l.mu.Unlock()
	if old != nil {
		old.abandon(CodeReplaced, "replaced by a newer connection")
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// run keeps the link connected until Close: it takes accepted sessions and, on the dialing
// side, dials with bounded backoff and a bound on each attempt that grows while attempts fail
// (a link made by an incoming connection has no address to dial until Endpoint.Link gives it
// one).
func (l *Link) run() {
	defer close(l.done)
	backoff, attempt := minBackoff, l.ep.cfg.DialTimeout
	for {
		l.mu.Lock()
		s := l.pending
		l.pending = nil
		addr := l.addr
		l.mu.Unlock()
		if s == nil && l.dialer && addr != nil {
			conn, stream, err := l.ep.dial(l.ctx, l.peer, addr, attempt)
			if err != nil {
				if l.ctx.Err() != nil {
					return
				}
				l.setErr(err)
				l.log.Debug("cascade dial failed", "addr", addr, "err", err, "timeout", attempt, "retry_in", backoff)
				// Jitter keeps two links from retrying in step.
				wait := backoff/2 + rand.N(backoff/2+1)
				backoff = min(2*backoff, l.ep.cfg.MaxBackoff)
				attempt = min(2*attempt, l.ep.maxDialTimeout())
				select {
				case <-l.ctx.Done():
					return
				case <-l.kick:
				case <-time.After(wait):
				}
				continue
			}
			s = newSession(l, conn, stream)
		}
		if s == nil {
			select {
			case <-l.ctx.Done():
				return
			case <-l.kick:
			}
			continue
		}
		backoff, attempt = minBackoff, l.ep.cfg.DialTimeout
		l.runSession(s)
		if l.ctx.Err() != nil {
			return
		}
		if l.ep.forgetIdle(l) {
			// Made for an incoming connection that is gone, and nobody asked for it.
			l.cancel()
			return
		}
	}
}

// closeIfIdleLocked closes the link if nothing waits on it: no subscription and no pending
// session. Called with l.mu held.
func (l *Link) closeIfIdleLocked() bool {
	if len(l.inbounds) != 0 || l.pending != nil || l.closed {
		return false
	}
	l.closed = true
	return true
}

// runSession runs one connection until it ends, is replaced, or the link closes.
func (l *Link) runSession(s *session) {
	s.start()
	l.mu.Lock()
	l.sess = s
	for _, in := range l.inbounds {
		s.subscribe(in)
	}
	l.mu.Unlock()
	l.c.connects.Add(1)
	l.log.Info("cascade link up", "addr", s.conn.RemoteAddr().String(), "dialer", l.dialer)
wait:
	for {
		select {
		case <-s.ctx.Done():
			break wait
		case <-l.ctx.Done():
			s.close(CodeClosed, "link closed", ErrClosed)
			break wait
		case <-l.kick:
			// run takes the pending session; a kick without one is stale.
			l.mu.Lock()
			replaced := l.pending != nil
			l.mu.Unlock()
			if replaced {
				s.close(CodeReplaced, "replaced by a newer connection", errReplaced)
				break wait
			}
		}
	}
	s.wait()
	l.mu.Lock()
	l.sess = nil
	for _, in := range l.inbounds {
		if in.sess == s {
			in.sess, in.num = nil, 0
		}
	}
	l.mu.Unlock()
	s.teardown()
	err := s.err()
	l.setErr(err)
	l.log.Info("cascade link down", "err", err)
}

func (l *Link) setErr(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
}

// Subscribe asks the peer to send the given layers of a track of room, and delivers them to
// r until the subscription ends. It waits until the peer accepts or refuses (if the link is
// down, until it is up again) or ctx ends. The subscription survives reconnections: the link
// subscribes again on each new connection and asks for keyframes.
//
// A refusal wraps ErrRoomNotShared, ErrNoTrack, ErrLimit or ErrDuplicate; a closed link
// gives ErrClosed.
func (l *Link) Subscribe(ctx context.Context, room, track string, layers LayerSet, r Receiver) (*Inbound, error) {
	if err := checkID("room", room, maxIDLen); err != nil {
		return nil, fmt.Errorf("cascade: subscribe: %w", err)
	}
	if err := checkID("track", track, maxIDLen); err != nil {
		return nil, fmt.Errorf("cascade: subscribe: %w", err)
	}
	if !layers.valid() || r == nil {
		return nil, errors.New("cascade: subscribe needs valid layers and a receiver")
	}
	what := fmt.Sprintf("cascade: subscribe to track %s of room %s on node %s", track, room, l.id)
	in := newInbound(l, trackKey{room, track}, layers, r)
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", what, ErrClosed)
	case l.inbounds[in.key] != nil:
		l.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", what, ErrDuplicate)
	case len(l.inbounds) >= l.ep.cfg.MaxSubscriptions:
		l.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", what, ErrLimit)
	}
	l.inbounds[in.key] = in
	if l.sess != nil {
		l.sess.subscribe(in)
	}
	l.mu.Unlock()
	select {
	case err := <-in.answer:
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return in, nil
	case <-ctx.Done():
		in.Close()
		l.mu.Lock()
		lastErr := l.lastErr
		up := l.sess != nil
		l.mu.Unlock()
		if !up && lastErr != nil {
			return nil, fmt.Errorf("%s: %w (link down: %v)", what, ctx.Err(), lastErr)
		}
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}

// removeInboundLocked forgets in; it reports whether in was still registered, and the session
// it was bound to (with its number) so that the caller can unsubscribe. Called with l.mu held.
func (l *Link) removeInboundLocked(in *Inbound) (registered bool, s *session, num uint16) {
	if l.inbounds[in.key] != in {
		return false, nil, 0
	}
	delete(l.inbounds, in.key)
	s, num = in.sess, in.num
	in.sess, in.num = nil, 0
	return true, s, num
}

// Close ends the link: its connection closes with CodeClosed, its subscriptions end with
// ErrClosed (Receiver.Ended), the peer's subscriptions to local tracks end
// (OutboundHandler.Closed). It waits for the link's goroutines.
func (l *Link) Close() {
	l.ep.forget(l)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.closed = true
	pending := l.pending
	l.pending = nil
	ins := make([]*Inbound, 0, len(l.inbounds))
	for _, in := range l.inbounds {
		ins = append(ins, in)
	}
	l.mu.Unlock()
	l.cancel()
	<-l.done
	if pending != nil {
		pending.abandon(CodeClosed, "link closed")
	}
	for _, in := range ins {
		l.mu.Lock()
		registered, _, _ := l.removeInboundLocked(in)
		answered := in.answered
		l.mu.Unlock()
		if registered {
			in.end(ErrClosed, answered)
		}
	}
}

// Stats describes the link.
func (l *Link) Stats() LinkStats {
	st := LinkStats{
		Peer: l.peer, PeerID: l.id, Dialer: l.dialer,
		Connects:   l.c.connects.Load(),
		CapacityIn: l.Capacity(),
		In: DirectionStats{
			Datagrams: l.c.inDatagrams.Load(), Bytes: l.c.inBytes.Load(),
			Lost: l.c.inLost.Load(), Loss: math.Float64frombits(l.c.inLoss.Load()),
			Dropped:     l.c.inDropped.Load(),
			Retransmits: l.c.inRetransmits.Load(),
			Nacks:       l.c.nacksSent.Load(), Keyframes: l.c.keyframesSent.Load(),
		},
		Out: DirectionStats{
			Datagrams: l.c.outDatagrams.Load(), Bytes: l.c.outBytes.Load(),
			Lost: l.c.outLost.Load(), Loss: math.Float64frombits(l.c.outLoss.Load()),
			Dropped:     l.c.outDropped.Load(),
			Retransmits: l.c.outRetransmits.Load(),
			Nacks:       l.c.nacksReceived.Load(), Keyframes: l.c.keyframesReceived.Load(),
		},
		Discarded:        l.c.badDatagrams.Load() + l.c.unknownDatagrams.Load(),
		RetransmitMisses: l.c.rtxMisses.Load(),
	}
	l.mu.Lock()
	s := l.sess
	if l.addr != nil {
		st.Addr = l.addr.String()
	}
	if l.lastErr != nil {
		st.LastError = l.lastErr.Error()
	}
	for _, in := range l.inbounds {
		st.Inbound = append(st.Inbound, in.statsLocked())
	}
	l.mu.Unlock()
	if s != nil {
		st.Connected = true
		if st.Addr == "" {
			st.Addr = s.conn.RemoteAddr().String()
		}
		cs := s.conn.ConnectionStats()
		st.RTT, st.MinRTT = cs.SmoothedRTT, cs.MinRTT
		st.Outbound = s.outboundStats()
	}
	sortTrackStats(st.Inbound)
	sortTrackStats(st.Outbound)
	return st
}
