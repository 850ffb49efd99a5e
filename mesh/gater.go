package mesh

import (
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// admission is who may talk to this host: the trusted peers and the blocked ones. A peer is
// admitted when it is trusted and not blocked. It is consulted by the gater, gossip, request
// handlers and the dialers, from many goroutines.
type admission struct {
	mu      sync.RWMutex
	trusted map[peer.ID][]ma.Multiaddr // the configured addresses of each trusted peer
	blocked map[peer.ID]struct{}

	refused atomic.Uint64 // connections the gater refused
}

func newAdmission() *admission {
	return &admission{trusted: make(map[peer.ID][]ma.Multiaddr), blocked: make(map[peer.ID]struct{})}
}

func (a *admission) admitted(p peer.ID) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, trusted := a.trusted[p]
	_, blocked := a.blocked[p]
	return trusted && !blocked
}

func (a *admission) isTrusted(p peer.ID) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.trusted[p]
	return ok
}

func (a *admission) isBlocked(p peer.ID) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.blocked[p]
	return ok
}

// trust records p with its configured addresses and returns the addresses it had before.
func (a *admission) trust(p peer.ID, addrs []ma.Multiaddr) (old []ma.Multiaddr, existed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old, existed = a.trusted[p]
	a.trusted[p] = addrs
	return old, existed
}

// untrust forgets p and returns its configured addresses.
func (a *admission) untrust(p peer.ID) (addrs []ma.Multiaddr, existed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addrs, existed = a.trusted[p]
	delete(a.trusted, p)
	return addrs, existed
}

func (a *admission) trustedPeers() []peer.ID {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]peer.ID, 0, len(a.trusted))
	for p := range a.trusted {
		out = append(out, p)
	}
	return out
}

func (a *admission) setBlocked(p peer.ID, blocked bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if blocked {
		a.blocked[p] = struct{}{}
	} else {
		delete(a.blocked, p)
	}
}

// gater is the connection gater: it admits only admitted peers, and refuses the rest before
// a dial starts or, inbound, right after the security handshake has authenticated the remote
// key, before any protocol runs on the connection.
type gater struct {
	adm *admission
}

var _ connmgr.ConnectionGater = gater{}

func (g gater) allow(p peer.ID) bool {
	if g.adm.admitted(p) {
		return true
	}
	g.adm.refused.Add(1)
	return false
}

// InterceptPeerDial refuses dials to peers that are not admitted.
func (g gater) InterceptPeerDial(p peer.ID) bool { return g.allow(p) }

// InterceptAddrDial refuses dials to peers that are not admitted, and to addresses that are
// not plain QUIC or TCP (relay circuits in particular).
func (g gater) InterceptAddrDial(p peer.ID, addr ma.Multiaddr) bool {
	if !isQUIC(addr) && !isTCP(addr) {
		g.adm.refused.Add(1)
		return false
	}
	return g.allow(p)
}

// InterceptAccept lets every inbound connection reach the security handshake: the remote
// key is not known before it. The resource manager bounds how many may be in progress.
func (g gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a connection whose authenticated peer is not admitted.
func (g gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allow(p)
}

// InterceptUpgraded checks admission once more: the peer may have been untrusted or blocked
// while its handshake was in progress.
func (g gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.allow(c.RemotePeer()), 0
}
