package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// protectTag marks trusted peers in the connection manager, which never trims them.
const protectTag = "parley-trusted"

// Trust admits id: the gater lets its connections through and the host keeps a connection to
// it, dialling addrs (multiaddrs, with or without a trailing /p2p/<id>) in the background and
// redialling with backoff whenever it is not connected. Calling Trust again replaces the
// addresses and dials at once. addrs may be empty: the peer can still dial in, or be found by
// mDNS.
func (h *Host) Trust(id peer.ID, addrs []string) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("mesh: trust: %w", err)
	}
	if id == h.self {
		return fmt.Errorf("mesh: trust: %s is this host", shortID(id))
	}
	parsed, err := parsePeerAddrs(id, addrs)
	if err != nil {
		return fmt.Errorf("mesh: trust %s: %w", shortID(id), err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("mesh: trust %s: %w", shortID(id), ErrClosed)
	}
	old, _ := h.adm.trust(id, parsed)
	ps := h.host.Peerstore()
	var gone []ma.Multiaddr
	for _, a := range old {
		if !slices.ContainsFunc(parsed, a.Equal) {
			gone = append(gone, a)
		}
	}
	if len(gone) > 0 {
		ps.SetAddrs(id, gone, 0) // a zero TTL removes them
	}
	ps.AddAddrs(id, parsed, peerstore.PermanentAddrTTL)
	h.host.ConnManager().Protect(id, protectTag)

	if d, ok := h.dialers[id]; ok {
		d.dialNow()
		return nil
	}
	ctx, cancel := context.WithCancel(h.ctx)
	d := newDialer(id, cancel)
	h.dialers[id] = d
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.runDialer(ctx, d)
	}()
	h.log.Info("peer trusted", "remote", shortID(id), "addrs", len(parsed))
	if h.mdns != nil {
		h.mdns.askAgain()
	}
	return nil
}

// Untrust refuses id from now on: its connections are closed, its dialer stopped, and its
// addresses forgotten. It also leaves the blocked set.
func (h *Host) Untrust(id peer.ID) {
	h.mu.Lock()
	_, existed := h.adm.untrust(id)
	d := h.dialers[id]
	delete(h.dialers, id)
	h.mu.Unlock()
	h.adm.setBlocked(id, false)

	if d != nil {
		d.cancel()
	}
	h.host.ConnManager().Unprotect(id, protectTag)
	h.host.Network().ClosePeer(id)
	h.host.Peerstore().ClearAddrs(id)
	h.host.Peerstore().RemovePeer(id)
	if existed {
		h.log.Info("peer untrusted", "remote", shortID(id))
	}
}

// Trusted lists the trusted peers, sorted.
func (h *Host) Trusted() []peer.ID {
	ids := h.adm.trustedPeers()
	slices.Sort(ids)
	return ids
}

// Block cuts the link to id without forgetting that it is trusted: the gater refuses it,
// its connections are closed, and the host stops dialling it until Unblock. Messages it
// authored may still arrive relayed through other peers.
func (h *Host) Block(id peer.ID) {
	h.adm.setBlocked(id, true)
	h.host.Network().ClosePeer(id)
	h.log.Info("peer blocked", "remote", shortID(id))
}

// Unblock restores the link cut by Block: if id is trusted it is dialled at once.
func (h *Host) Unblock(id peer.ID) {
	h.adm.setBlocked(id, false)
	h.mu.Lock()
	d := h.dialers[id]
	h.mu.Unlock()
	if d != nil {
		d.dialNow()
	}
	h.log.Info("peer unblocked", "remote", shortID(id))
}

// parsePeerAddrs parses the dialable addresses of peer id. An address may end in /p2p/<id>,
// which must then be id.
func parsePeerAddrs(id peer.ID, addrs []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		transport, p := peer.SplitAddr(a)
		if p != "" && p != id {
			return nil, fmt.Errorf("address %q is for peer %s", s, p)
		}
		if len(transport) == 0 || (!isQUIC(transport) && !isTCP(transport)) {
			return nil, fmt.Errorf("address %q is neither QUIC (quic-v1) nor TCP", s)
		}
		if !slices.ContainsFunc(out, transport.Equal) {
			out = append(out, transport)
		}
	}
	return out, nil
}
