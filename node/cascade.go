package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
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

// trackRecord is one published track in a participant's entry of its node's state record
// (federation.Participant.Tracks; at most federation.MaxTrackSize bytes):
//
//	{"id":"t12","kind":"video","source":"camera","layers":7,"level":0}
//
// id is the track's id on the publishing node's SFU, what the cascade subscribes to; layers
// the simulcast layers the publisher sends (bit i: layer i; 0 means layer 0 only); level the
// id of the audio level header extension in an audio track's packets (0: none).
type trackRecord struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Layers uint8  `json:"layers,omitempty"`
	Level  uint8  `json:"level,omitempty"`
}

// decodeTrackRecord reads a track of another node's state record strictly: bounded, no
// unknown fields, nothing after the object, an id and a known kind. The SFU checks the rest.
func decodeTrackRecord(data []byte) (trackRecord, error) {
	var t trackRecord
	if len(data) > federation.MaxTrackSize {
		return t, fmt.Errorf("track record of %d bytes", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("track record: %w", err)
	}
	if dec.More() {
		return t, errors.New("track record: data after the object")
	}
	if t.ID == "" || (t.Kind != "audio" && t.Kind != "video") {
		return t, fmt.Errorf("track record: id %q, kind %q", t.ID, t.Kind)
	}
	return t, nil
}

// trackRecords encodes room's local tracks for the state record, by participant (at most
// federation.MaxTracks each).
func trackRecords(tracks []media.PublishedTrack) map[string][]json.RawMessage {
	out := map[string][]json.RawMessage{}
	for _, t := range tracks {
		if len(out[t.Participant]) >= federation.MaxTracks {
			continue
		}
		b, err := json.Marshal(trackRecord{ID: t.ID, Kind: t.Kind, Source: t.Source, Layers: t.Layers, Level: t.AudioLevelID})
		if err == nil && len(b) <= federation.MaxTrackSize {
			out[t.Participant] = append(out[t.Participant], b)
		}
	}
	return out
}

// hasTracks reports whether any of ps publishes a track.
func hasTracks(ps []federation.Participant) bool {
	for _, p := range ps {
		if len(p.Tracks) > 0 {
			return true
		}
	}
	return false
}

// remoteTracks reads the tracks of another node's participants; malformed ones are skipped.
func remoteTracks(ps []federation.Participant) []media.PublishedTrack {
	var out []media.PublishedTrack
	for _, p := range ps {
		for _, raw := range p.Tracks {
			t, err := decodeTrackRecord(raw)
			if err != nil {
				continue
			}
			out = append(out, media.PublishedTrack{ID: t.ID, Participant: p.ID, Kind: t.Kind, Source: t.Source,
				Layers: t.Layers, AudioLevelID: t.Level})
		}
	}
	return out
}

// cascadeNode is the node's side of the cascade: the endpoint on the cascade UDP socket, the
// links to peers sharing rooms, the Authorizer, and the republishing of state records when
// local tracks change.
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

	pubFn  func(room string) // republishes a room's state record; set by start
	pubMu  sync.Mutex        // guards pubSet
	pubSet map[string]bool   // rooms whose record waits to be republished
	kick   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
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
		pubSet: map[string]bool{}, kick: make(chan struct{}, 1), done: make(chan struct{}),
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
// peers. publish republishes a room's state record (from the node's own goroutine).
func (c *cascadeNode) start(key *identity.NodeKey, fed *federation.Federation, sfu *media.SFU, publish func(room string)) error {
	c.fed.Store(fed)
	c.sfu = sfu
	c.pubFn = publish
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

// close stops republishing and closes the endpoint (every link) or, if it never started,
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

// syncRoom follows room's state: it links to every federated peer with participants in the
// room while this node has some too and one of the two publishes tracks there, hands the SFU their tracks, and lets go of the peers
// that no longer share the room (closing a link that shares no room any more).
func (c *cascadeNode) syncRoom(room string) {
	fed := c.fed.Load()
	if fed == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ep == nil || c.closed {
		return
	}
	recs := fed.State(room)
	self := fed.ID()
	here, hereTracks := false, false
	for _, rec := range recs {
		if rec.Node == self && len(rec.Participants) > 0 {
			here, hereTracks = true, hasTracks(rec.Participants)
		}
	}
	peers := map[peer.ID]federation.Peer{}
	for _, p := range fed.Peers() {
		peers[p.ID] = p
	}
	now := map[string]bool{}
	for _, rec := range recs {
		p, federated := peers[rec.Node]
		key := peerKey(rec.Node)
		if !here || rec.Node == self || len(rec.Participants) == 0 || !federated || key == nil {
			continue
		}
		if !hereTracks && !hasTracks(rec.Participants) {
			continue // nothing to carry either way: no link (a room of many nodes without media costs none)
		}
		link, err := c.linkLocked(key, p)
		if err != nil {
			continue
		}
		c.sfu.SetRemoteTracks(room, link, remoteTracks(rec.Participants))
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

// linkLocked returns the link with peer p (key), made or updated with its address. c.mu is
// held.
func (c *cascadeNode) linkLocked(key ed25519.PublicKey, p federation.Peer) (*cascade.Link, error) {
	addr := c.routes[p.ID]
	if addr == nil && p.Record.Cascade != "" {
		addr = resolveUDP(p.Record.Cascade)
	}
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

// tracksChanged is the SFU's TracksChanged: the room's state record is republished from the
// cascade's own goroutine (the SFU's must not wait for the federation).
func (c *cascadeNode) tracksChanged(room string) {
	c.pubMu.Lock()
	c.pubSet[room] = true
	c.pubMu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run republishes state records when local tracks change, and closes idle links.
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
			continue
		case <-c.kick:
		}
		c.pubMu.Lock()
		rooms := c.pubSet
		c.pubSet = map[string]bool{}
		c.pubMu.Unlock()
		for room := range rooms {
			c.pubFn(room)
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
