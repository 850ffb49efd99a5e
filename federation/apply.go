package federation

import (
	"bytes"
	"errors"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Every inbound signed object goes through the same steps, whichever way it came (gossip or
// catch-up), and changes nothing unless all pass:
//
//	1. decodeMessage: size, strict envelope, signature by the origin, strict body   (wire.go)
//	2. checkPlace: the kind (and room) belongs where it arrived
//	3. apply: the origin is this node or federated and not removed; for room data the room
//	   is in the directory and its policy admits the origin; the version or seq is new
//	4. store, then events
//
// Each refusal is counted by its Reason (stats.go).

// count counts err's reason if it is a reject; it returns err.
func (f *Federation) count(err error) error {
	if r := reasonOf(err); r != "" {
		f.cnt.reject(r)
	} else if errors.Is(err, errDuplicate) {
		f.cnt.duplicates.Add(1)
	}
	return err
}

// checkPlace checks that m may arrive on room's topic ("" is the federation topic) or in a
// catch-up answer about room.
func checkPlace(room string, m message) error {
	switch {
	case room == "" && (m.kind == kindNode || m.kind == kindRoom):
		return nil
	case room != "" && m.kind == kindState && m.state.Room == room:
		return nil
	case room != "" && m.kind == kindEntry && m.entry.Room == room:
		return nil
	case room != "" && m.kind == kindCast && m.cast.Room == room:
		return nil
	}
	return reject(ReasonWrongTopic, "%s from %s where room %q data belongs", m.kind, m.origin, room)
}

// originLocked checks that origin is this node or a federated peer. f.mu must be held.
func (f *Federation) originLocked(origin peer.ID) error {
	switch {
	case origin == f.self:
		return nil
	case f.removed[origin]:
		return reject(ReasonRemoved, "from removed peer %s", origin)
	case f.peers[origin] == nil:
		return reject(ReasonNotFederated, "from %s, which is not federated", origin)
	}
	return nil
}

// orgLocked is the organisation of node (this node or a federated peer). f.mu must be held.
func (f *Federation) orgLocked(node peer.ID) string {
	if node == f.self {
		return f.cfg.Organisation
	}
	if p := f.peers[node]; p != nil {
		return p.rec.Org
	}
	return ""
}

// memberLocked checks that node may take part in room: the room is in the directory and
// node owns it or its organisation is allowed. f.mu must be held.
func (f *Federation) memberLocked(room string, node peer.ID) (*roomEntry, error) {
	r := f.rooms[room]
	if r == nil {
		return nil, reject(ReasonUnknownRoom, "room %s", room)
	}
	if r.rec.Deleted {
		return nil, reject(ReasonDeletedRoom, "room %s was deleted by its owner", room)
	}
	if node != r.rec.Owner && !r.rec.room().Allows(f.orgLocked(node)) {
		return nil, reject(ReasonNotMember, "%s (%q) may not take part in room %s", node, f.orgLocked(node), room)
	}
	return r, nil
}

// takesPart reports whether this node has participants in room. f.mu must be held.
func (f *Federation) takesPart(room string) bool {
	cur := f.states[room][f.self]
	return cur != nil && len(cur.body.Participants) > 0
}

// apply runs step 3 and 4 for a checked message. Its errors are rejects (counted by the
// caller) or store failures.
func (f *Federation) apply(m message) error {
	switch m.kind {
	case kindNode:
		return f.applyNode(m)
	case kindRoom:
		return f.applyRoom(m)
	case kindState:
		return f.applyState(m)
	case kindEntry:
		return f.applyEntry(m)
	case kindCast:
		return f.applyCast(m)
	}
	return reject(ReasonMalformed, "kind %q", m.kind)
}

func (f *Federation) applyNode(m message) error {
	b := m.node
	f.mu.Lock()
	if err := f.originLocked(m.origin); err != nil {
		f.mu.Unlock()
		return err
	}
	if m.origin == f.self {
		f.mu.Unlock()
		return reject(ReasonReplay, "own node record")
	}
	p := f.peers[m.origin]
	if p.rec.IssuedMS >= b.IssuedMS {
		f.mu.Unlock()
		return replay(p.raw, m.raw, "node record of %s issued %d, holding %d", m.origin, b.IssuedMS, p.rec.IssuedMS)
	}
	addrsChanged := !slices.Equal(p.rec.Addrs, b.Addrs)
	added := p.added
	f.peers[m.origin] = &peerEntry{rec: *b, raw: m.raw, added: added}
	f.mu.Unlock()

	f.cnt.accepted.Add(1)
	if err := f.st.putPeer(b, added.UnixMilli(), m.raw); err != nil {
		return err
	}
	if addrsChanged {
		if err := f.host.Trust(b.Peer, b.Addrs); err != nil {
			f.log.Warn("update peer addresses", "peer", b.Peer, "err", err)
		}
	}
	return nil
}

func (f *Federation) applyRoom(m message) error {
	b := m.room
	f.mu.Lock()
	if err := f.originLocked(m.origin); err != nil {
		f.mu.Unlock()
		return err
	}
	if cur := f.rooms[b.ID]; cur != nil {
		if cur.rec.Owner != b.Owner {
			f.mu.Unlock()
			return reject(ReasonNotMember, "room %s belongs to %s, not %s", b.ID, cur.rec.Owner, b.Owner)
		}
		if cur.rec.Ver >= b.Ver {
			f.mu.Unlock()
			return replay(cur.raw, m.raw, "room %s version %d, holding %d", b.ID, b.Ver, cur.rec.Ver)
		}
	}
	f.rooms[b.ID] = &roomEntry{rec: *b, raw: m.raw}
	if b.Deleted {
		delete(f.states, b.ID)
		delete(f.logs, b.ID)
		if _, joined := f.subs[b.ID]; joined {
			f.idleFrom[b.ID] = time.Time{} // left at the next round
		}
	}
	f.notifyLocked()
	f.mu.Unlock()

	if m.origin != f.self {
		f.cnt.accepted.Add(1)
	}
	if err := f.st.putRoom(b, m.raw); err != nil {
		return err
	}
	if b.Deleted {
		if err := f.st.dropRoom(b.ID); err != nil {
			return err
		}
		f.log.Info("room deleted by its owner", "room", b.ID, "owner", b.Owner)
		if h := f.cfg.Handlers.StateChanged; h != nil {
			h(b.ID)
		}
	} else {
		f.allowRoom(b.ID)
	}
	if h := f.cfg.Handlers.RoomLearned; h != nil {
		h(b.room())
	}
	return nil
}

func (f *Federation) applyState(m message) error {
	b := m.state
	f.mu.Lock()
	if err := f.originLocked(m.origin); err != nil {
		f.mu.Unlock()
		return err
	}
	if _, err := f.memberLocked(b.Room, m.origin); err != nil {
		f.mu.Unlock()
		return err
	}
	rs := f.states[b.Room]
	if rs == nil {
		rs = roomState{}
		f.states[b.Room] = rs
	}
	if !rs.merge(&storedState{body: *b, raw: m.raw}) {
		held := rs[b.Node]
		f.mu.Unlock()
		return replay(held.raw, m.raw, "state of %s in room %s version %d, holding %d", b.Node, b.Room, b.Ver, held.body.Ver)
	}
	f.notifyLocked()
	f.mu.Unlock()

	if m.origin != f.self {
		f.cnt.accepted.Add(1)
	}
	if err := f.st.putState(b, m.raw); err != nil {
		return err
	}
	if h := f.cfg.Handlers.StateChanged; h != nil && !f.starting {
		h(b.Room)
	}
	return nil
}

func (f *Federation) applyEntry(m message) error {
	if err := f.admitEntry(m); err != nil {
		return err
	}
	return f.commitEntries([]message{m})
}

// admitEntry runs the checks of an entry and reserves it, so that no other copy passes them
// while this one is stored. commitEntries must follow.
func (f *Federation) admitEntry(m message) error {
	b := m.entry
	key := entryKey{room: b.Room, node: b.Node, seq: b.Seq}
	held, err := f.reserveEntry(m, key)
	if err != nil || !held {
		return err
	}
	stored, err := f.st.get(f.st.logKey(b.Room, b.Node, b.Seq))
	if err != nil {
		stored = nil
	}
	return replay(stored, m.raw, "entry %s/%d of room %s already held", b.Node, b.Seq, b.Room)
}

// reserveEntry is admitEntry's part under the lock; held says the seq is already stored.
func (f *Federation) reserveEntry(m message, key entryKey) (held bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.originLocked(m.origin); err != nil {
		return false, err
	}
	if _, err := f.memberLocked(key.room, m.origin); err != nil {
		return false, err
	}
	set := f.seqSetLocked(key.room, key.node)
	if key.seq > set.contig+seqWindow {
		return false, reject(ReasonWindow, "entry %s/%d of room %s, holding up to %d", key.node, key.seq, key.room, set.contig)
	}
	if _, writing := f.pending[key]; writing {
		return false, errDuplicate
	}
	if set.has(key.seq) {
		return true, nil
	}
	f.pending[key] = struct{}{}
	return false, nil
}

// commitEntries stores admitted entries in one write, then marks them held (only then:
// whoever sees an entry held finds it in the store) and delivers what now follows each
// log's delivered mark without a gap (deliver.go).
func (f *Federation) commitEntries(ms []message) error {
	if len(ms) == 0 {
		return nil
	}
	err := f.st.putEntries(ms)
	var gaps []string
	f.mu.Lock()
	for _, m := range ms {
		b := m.entry
		delete(f.pending, entryKey{room: b.Room, node: b.Node, seq: b.Seq})
		if err != nil {
			continue
		}
		s := f.seqSetLocked(b.Room, b.Node)
		s.add(b.Seq)
		if s.contig > s.delivered {
			f.toDeliver[logID{room: b.Room, node: b.Node}] = struct{}{}
		}
		if len(s.above) > 0 && !slices.Contains(gaps, b.Room) {
			gaps = append(gaps, b.Room)
		}
	}
	if err == nil {
		f.notifyLocked()
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.origin != f.self {
			f.cnt.accepted.Add(1)
		}
	}
	for _, room := range gaps {
		f.watchGap(room)
	}
	f.deliverEntries()
	return nil
}

// errDuplicate is an inbound copy of a record this node holds byte for byte: the normal
// overlap of gossip and catch-up. It is counted apart from rejects (Stats.Duplicates).
var errDuplicate = errors.New("duplicate of a record held")

// replay is the error for a record whose version or seq is not new: errDuplicate if it is
// the very record held, else a ReasonReplay reject (an older version, or the same version or
// seq with other content).
func replay(held, got []byte, format string, args ...any) error {
	if held != nil && bytes.Equal(held, got) {
		return errDuplicate
	}
	return reject(ReasonReplay, format, args...)
}

// entryKey names one log entry.
type entryKey struct {
	room string
	node peer.ID
	seq  uint64
}

// isReject reports whether err is a refused message or a duplicate rather than a local
// failure.
func isReject(err error) bool {
	var re *rejectError
	return errors.As(err, &re) || errors.Is(err, errDuplicate)
}

// nowMS is the current unix time in milliseconds.
func nowMS() int64 { return time.Now().UnixMilli() }
