package mesh

import (
	"context"
	"slices"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// gossipWatch follows gossipsub's internal events for two things mesh must act on.
// superviseGossip (below) covers the case gossipsub reports no event for.
//
// A gossip stream that dies while its connection lives on (a second connection to the same
// peer closing under it, or the peer resetting the stream over an RPC beyond its frame limit)
// makes gossipsub drop everything it knew of that peer, including its subscriptions, and then
// reopen a stream without asking for them again: from then on it would stop sending that peer
// messages. mesh closes the peer's remaining connections instead, so that both ends start
// over from a clean state; the dialer reconnects.
//
// It also counts the messages gossipsub turns away (Stats): rejected ones (bad or missing
// signature, a validator's Reject), ignored ones (untrusted author, a validator's Ignore) and
// dropped ones (validation overloaded, or a Topic's reader too slow).
type gossipWatch struct {
	h *Host
}

var _ pubsub.RawTracer = gossipWatch{}

func (w gossipWatch) RemovePeer(p peer.ID) {
	h := w.h
	conns := h.host.Network().ConnsToPeer(p)
	if len(conns) == 0 || !h.enter() {
		return // an ordinary disconnection, or the host is closing
	}
	go func() {
		defer h.wg.Done()
		// A connection being closed resets its streams before it is gone; give it a moment
		// to go on its own before treating it as live.
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(resyncGrace):
		}
		live := slices.DeleteFunc(conns, network.Conn.IsClosed)
		if len(live) == 0 {
			return
		}
		h.log.Info("gossip stream lost on a live connection; reconnecting to resynchronise", "remote", shortID(p))
		for _, c := range live {
			c.Close()
		}
	}()
}

// resyncGrace is how long a connection whose gossip stream died may take to close on its own.
const resyncGrace = 200 * time.Millisecond

func (w gossipWatch) UndeliverableMessage(*pubsub.Message) { w.h.counter.droppedMessages.Add(1) }

func (w gossipWatch) RejectMessage(_ *pubsub.Message, reason string) {
	c := w.h.counter
	switch reason {
	case pubsub.RejectBlacklstedPeer, pubsub.RejectBlacklistedSource, pubsub.RejectValidationIgnored:
		c.ignoredMessages.Add(1)
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		c.droppedMessages.Add(1)
	default:
		c.rejectedMessages.Add(1)
	}
}

func (gossipWatch) AddPeer(peer.ID, protocol.ID)     {}
func (gossipWatch) Join(string)                      {}
func (gossipWatch) Leave(string)                     {}
func (gossipWatch) Graft(peer.ID, string)            {}
func (gossipWatch) Prune(peer.ID, string)            {}
func (gossipWatch) ValidateMessage(*pubsub.Message)  {}
func (gossipWatch) DeliverMessage(*pubsub.Message)   {}
func (gossipWatch) DuplicateMessage(*pubsub.Message) {}
func (gossipWatch) ThrottlePeer(peer.ID)             {}
func (gossipWatch) RecvRPC(*pubsub.RPC)              {}
func (gossipWatch) SendRPC(*pubsub.RPC, peer.ID)     {}
func (gossipWatch) DropRPC(*pubsub.RPC, peer.ID)     {}

// Gossip supervision. When gossipsub fails to open its stream to a newly connected peer (the
// negotiation timing out on a congested link), it forgets the peer and never tries again
// while the connection lasts: the two nodes would stay connected with no gossip between
// them. Every gossipCheckEvery, the host compares its admitted connected peers with
// gossipsub's; a peer missing twice in a row, connected for longer than two periods, has its
// connections closed, and the dialer reconnects it from scratch.
const gossipCheckEvery = 5 * time.Second

func (h *Host) superviseGossip(ctx context.Context, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	strikes := make(map[peer.ID]int)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		known := h.ps.ListPeers("")
		missing := make(map[peer.ID]int)
		for _, p := range h.host.Network().Peers() {
			if slices.Contains(known, p) || !h.adm.admitted(p) || !h.connectedSince(p, 2*every) {
				continue
			}
			missing[p] = strikes[p] + 1
			if missing[p] >= 2 {
				h.log.Warn("connected peer has no gossip stream; reconnecting", "remote", shortID(p))
				h.host.Network().ClosePeer(p)
				delete(missing, p)
			}
		}
		strikes = missing
	}
}

// connectedSince reports whether h has had a connection to p for at least d.
func (h *Host) connectedSince(p peer.ID, d time.Duration) bool {
	for _, c := range h.host.Network().ConnsToPeer(p) {
		if time.Since(c.Stat().Opened) >= d {
			return true
		}
	}
	return false
}
