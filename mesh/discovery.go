package mesh

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
)

// stableConn is how long a connection must have lasted for its loss to be redialled at once.
// A connection that drops sooner (the remote refusing us after the handshake, a flapping
// link) is redialled only after the current backoff, which then doubles.
const stableConn = 10 * time.Second

// dialer keeps one trusted peer connected. Its goroutine (runDialer) owns the backoff.
type dialer struct {
	id     peer.ID
	cancel context.CancelFunc
	now    chan struct{} // dial at once, backoff reset (Trust, Unblock, mDNS)
	lost   chan bool     // the connection dropped; true if it had been stable
}

func newDialer(id peer.ID, cancel context.CancelFunc) *dialer {
	return &dialer{id: id, cancel: cancel, now: make(chan struct{}, 1), lost: make(chan bool, 1)}
}

func (d *dialer) dialNow() {
	select {
	case d.now <- struct{}{}:
	default:
	}
}

func (d *dialer) connectionLost(stable bool) {
	select {
	case d.lost <- stable:
	default:
	}
}

// runDialer dials d.id whenever it is admitted, has addresses and is not connected, backing
// off exponentially (with jitter) between failed attempts, until ctx ends.
func (h *Host) runDialer(ctx context.Context, d *dialer) {
	backoff := h.cfg.RedialMin
	grow := func() time.Duration {
		wait := time.Duration(float64(backoff) * (0.75 + rand.Float64()/2))
		backoff = min(2*backoff, h.cfg.RedialMax)
		return wait
	}
	tie := h.tieBreak(d.id)
	timer := time.NewTimer(tie)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.now:
			backoff = h.cfg.RedialMin
			if tie > 0 {
				timer.Reset(tie)
				continue
			}
		case stable := <-d.lost:
			if !stable {
				timer.Reset(grow())
				continue
			}
			backoff = h.cfg.RedialMin
			if tie > 0 {
				timer.Reset(tie)
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		if !h.adm.admitted(d.id) || h.Connected(d.id) || len(h.host.Peerstore().Addrs(d.id)) == 0 {
			continue // a later event (Unblock, a lost connection, mDNS) wakes the dialer
		}
		if err := h.dial(ctx, d.id); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := grow()
			h.log.Debug("dial failed", "remote", shortID(d.id), "retry_in", wait.Round(time.Millisecond), "err", err)
			timer.Reset(wait)
			continue
		}
		// A dial can succeed and the connection die at once (the remote refusing us after
		// the handshake) without any connectedness event; look again after the backoff.
		wait := grow()
		h.log.Debug("dialled", "remote", shortID(d.id), "check_in", wait.Round(time.Millisecond))
		timer.Reset(wait)
	}
}

// tieBreakDelay staggers the two ends of a pair so that they do not dial each other at the
// same moment, which leaves two connections, one of which may later close under gossip's
// stream (see gossipWatch): the end with the smaller peer ID dials at once, the other this
// much later, and only if still not connected.
const tieBreakDelay = 300 * time.Millisecond

func (h *Host) tieBreak(remote peer.ID) time.Duration {
	if h.self < remote {
		return 0
	}
	return tieBreakDelay
}

// watchConnections follows libp2p's connectedness events: it closes connections of peers that
// are not admitted (a peer untrusted during its handshake), tells the notifier about trusted
// peers coming and going, and wakes a peer's dialer when its connection is lost.
func (h *Host) watchConnections() error {
	sub, err := h.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged),
		eventbus.BufSize(1024), eventbus.Name("mesh connections"))
	if err != nil {
		return err
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer sub.Close()
		since := make(map[peer.ID]time.Time) // peers reported connected, and when
		for {
			select {
			case <-h.ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				if ev, ok := e.(event.EvtPeerConnectednessChanged); ok {
					h.onConnectedness(ev, since)
				}
			}
		}
	}()
	return nil
}

func (h *Host) onConnectedness(ev event.EvtPeerConnectednessChanged, since map[peer.ID]time.Time) {
	switch ev.Connectedness {
	case network.Connected:
		if !h.adm.admitted(ev.Peer) {
			// Admitted at the handshake and refused since: close outside this goroutine,
			// which must keep draining the event bus.
			if h.enter() {
				go func() {
					defer h.wg.Done()
					h.host.Network().ClosePeer(ev.Peer)
				}()
			}
			return
		}
		if _, ok := since[ev.Peer]; ok {
			return
		}
		since[ev.Peer] = time.Now()
		h.log.Info("peer connected", "remote", shortID(ev.Peer))
		h.notifier.push(ev.Peer, true)
	case network.NotConnected:
		t, ok := since[ev.Peer]
		if !ok {
			return
		}
		delete(since, ev.Peer)
		h.log.Info("peer disconnected", "remote", shortID(ev.Peer))
		h.notifier.push(ev.Peer, false)
		h.mu.Lock()
		d := h.dialers[ev.Peer]
		h.mu.Unlock()
		if d != nil {
			d.connectionLost(time.Since(t) >= stableConn)
		}
	}
}

// Notify registers fn to be called when a trusted peer connects (connected true) or a peer
// reported connected disconnects. Calls come from one goroutine, in the order the events
// happened; fn may block (later events wait) but should hand long work to a goroutine. Events
// before the first Notify are not replayed.
func (h *Host) Notify(fn func(id peer.ID, connected bool)) {
	h.notifier.add(fn)
}

// notifier delivers connection events to the Notify callbacks from its own goroutine, so that
// a slow callback never holds up libp2p's event bus.
type notifier struct {
	wake chan struct{}

	mu    sync.Mutex // guards fns and queue
	fns   []func(peer.ID, bool)
	queue []connEvent
}

type connEvent struct {
	id peer.ID
	up bool
}

func newNotifier() *notifier { return &notifier{wake: make(chan struct{}, 1)} }

func (n *notifier) add(fn func(peer.ID, bool)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fns = append(n.fns, fn)
}

func (n *notifier) push(id peer.ID, up bool) {
	n.mu.Lock()
	if len(n.fns) > 0 {
		n.queue = append(n.queue, connEvent{id, up})
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		queue, fns := n.queue, n.fns
		n.queue = nil
		n.mu.Unlock()
		for _, ev := range queue {
			if ctx.Err() != nil {
				return
			}
			for _, fn := range fns {
				fn(ev.id, ev.up)
			}
		}
	}
}
