package node

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media"
	"parley/media/cascade"
	"parley/node/meeting"
)

// The media cascade between nodes. A meeting spans nodes: each participant connects only to
// its own node, and the nodes' SFUs carry the media between them over one cascade link per
// pair of nodes that share a room (package media/cascade). The node decides who shares what,
// from its federation state:
//
//   - a link to a peer exists while both nodes have participants in at least one common room
//     (their state records there are not empty) and one of them publishes tracks there; it closes when they have shared none for
//     linkLinger (so that a participant leaving and joining again does not redial, and the
//     end of the leaving participant's tracks still reaches the other node over it);
//   - the tracks a node's participants publish travel in its state record (each participant's
//     Tracks, one trackRecord each); the SFU subscribes to the other nodes' tracks of a room
//     (media.SFU.SetRemoteTracks) and serves its own to them (media.SFU.OpenTrack);
//   - the cascade admits a node only if it is a federated peer (AllowNode), and serves it a
//     room's tracks only while its own state record of the room lists participants
//     (AllowRoom): a node that may take part in a room but has nobody there gets nothing, and
//     a removed peer, whose records the federation drops, loses access at once.

// linkLinger is how long a link that shares no room stays open.
const linkLinger = 5 * time.Second

// localTracks are room's local tracks for the state record, by participant.
func localTracks(tracks []media.PublishedTrack) map[string][]meeting.Track {
	out := map[string][]meeting.Track{}
	for _, t := range tracks {
		out[t.Participant] = append(out[t.Participant], meeting.Track{ID: t.ID, Kind: t.Kind, Source: t.Source,
			Layers: t.Layers, Level: t.AudioLevelID})
	}
	return out
}

// remoteTracks are another node's tracks as the SFU takes them.
func remoteTracks(ts []meeting.RemoteTrack) []media.PublishedTrack {
	out := make([]media.PublishedTrack, len(ts))
	for i, t := range ts {
		out[i] = media.PublishedTrack{ID: t.ID, Participant: t.Participant, Kind: t.Kind, Source: t.Source,
			Layers: t.Layers, AudioLevelID: t.Level}
	}
	return out
}

// cascadeNode is the node's side of the cascade: the endpoint on the cascade UDP socket, the
// links to peers sharing rooms and the Authorizer.
type cascadeNode struct {
	log        *slog.Logger
	sfu        *media.SFU
	conn       net.PacketConn // bound by New; the endpoint owns it once started
	advertised string         // host:port published in the node record

	fed atomic.Pointer[federation.Federation] // set by start; read by the Authorizer

	// mu serialises following the rooms and guards the fields below. Neither the cascade's
	// nor the SFU's callbacks take it.
	mu     sync.Mutex
	ep     *cascade.Endpoint
	closed bool
	links  map[string]*cascade.Link   // by peer key
	shared map[string]map[string]bool // peer key -> rooms shared with the peer
	idle   map[string]time.Time       // peer key -> since when its link shares no room
	linger time.Duration              // linkLinger (tests shorten it)
	routes map[peer.ID]net.Addr       // where to dial a peer instead of its record's address
	names  map[string]string          // peer key -> node name, for metrics
	warned map[string]string          // peer key -> last link error logged

	done chan struct{}
	wg   sync.WaitGroup
}

// listenCascade binds the cascade's UDP socket; start runs the endpoint on it.
func listenCascade(addr string, log *slog.Logger) (*cascadeNode, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	return &cascadeNode{
		log: log, conn: conn,
		links: map[string]*cascade.Link{}, shared: map[string]map[string]bool{}, idle: map[string]time.Time{}, linger: linkLinger,
		routes: map[peer.ID]net.Addr{}, names: map[string]string{}, warned: map[string]string{},
		done: make(chan struct{}),
	}, nil
}

// advertise chooses the address published in the node record: the bound one, with an
// unspecified host replaced by the host of the node's public URL.
func (c *cascadeNode) advertise(publicURL string) {
	ap, err := netip.ParseAddrPort(c.conn.LocalAddr().String())
	if err != nil {
		c.advertised = c.conn.LocalAddr().String()
		return
	}
	host := ap.Addr().Unmap().String()
	if ap.Addr().IsUnspecified() {
		if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
	}
	c.advertised = net.JoinHostPort(host, fmt.Sprint(ap.Port()))
}

// start runs the endpoint once the federation is up: from then on the node links to its
// peers.
func (c *cascadeNode) start(key *identity.NodeKey, fed *federation.Federation, sfu *media.SFU) error {
	c.fed.Store(fed)
	c.sfu = sfu
	ep, err := cascade.New(c.conn, cascade.Config{Key: key, Auth: c, Tracks: sfu, Logger: c.log})
	if err != nil {
		return fmt.Errorf("start the media cascade: %w", err)
	}
	c.mu.Lock()
	c.ep = ep
	c.mu.Unlock()
	c.wg.Add(1)
	go c.run()
	return nil
}

// close stops closing idle links and closes the endpoint (every link) or, if it never started,
// the socket.
func (c *cascadeNode) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ep := c.ep
	c.links = map[string]*cascade.Link{}
	c.shared = map[string]map[string]bool{}
	c.mu.Unlock()
	close(c.done)
	c.wg.Wait()
	if ep == nil {
		return c.conn.Close()
	}
	return ep.Close()
}

// AllowNode implements cascade.Authorizer: a federated peer.
func (c *cascadeNode) AllowNode(pub ed25519.PublicKey) bool {
	_, ok := c.federated(pub)
	return ok
}

// AllowRoom implements cascade.Authorizer: a federated peer whose state record of room lists
// participants, and whom the room's policy admits.
func (c *cascadeNode) AllowRoom(pub ed25519.PublicKey, room string) bool {
	p, ok := c.federated(pub)
	if !ok {
		return false
	}
	fed := c.fed.Load()
	r, ok := fed.Lookup(room)
	if !ok || (r.Owner != p.ID && !r.Allows(p.Record.Org)) {
		return false
	}
	for _, rec := range fed.State(room) {
		if rec.Node == p.ID {
			return len(rec.Participants) > 0
		}
	}
	return false
}

// federated returns the federated peer holding pub.
func (c *cascadeNode) federated(pub ed25519.PublicKey) (federation.Peer, bool) {
	fed := c.fed.Load()
	if fed == nil || len(pub) != ed25519.PublicKeySize {
		return federation.Peer{}, false
	}
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return federation.Peer{}, false
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return federation.Peer{}, false
	}
	for _, p := range fed.Peers() {
		if p.ID == id {
			return p, true
		}
	}
	return federation.Peer{}, false
}

// syncRoom follows room's state: it links to the peers the room wants (meeting.LinkWishes),
// hands the SFU their tracks, and lets go of the peers that no longer share the room
// (closing a link that shares no room any more, after linkLinger). Addresses are resolved
// before c.mu is taken: a name lookup may take long on a network without a resolver.
func (c *cascadeNode) syncRoom(room string) {
	fed := c.fed.Load()
	if fed == nil {
		return
	}
	peers := map[peer.ID]federation.Peer{}
	for _, p := range fed.Peers() {
		peers[p.ID] = p
	}
	wishes := meeting.LinkWishes(fed.State(room), func(id peer.ID) bool { _, ok := peers[id]; return ok && peerKey(id) != nil }, fed.ID())
	c.mu.Lock()
	routes := make([]net.Addr, len(wishes))
	for i, w := range wishes {
		routes[i] = c.routes[w.Peer]
	}
	c.mu.Unlock()
	for i, w := range wishes {
		if routes[i] == nil && peers[w.Peer].Record.Cascade != "" {
			routes[i] = resolveUDP(peers[w.Peer].Record.Cascade)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ep == nil || c.closed {
		return
	}
	now := map[string]bool{}
	for i, w := range wishes {
		key := peerKey(w.Peer)
		link, err := c.linkLocked(key, peers[w.Peer], routes[i])
		if err != nil {
			continue
		}
		c.sfu.SetRemoteTracks(room, link, remoteTracks(w.Tracks))
		now[string(key)] = true
		if c.shared[string(key)] == nil {
			c.shared[string(key)] = map[string]bool{}
		}
		c.shared[string(key)][room] = true
		delete(c.idle, string(key))
	}
	for k, rooms := range c.shared {
		if !rooms[room] || now[k] {
			continue
		}
		delete(rooms, room)
		if l := c.links[k]; l != nil {
			c.sfu.SetRemoteTracks(room, l, nil)
		}
		if len(rooms) == 0 {
			delete(c.shared, k)
			c.idle[k] = time.Now()
		}
	}
	// A peer no longer federated loses its link at once, not after linkLinger.
	for k := range c.idle {
		if _, ok := c.federated(ed25519.PublicKey(k)); !ok {
			c.closeLinkLocked(k)
		}
	}
}

// closeLinkLocked closes the link with the peer holding key k. c.mu is held.
func (c *cascadeNode) closeLinkLocked(k string) {
	delete(c.idle, k)
	delete(c.names, k)
	if l := c.links[k]; l != nil {
		delete(c.links, k)
		c.log.Debug("cascade link closed", "peer", l.Stats().PeerID)
		l.Close()
	}
}

// closeIdle closes the links that have shared no room for linkLinger.
func (c *cascadeNode) closeIdle(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	for k, since := range c.idle {
		if now.Sub(since) >= c.linger {
			c.closeLinkLocked(k)
		}
	}
}

// linkLocked returns the link with peer p (key), made or updated with its address addr
// (nil: unknown). c.mu is held.
func (c *cascadeNode) linkLocked(key ed25519.PublicKey, p federation.Peer, addr net.Addr) (*cascade.Link, error) {
	link, err := c.ep.Link(key, addr)
	if err != nil {
		if c.warned[string(key)] != err.Error() {
			c.warned[string(key)] = err.Error()
			c.log.Warn("no cascade link to a peer sharing a room", "peer", p.ID, "name", p.Record.Name,
				"cascade_addr", p.Record.Cascade, "err", err)
		}
		return nil, err
	}
	delete(c.warned, string(key))
	c.links[string(key)] = link
	c.names[string(key)] = p.Record.Name
	return link, nil
}

// resolveUDP parses host:port (resolving a name); nil if it cannot.
func resolveUDP(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.UDPAddrFromAddrPort(ap)
	}
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return nil
	}
	return a
}

// route makes the cascade reach peer id through addr instead of the address in its node
// record, from the next dial on (tests put a lossy proxy there).
func (c *cascadeNode) route(id peer.ID, addr net.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes[id] = addr
	if key := peerKey(id); key != nil && c.links[string(key)] != nil && c.ep != nil {
		_, _ = c.ep.Link(key, addr)
	}
}

// run closes idle links.
func (c *cascadeNode) run() {
	defer c.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.closeIdle(now)
		}
	}
}

// linkMetrics is one link as /metrics shows it.
type linkMetrics struct {
	name string // the peer's node name, "" if unknown
	st   cascade.LinkStats
}

// linkStats describes every link.
func (c *cascadeNode) linkStats() []linkMetrics {
	c.mu.Lock()
	ep := c.ep
	names := make(map[string]string, len(c.names))
	for k, v := range c.names {
		names[k] = v
	}
	c.mu.Unlock()
	if ep == nil {
		return nil
	}
	sts := ep.Stats()
	out := make([]linkMetrics, len(sts))
	for i, st := range sts {
		out[i] = linkMetrics{name: names[string(st.Peer)], st: st}
	}
	return out
}

// CascadeAddr is the local address of the node's cascade socket.
func (n *Node) CascadeAddr() net.Addr { return n.casc.conn.LocalAddr() }

// CascadeStats describes the node's cascade links, ordered by peer key (what /metrics
// exports per link).
func (n *Node) CascadeStats() []cascade.LinkStats {
	ls := n.casc.linkStats()
	out := make([]cascade.LinkStats, len(ls))
	for i, l := range ls {
		out[i] = l.st
	}
	return out
}

// RouteCascade makes the node reach the peer with this peer ID over the cascade through addr
// instead of the address in the peer's node record, from its next connection on. Only the
// node that dials a link (the one whose key sorts lower) uses it. Tests put a lossy proxy
// there.
func (n *Node) RouteCascade(peerID string, addr net.Addr) error {
	id, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("%q is not a peer ID: %w", peerID, err)
	}
	n.casc.route(id, addr)
	return nil
}
