package federation

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
	"parley/mesh"
)

// Errors callers may test with errors.Is.
var (
	// ErrUnknownRoom: the directory holds no room with that ID.
	ErrUnknownRoom = errors.New("unknown room")
	// ErrNotAllowed: the room's policy does not let this node's organisation take part.
	ErrNotAllowed = errors.New("room does not allow this node's organisation")
	// ErrRoomDeleted: the room's owner deleted it.
	ErrRoomDeleted = errors.New("room was deleted by its owner")
	// ErrUnknownPeer: the peer is not federated.
	ErrUnknownPeer = errors.New("peer is not federated")
	// ErrClosed: the Federation is closed.
	ErrClosed = errors.New("federation closed")
	// ErrInvalidRoom: CreateRoom was given a spec no valid room record can carry.
	ErrInvalidRoom = errors.New("invalid room")
)

// Federation is one node's view of the federation: its peers, the room directory, the
// rooms' state and logs. Create it with New, stop it with Close. All methods are safe for
// concurrent use.
type Federation struct {
	cfg  Config
	log  *slog.Logger
	host *mesh.Host
	key  *identity.NodeKey
	self peer.ID
	st   *store
	cnt  counters

	verified  verifiedSet // envelopes whose signature verified
	collector *collector  // registered with cfg.Registerer, if any

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Federation starts

	ownMu sync.Mutex // serialises this node's own records, so versions and seqs never repeat or skip

	topicMu sync.Mutex // serialises joining and leaving topics (mesh calls); never taken under mu

	mu         sync.Mutex
	closed     bool                           // guarded by mu
	selfRec    nodeBody                       // this node's latest record; guarded by mu
	selfRaw    []byte                         // its envelope; guarded by mu
	peers      map[peer.ID]*peerEntry         // federated peers; guarded by mu
	removed    map[peer.ID]bool               // removed peers; guarded by mu
	rooms      map[string]*roomEntry          // the directory; guarded by mu
	states     map[string]roomState           // room -> node -> newest state record; guarded by mu
	logs       map[string]map[peer.ID]*seqSet // room -> node -> entries held; guarded by mu
	fedSub     *subscription                  // the federation topic; guarded by mu
	subs       map[string]*subscription       // joined room topics; guarded by mu
	idleFrom   map[string]time.Time           // joined rooms this node has left, since when; guarded by mu
	pending    map[entryKey]struct{}          // entries being stored; guarded by mu
	syncs      map[peer.ID]*syncWork          // catch-up work per peer; guarded by mu
	roomSync   map[string]*sync.Mutex         // held while a room's catch-up runs; guarded by mu
	toDeliver  map[logID]struct{}             // logs with entries stored past their delivered mark; guarded by mu
	delivering bool                           // a goroutine is delivering entries (deliver.go); guarded by mu
	gapWatch   map[string]struct{}            // rooms whose log gaps are being watched; guarded by mu
	changed    chan struct{}                  // closed and replaced on every change; guarded by mu
	// starting is true while New clears stale participants, before anything else runs:
	// handlers are not called then (nothing the caller holds is live yet).
	starting bool
}

type peerEntry struct {
	rec   nodeBody
	raw   []byte
	added time.Time
}

type roomEntry struct {
	rec roomBody
	raw []byte
}

// New starts the federation of a node: it loads what the store holds under cfg.Prefix,
// issues a fresh node record, trusts the stored peers on the mesh host, serves catch-up,
// joins the federation topic and the topics of rooms the node takes part in, and starts
// anti-entropy. The caller keeps ownership of cfg.Host and cfg.DB.
func New(cfg Config) (*Federation, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	self, err := peerIDOf(cfg.Key.PublicKey())
	if err != nil {
		return nil, err
	}
	if self != cfg.Host.ID() {
		return nil, fmt.Errorf("federation: the mesh host (%s) does not use the node key (%s)", cfg.Host.ID(), self)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Federation{
		cfg: cfg, log: cfg.Logger, host: cfg.Host, key: cfg.Key, self: self,
		st:     &store{db: cfg.DB, prefix: cfg.Prefix, log: cfg.Logger},
		ctx:    ctx,
		cancel: cancel,
		peers:  map[peer.ID]*peerEntry{}, removed: map[peer.ID]bool{}, rooms: map[string]*roomEntry{},
		states: map[string]roomState{}, logs: map[string]map[peer.ID]*seqSet{},
		subs: map[string]*subscription{}, idleFrom: map[string]time.Time{}, syncs: map[peer.ID]*syncWork{},
		pending: map[entryKey]struct{}{}, roomSync: map[string]*sync.Mutex{},
		toDeliver: map[logID]struct{}{}, gapWatch: map[string]struct{}{},
		changed: make(chan struct{}),
	}
	if err := f.load(); err != nil {
		cancel()
		return nil, err
	}
	if err := f.issueSelf(); err != nil {
		cancel()
		return nil, err
	}
	if cfg.ClearOwnParticipants {
		f.clearOwnParticipants()
	}
	if err := f.st.pruneInvites(time.Now().UnixMilli()); err != nil {
		f.log.Warn("prune expired invites", "err", err)
	}
	if cfg.Registerer != nil {
		f.collector = newCollector(&f.cnt)
		if err := cfg.Registerer.Register(f.collector); err != nil {
			cancel()
			return nil, fmt.Errorf("federation: register metrics: %w", err)
		}
	}

	f.mu.Lock()
	peers := make([]*peerEntry, 0, len(f.peers))
	for _, p := range f.peers {
		peers = append(peers, p)
	}
	var rooms, active []string
	for id := range f.rooms {
		rooms = append(rooms, id)
		if f.takesPart(id) {
			active = append(active, id)
		}
	}
	f.mu.Unlock()
	for _, p := range peers {
		if err := f.host.Trust(p.rec.Peer, p.rec.Addrs); err != nil {
			f.log.Warn("trust stored peer", "peer", p.rec.Peer, "err", err)
		}
	}
	for _, id := range rooms {
		f.allowRoom(id)
	}

	f.host.Notify(f.onConnection)
	f.host.Handle(SyncProtocol, maxSyncRequest, f.serveSync)
	if err := f.joinFederationTopic(); err != nil {
		f.Close()
		return nil, err
	}
	for _, id := range active {
		if err := f.joinRoom(id); err != nil {
			f.log.Warn("rejoin room topic", "room", id, "err", err)
		}
	}
	f.publish("", f.selfRaw)

	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run()
	}()
	f.log.Info("federation started", "peer", self, "peers", len(peers), "rooms", len(rooms), "active", len(active))
	return f, nil
}

// Close stops the Federation's goroutines, leaves its topics and stops serving catch-up. It
// closes neither the mesh host nor the database.
func (f *Federation) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()

	f.host.Handle(SyncProtocol, 0, nil)
	f.cancel()
	f.topicMu.Lock()
	f.mu.Lock()
	subs := make([]*subscription, 0, len(f.subs)+1)
	for _, s := range f.subs {
		subs = append(subs, s)
	}
	if f.fedSub != nil {
		subs = append(subs, f.fedSub)
	}
	f.subs, f.fedSub = map[string]*subscription{}, nil
	f.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	f.topicMu.Unlock()
	f.wg.Wait()
	if f.collector != nil {
		f.cfg.Registerer.Unregister(f.collector)
	}
	return nil
}

// ID is this node's peer ID.
func (f *Federation) ID() peer.ID { return f.self }

// goFn runs fn in a goroutine Close waits for, unless the Federation is closed.
func (f *Federation) goFn(fn func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
	return true
}

// decode is decodeMessage with the Federation's cache of verified envelopes.
func (f *Federation) decode(data []byte) (message, error) { return decodeWith(data, &f.verified) }

// notifyLocked wakes everyone waiting for a change. f.mu must be held.
func (f *Federation) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// load reads what the store holds into memory, checking every record again.
func (f *Federation) load() error {
	st := f.st
	bad := func(what string, k []byte, err error) {
		f.log.Warn("ignoring a stored federation record that does not check", "what", what, "key", string(k), "err", err)
	}
	err := st.scan("removed", false, func(rest, _ []byte) error {
		if id, err := peer.Decode(string(rest)); err == nil {
			f.removed[id] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("federation: load store: %w", err)
	}
	// Records of removed peers that a write in flight during Remove left behind are skipped.
	leftover := map[string]bool{} // deleted rooms with records still stored
	err = st.scan("peer", true, func(rest, v []byte) error {
		var sp storedPeer
		if len(v) < 8 {
			bad("peer", rest, errors.New("short value"))
			return nil
		}
		if err := decodeStrict(v[8:], &sp); err != nil {
			bad("peer", rest, err)
			return nil
		}
		m, err := decodeMessage(sp.Record)
		if err != nil || m.kind != kindNode || m.origin.String() != string(rest) {
			bad("peer", rest, fmt.Errorf("record: %v", err))
			return nil
		}
		if f.removed[m.origin] {
			return nil
		}
		f.peers[m.origin] = &peerEntry{rec: *m.node, raw: m.raw, added: time.UnixMilli(sp.AddedMS)}
		return nil
	})
	if err == nil {
		err = st.scan("room", true, func(rest, v []byte) error {
			m, err := decodeVersioned(v, kindRoom)
			if err != nil || m.room.ID != string(rest) {
				bad("room", rest, err)
				return nil
			}
			if f.removed[m.origin] {
				return nil
			}
			f.rooms[m.room.ID] = &roomEntry{rec: *m.room, raw: m.raw}
			return nil
		})
	}
	if err == nil {
		err = st.scan("state", true, func(rest, v []byte) error {
			m, err := decodeVersioned(v, kindState)
			if err != nil || m.state.Room+"/"+m.state.Node.String() != string(rest) {
				bad("state", rest, err)
				return nil
			}
			if f.removed[m.origin] {
				return nil
			}
			if r := f.rooms[m.state.Room]; r != nil && r.rec.Deleted {
				leftover[m.state.Room] = true // a crash came between the tombstone and the drop
				return nil
			}
			rs := f.states[m.state.Room]
			if rs == nil {
				rs = roomState{}
				f.states[m.state.Room] = rs
			}
			rs.merge(&storedState{body: *m.state, raw: m.raw})
			return nil
		})
	}
	if err == nil {
		err = st.scan("log", false, func(rest, _ []byte) error {
			// <room>/<peer ID>/<seq 8 bytes>
			if len(rest) < 10 || rest[len(rest)-9] != '/' {
				bad("log", rest, errors.New("malformed key"))
				return nil
			}
			room, node, ok := strings.Cut(string(rest[:len(rest)-9]), "/")
			id, err := peer.Decode(node)
			if !ok || err != nil || !ValidRoomID(room) {
				bad("log", rest, errors.New("malformed key"))
				return nil
			}
			if f.removed[id] {
				return nil
			}
			if r := f.rooms[room]; r != nil && r.rec.Deleted {
				leftover[room] = true
				return nil
			}
			f.seqSetLocked(room, id).add(binary.BigEndian.Uint64(rest[len(rest)-8:]))
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("federation: load store: %w", err)
	}
	for room := range leftover {
		if err := st.dropRoom(room); err != nil {
			return fmt.Errorf("federation: load store: %w", err)
		}
	}
	// What the store held before the start was delivered then (deliver.go).
	for _, byNode := range f.logs {
		for _, s := range byNode {
			s.delivered = s.contig
		}
	}
	if v, err := st.get(st.key("self")); err == nil {
		if m, err := decodeMessage(v); err == nil && m.kind == kindNode && m.origin == f.self {
			f.selfRec, f.selfRaw = *m.node, m.raw
		}
	}
	return nil
}

// decodeVersioned checks a stored ver||envelope value of kind k.
func decodeVersioned(v []byte, k kind) (message, error) {
	if len(v) < 8 {
		return message{}, errors.New("short value")
	}
	m, err := decodeMessage(v[8:])
	if err != nil {
		return message{}, err
	}
	if m.kind != k {
		return message{}, fmt.Errorf("stored %s is a %s", k, m.kind)
	}
	return m, nil
}

// seqSetLocked returns the set of node's entries held in room, creating it. f.mu must be
// held (or f not yet shared).
func (f *Federation) seqSetLocked(room string, node peer.ID) *seqSet {
	byNode := f.logs[room]
	if byNode == nil {
		byNode = map[peer.ID]*seqSet{}
		f.logs[room] = byNode
	}
	s := byNode[node]
	if s == nil {
		s = &seqSet{}
		byNode[node] = s
	}
	return s
}

// issueSelf signs and stores a fresh node record of this node.
func (f *Federation) issueSelf() error {
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	f.mu.Lock()
	prev := f.selfRec.IssuedMS
	f.mu.Unlock()
	b := nodeBody{
		V: wireVersion, Peer: f.self, Name: f.cfg.Name, Org: f.cfg.Organisation, URL: f.cfg.URL,
		Addrs: f.host.Addrs(), Cascade: f.cfg.CascadeAddr, IssuedMS: max(time.Now().UnixMilli(), prev+1),
	}
	if len(b.Addrs) > maxAddrs {
		b.Addrs = b.Addrs[:maxAddrs]
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("federation: own node record: %w", err)
	}
	raw, err := seal(f.key, f.self, kindNode, b)
	if err != nil {
		return err
	}
	if err := f.st.set(f.st.key("self"), raw); err != nil {
		return fmt.Errorf("federation: store own node record: %w", err)
	}
	f.mu.Lock()
	f.selfRec, f.selfRaw = b, raw
	f.mu.Unlock()
	return nil
}
