package federation

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// This node's own records: rooms it creates, its participants, its log entries. Each is
// signed, checked and applied exactly like a record from a peer, then published.

// CreateRoom signs a new room record owned by this node, stores it and gossips it to every
// federated node.
func (f *Federation) CreateRoom(spec RoomSpec) (Room, error) {
	id := spec.ID
	if id == "" {
		id = NewRoomID()
	}
	created := nowMS()
	if !spec.Created.IsZero() {
		created = spec.Created.UnixMilli()
	}
	b := roomBody{
		V: wireVersion, ID: id, Owner: f.self, Title: spec.Title, Lobby: spec.Lobby, Orgs: f.roomOrgs(spec.Orgs),
		CreatedMS: created, Ver: 1,
	}
	b.setPolicy(spec)
	if err := b.validate(); err != nil {
		return Room{}, fmt.Errorf("federation: create room: %w: %w", ErrInvalidRoom, err)
	}
	f.mu.Lock()
	_, exists := f.rooms[id]
	f.mu.Unlock()
	if exists {
		return Room{}, fmt.Errorf("federation: create room: room %s already exists", id)
	}
	if err := f.applyOwn(kindRoom, b, ""); err != nil {
		return Room{}, fmt.Errorf("federation: create room: %w", err)
	}
	return b.room(), nil
}

// setPolicy sets the record's guests, start and co-hosts from spec (co-hosts sorted, without
// repeats).
func (b *roomBody) setPolicy(spec RoomSpec) {
	b.Guests, b.StartMS = spec.Guests, 0
	if !spec.Start.IsZero() {
		b.StartMS = spec.Start.UnixMilli()
	}
	b.Cohosts = slices.Compact(slices.Sorted(slices.Values(spec.Cohosts)))
	if len(b.Cohosts) == 0 {
		b.Cohosts = nil
	}
}

// roomOrgs is a room's organisation list as its record spells it: sorted, without repeats,
// with this node's organisation added to a non-empty list.
func (f *Federation) roomOrgs(orgs []string) []string {
	orgs = slices.Clone(orgs)
	if len(orgs) > 0 && !slices.Contains(orgs, f.cfg.Organisation) {
		orgs = append(orgs, f.cfg.Organisation)
	}
	slices.Sort(orgs)
	return slices.Compact(orgs)
}

// UpdateRoom replaces the title, lobby, organisations, guests, start and co-hosts of a room
// this node owns with spec's (spec.ID names the room; Created is kept) under the record's
// next version, and gossips it.
func (f *Federation) UpdateRoom(spec RoomSpec) (Room, error) {
	return f.EditRoom(spec.ID, func(s *RoomSpec) error { *s = spec; return nil })
}

// EditRoom changes a room this node owns: edit gets the room as it is now and changes it (an
// error from edit changes nothing), and the result is signed under the record's next version
// and gossiped. Edits of this node's rooms run one at a time, so none is lost.
func (f *Federation) EditRoom(id string, edit func(*RoomSpec) error) (Room, error) {
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	f.mu.Lock()
	cur := f.rooms[id]
	f.mu.Unlock()
	if cur == nil {
		return Room{}, fmt.Errorf("federation: update room %s: %w", id, ErrUnknownRoom)
	}
	if cur.rec.Owner != f.self {
		return Room{}, fmt.Errorf("federation: update room %s: owned by %s: %w", id, cur.rec.Owner, ErrNotAllowed)
	}
	if cur.rec.Deleted {
		return Room{}, fmt.Errorf("federation: update room %s: %w", id, ErrRoomDeleted)
	}
	spec := cur.rec.room().Spec()
	if err := edit(&spec); err != nil {
		return Room{}, err
	}
	b := cur.rec
	b.Title, b.Lobby, b.Orgs, b.Ver = spec.Title, spec.Lobby, f.roomOrgs(spec.Orgs), cur.rec.Ver+1
	b.setPolicy(spec)
	if err := b.validate(); err != nil {
		return Room{}, fmt.Errorf("federation: update room: %w", err)
	}
	if err := f.applyOwn(kindRoom, b, ""); err != nil {
		return Room{}, fmt.Errorf("federation: update room: %w", err)
	}
	return b.room(), nil
}

// DeleteRoom deletes a room this node owns: its record's next version marks it deleted and
// is gossiped, and every node that holds it (this one first) drops the room's state and log
// and lets nobody join it again. The record stays as a tombstone.
func (f *Federation) DeleteRoom(id string) (Room, error) {
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	f.mu.Lock()
	cur := f.rooms[id]
	f.mu.Unlock()
	switch {
	case cur == nil:
		return Room{}, fmt.Errorf("federation: delete room %s: %w", id, ErrUnknownRoom)
	case cur.rec.Owner != f.self:
		return Room{}, fmt.Errorf("federation: delete room %s: owned by %s: %w", id, cur.rec.Owner, ErrNotAllowed)
	case cur.rec.Deleted:
		return Room{}, fmt.Errorf("federation: delete room %s: %w", id, ErrRoomDeleted)
	}
	b := cur.rec
	b.Deleted, b.Ver = true, cur.rec.Ver+1
	if err := f.applyOwn(kindRoom, b, ""); err != nil {
		return Room{}, fmt.Errorf("federation: delete room %s: %w", id, err)
	}
	return b.room(), nil
}

// Lookup returns the room with id from the directory; any federated node's rooms are there.
func (f *Federation) Lookup(id string) (Room, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[id]
	if r == nil {
		return Room{}, false
	}
	return r.rec.room(), true
}

// FindRoom returns the room with id, asking every connected peer for its directory first
// if this node does not hold it yet (a room created while the two were apart, or just
// after this node joined the federation). It waits until the room arrives or ctx ends.
func (f *Federation) FindRoom(ctx context.Context, id string) (Room, error) {
	if r, ok := f.Lookup(id); ok {
		return r, nil
	}
	if !ValidRoomID(id) {
		return Room{}, fmt.Errorf("federation: room %q: %w", id, ErrUnknownRoom)
	}
	for _, p := range f.connectedPeers("") {
		f.requestSync(p, true, nil)
	}
	if err := f.WaitRoom(ctx, id); err != nil {
		return Room{}, fmt.Errorf("federation: room %s: %w (%w)", id, ErrUnknownRoom, err)
	}
	r, _ := f.Lookup(id)
	return r, nil
}

// Rooms lists the directory, oldest first.
func (f *Federation) Rooms() []Room {
	f.mu.Lock()
	out := make([]Room, 0, len(f.rooms))
	for _, r := range f.rooms {
		out = append(out, r.rec.room())
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b Room) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
	return out
}

// SetParticipants replaces this node's record of room with ps (nil or empty: the node has
// left the room) and returns the record's version. The room must be in the directory and
// admit this node (ErrUnknownRoom, ErrNotAllowed). With participants, the node joins the
// room's topic and catches up with the room's peers; after the last one leaves it stays on
// the topic for LeaveLinger.
func (f *Federation) SetParticipants(room string, ps []Participant) (uint64, error) {
	if ps == nil {
		ps = []Participant{}
	}
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	f.mu.Lock()
	_, err := f.memberLocked(room, f.self)
	cur := f.states[room].version(f.self)
	was := f.takesPart(room)
	f.mu.Unlock()
	if err != nil {
		if len(ps) == 0 && reasonOf(err) == ReasonDeletedRoom {
			return 0, nil // a deleted room has no records left to empty
		}
		return 0, roomErr(room, err)
	}
	now := nowMS()
	b := stateBody{
		V: wireVersion, Room: room, Node: f.self, Ver: max(cur+1, uint64(now)), TimeMS: now, Participants: ps,
	}
	if err := b.validate(); err != nil {
		return 0, fmt.Errorf("federation: participants of room %s: %w", room, err)
	}
	if len(ps) > 0 {
		if err := f.joinRoom(room); err != nil {
			return 0, err
		}
	}
	if err := f.applyOwn(kindState, b, room); err != nil {
		if len(ps) > 0 && !was {
			f.leaveRoom(room) // joined above for a record that did not take
		}
		return 0, roomErr(room, err)
	}
	if len(ps) == 0 {
		f.mu.Lock()
		if _, joined := f.subs[room]; joined {
			f.idleFrom[room] = time.Now()
		}
		f.mu.Unlock()
	} else if !was {
		// Newly taking part: fetch what the room's peers hold now rather than at the next
		// anti-entropy round (answers are small when they hold nothing new).
		for _, id := range f.connectedPeers(room) {
			f.requestSync(id, false, []string{room})
		}
	}
	return b.Ver, nil
}

// clearOwnParticipants is Config.ClearOwnParticipants, run by New.
func (f *Federation) clearOwnParticipants() {
	f.starting = true
	defer func() { f.starting = false }()
	for _, room := range f.LocalRooms() {
		if _, err := f.SetParticipants(room, nil); err != nil {
			f.log.Warn("clear the participants a previous run left in a room", "room", room, "err", err)
			continue
		}
		f.log.Info("cleared the participants a previous run left in a room", "room", room)
	}
}

// State returns the newest state record of every node that has one in room (this node's
// included), by node.
func (f *Federation) State(room string) []StateRecord {
	f.mu.Lock()
	out := make([]StateRecord, 0, len(f.states[room]))
	for _, s := range f.states[room] {
		out = append(out, s.body.record())
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b StateRecord) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// LocalRooms lists the rooms in which this node's own record has participants (after a
// restart: the rooms it had participants in when it stopped).
func (f *Federation) LocalRooms() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for room := range f.states {
		if f.takesPart(room) {
			out = append(out, room)
		}
	}
	slices.Sort(out)
	return out
}

// Append adds an entry of kind (1-32 of a-z 0-9 _ . -, starting with a letter) with opaque
// JSON data to room's log as this node's next seq, and gossips it. Call it while this node
// has participants in the room; entries appended otherwise reach peers only by catch-up.
func (f *Federation) Append(room, kind string, data json.RawMessage) (Entry, error) {
	if data == nil {
		data = json.RawMessage("null")
	}
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	f.mu.Lock()
	_, err := f.memberLocked(room, f.self)
	var seq uint64
	if s := f.logs[room][f.self]; s != nil {
		seq = s.max()
	}
	f.mu.Unlock()
	if err != nil {
		return Entry{}, roomErr(room, err)
	}
	b := entryBody{V: wireVersion, Room: room, Node: f.self, Seq: seq + 1, TimeMS: nowMS(), Kind: kind, Data: data}
	if err := b.validate(); err != nil {
		return Entry{}, fmt.Errorf("federation: append to room %s: %w", room, err)
	}
	if !json.Valid(data) {
		return Entry{}, fmt.Errorf("federation: append to room %s: data is not JSON", room)
	}
	if err := f.applyOwn(kindEntry, b, room); err != nil {
		return Entry{}, roomErr(room, err)
	}
	return b.entry(), nil
}

// History returns up to limit (0: all) of room's latest delivered log entries, in display
// order (CompareEntries), oldest first. An entry stored past a gap in its node's log is left
// out until the gap is filled and it is delivered to EntryAppended (deliver.go), so that
// History and the events show one stream.
func (f *Federation) History(room string, limit int) ([]Entry, error) {
	raws, err := f.st.history(room, limit)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	removed := maps.Clone(f.removed)
	delivered := make(map[peer.ID]uint64, len(f.logs[room]))
	for node, s := range f.logs[room] {
		delivered[node] = s.delivered
	}
	f.mu.Unlock()
	out := make([]Entry, 0, len(raws))
	for _, raw := range raws {
		m, err := f.decode(raw)
		if err != nil || m.kind != kindEntry || m.entry.Room != room {
			f.log.Warn("skipping a stored log entry that does not check", "room", room, "err", err)
			continue
		}
		if removed[m.origin] || m.entry.Seq > delivered[m.entry.Node] {
			continue
		}
		out = append(out, m.entry.entry())
	}
	return out, nil
}

// applyOwn signs one of this node's records, applies it like an inbound one and publishes
// it on room's topic ("" for the federation topic). ownMu must be held.
func (f *Federation) applyOwn(k kind, body any, room string) error {
	raw, err := seal(f.key, f.self, k, body)
	if err != nil {
		return err
	}
	m, err := decodeMessage(raw)
	if err != nil {
		return fmt.Errorf("own %s record does not check: %w", k, err)
	}
	if err := f.apply(m); err != nil {
		return err
	}
	f.publish(room, raw)
	return nil
}

// roomErr turns a reject about this node's own record into the error callers test for.
func roomErr(room string, err error) error {
	switch reasonOf(err) {
	case ReasonUnknownRoom:
		return fmt.Errorf("federation: room %s: %w", room, ErrUnknownRoom)
	case ReasonNotMember:
		return fmt.Errorf("federation: room %s: %w", room, ErrNotAllowed)
	case ReasonDeletedRoom:
		return fmt.Errorf("federation: room %s: %w", room, ErrRoomDeleted)
	}
	return fmt.Errorf("federation: room %s: %w", room, err)
}
