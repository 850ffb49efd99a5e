package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Catch-up (anti-entropy). A node asks a peer for what it lacks (see syncwire.go for the
// wire):
//   - the directory, from every peer that connects and every DirectoryInterval from one
//     connected peer;
//   - each room it takes part in, from every peer that connects and every
//     AntiEntropyInterval from one connected peer of the room, and at once when it starts
//     taking part.
//
// One peer is asked by one goroutine at a time; work asked for while it runs is merged into
// its next round. What comes back goes through the same checks as gossip.

const (
	maxSyncRounds = 64         // answers with "more" followed in one exchange
	syncBudget    = 3900 << 10 // bytes of envelopes an answer carries, under maxSyncResponse
)

// syncWork is what remains to ask one peer.
type syncWork struct {
	dir   bool
	rooms map[string]struct{}
}

// run is the Federation's housekeeping loop: anti-entropy, directory sync and leaving idle
// room topics.
func (f *Federation) run() {
	ae := time.NewTicker(f.cfg.AntiEntropyInterval)
	defer ae.Stop()
	dir := time.NewTicker(f.cfg.DirectoryInterval)
	defer dir.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-ae.C:
			f.antiEntropy()
			f.leaveIdleRooms()
		case <-dir.C:
			if ids := f.connectedPeers(""); len(ids) > 0 {
				f.requestSync(ids[rand.IntN(len(ids))], true, nil)
			}
		}
	}
}

// antiEntropy asks one connected peer of each room this node takes part in.
func (f *Federation) antiEntropy() {
	f.mu.Lock()
	var rooms []string
	for room := range f.rooms {
		if f.takesPart(room) {
			rooms = append(rooms, room)
		}
	}
	f.mu.Unlock()
	for _, room := range rooms {
		if ids := f.connectedPeers(room); len(ids) > 0 {
			f.requestSync(ids[rand.IntN(len(ids))], false, []string{room})
		}
	}
}

// connectedPeers lists the connected federated peers, for room ("" for any) those the room
// admits, preferring those with participants in it.
func (f *Federation) connectedPeers(room string) []peer.ID {
	f.mu.Lock()
	var all, present []peer.ID
	for id := range f.peers {
		if room != "" {
			if _, err := f.memberLocked(room, id); err != nil {
				continue
			}
			if cur := f.states[room][id]; cur != nil && len(cur.body.Participants) > 0 {
				present = append(present, id)
			}
		}
		all = append(all, id)
	}
	f.mu.Unlock()
	connected := func(ids []peer.ID) []peer.ID {
		return slices.DeleteFunc(ids, func(id peer.ID) bool { return !f.host.Connected(id) })
	}
	if present = connected(present); len(present) > 0 {
		return present
	}
	return connected(all)
}

// onConnection is the mesh host's connection callback.
func (f *Federation) onConnection(id peer.ID, up bool) {
	f.mu.Lock()
	_, federated := f.peers[id]
	closed := f.closed
	var rooms []string
	if up && federated {
		for room := range f.rooms {
			if f.takesPart(room) {
				rooms = append(rooms, room)
			}
		}
	}
	f.mu.Unlock()
	if closed || !federated {
		return
	}
	if h := f.cfg.Handlers.PeerConnection; h != nil {
		h(id, up)
	}
	if up {
		f.requestSync(id, true, rooms)
	}
}

// Resync asks every connected federated peer for the directory and for each of rooms (every
// room in the directory when rooms is nil) the peer may take part in, as after a start on a
// store that lost records: what peers hold comes back through the usual checks.
func (f *Federation) Resync(rooms []string) {
	if rooms == nil {
		f.mu.Lock()
		for room := range f.rooms {
			rooms = append(rooms, room)
		}
		f.mu.Unlock()
	}
	asks := map[peer.ID][]string{}
	for _, id := range f.connectedPeers("") {
		asks[id] = nil
	}
	for _, room := range rooms {
		for _, id := range f.connectedPeers(room) {
			asks[id] = append(asks[id], room)
		}
	}
	for id, rs := range asks {
		f.requestSync(id, true, rs)
	}
}

// requestSync queues catch-up with id: the directory if dir, and rooms.
func (f *Federation) requestSync(id peer.ID, dir bool, rooms []string) {
	f.mu.Lock()
	w := f.syncs[id]
	running := w != nil
	if w == nil {
		w = &syncWork{rooms: map[string]struct{}{}}
		f.syncs[id] = w
	}
	w.dir = w.dir || dir
	for _, r := range rooms {
		w.rooms[r] = struct{}{}
	}
	f.mu.Unlock()
	if running {
		return
	}
	if !f.goFn(func() { f.syncWorker(id) }) {
		f.mu.Lock()
		delete(f.syncs, id)
		f.mu.Unlock()
	}
}

// syncWorker does the queued catch-up with id until none is left.
func (f *Federation) syncWorker(id peer.ID) {
	for f.ctx.Err() == nil {
		f.mu.Lock()
		w := f.syncs[id]
		if w == nil || (!w.dir && len(w.rooms) == 0) {
			delete(f.syncs, id)
			f.mu.Unlock()
			if h := f.cfg.Handlers.PeerCaughtUp; h != nil {
				h(id)
			}
			return
		}
		dir, rooms := w.dir, w.rooms
		w.dir, w.rooms = false, map[string]struct{}{}
		f.mu.Unlock()

		if dir {
			if err := f.syncDirectory(id); err != nil {
				f.log.Debug("directory catch-up", "peer", id, "err", err)
			}
		}
		for room := range rooms {
			if err := f.syncRoom(id, room); err != nil {
				f.log.Debug("room catch-up", "peer", id, "room", room, "err", err)
			}
		}
	}
	f.mu.Lock()
	delete(f.syncs, id)
	f.mu.Unlock()
}

// ask sends one catch-up request to id and decodes the answer.
func (f *Federation) ask(id peer.ID, req syncRequest) (syncResponse, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return syncResponse{}, err
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.SyncTimeout)
	defer cancel()
	out, err := f.host.Request(ctx, id, SyncProtocol, data, maxSyncResponse)
	if err != nil {
		return syncResponse{}, err
	}
	resp, err := decodeSyncResponse(out)
	return resp, f.count(err)
}

// take checks and applies the envelopes of an answer about room ("" for the directory).
// Entries are stored in one write.
func (f *Federation) take(room string, items []json.RawMessage, want kind) (last message) {
	var admitted []message
	for _, raw := range items {
		m, err := f.decode(raw)
		if err == nil && m.kind != want {
			err = reject(ReasonWrongTopic, "%s in a catch-up answer's %s list", m.kind, want)
		}
		if err == nil {
			err = checkPlace(room, m)
		}
		if err == nil {
			last = m
			if m.kind == kindEntry {
				if err = f.admitEntry(m); err == nil {
					admitted = append(admitted, m)
				}
			} else {
				err = f.apply(m)
			}
		}
		if f.count(err) != nil && !isReject(err) {
			f.log.Warn("apply catch-up", "room", room, "err", err)
		}
	}
	if err := f.commitEntries(admitted); err != nil {
		f.log.Warn("apply catch-up", "room", room, "err", err)
	}
	return last
}

// syncDirectory fetches the directory of id, its node record and the records it holds of
// this node's other peers (syncpeers.go).
func (f *Federation) syncDirectory(id peer.ID) error {
	after := ""
	for range maxSyncRounds {
		req := syncRequest{V: wireVersion, Dir: true, After: after}
		if after == "" {
			req.Digest = f.directoryDigest()
		}
		resp, err := f.ask(id, req)
		if err != nil {
			return err
		}
		if resp.Node != nil {
			f.take("", []json.RawMessage{resp.Node}, kindNode)
		}
		f.takePeers(resp.Peers)
		last := f.take("", resp.Rooms, kindRoom)
		if !resp.More || last.room == nil || last.room.ID <= after {
			break
		}
		after = last.room.ID
	}
	f.cnt.syncs.Add(1)
	return nil
}

// syncRoom fetches what id holds of room and this node lacks. Catch-ups of one room run one
// at a time, so that when several peers connect at once (a partition heals) each asks with
// what the previous ones brought, and what the others hold comes once, not once per peer.
func (f *Federation) syncRoom(id peer.ID, room string) error {
	f.mu.Lock()
	lock := f.roomSync[room]
	if lock == nil {
		lock = new(sync.Mutex)
		f.roomSync[room] = lock
	}
	f.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	for range maxSyncRounds {
		req := syncRequest{V: wireVersion, Room: room, Have: map[string]uint64{}, States: map[string]uint64{}}
		f.mu.Lock()
		if r := f.rooms[room]; r != nil {
			req.Record = r.raw
		}
		for node, s := range f.logs[room] {
			if s.contig > 0 && len(req.Have) < maxSyncNodes {
				req.Have[node.String()] = s.contig
			}
		}
		for node, s := range f.states[room] {
			if len(req.States) < maxSyncNodes {
				req.States[node.String()] = s.body.Ver
			}
		}
		f.mu.Unlock()
		if len(req.Have) == 0 {
			req.Have = nil
		}
		if len(req.States) == 0 {
			req.States = nil
		}
		resp, err := f.ask(id, req)
		if err != nil {
			return err
		}
		f.take(room, resp.States, kindState)
		f.take(room, resp.Entries, kindEntry)
		f.log.Debug("room catch-up round", "peer", id, "room", room, "states", len(resp.States), "entries", len(resp.Entries), "more", resp.More)
		if !resp.More {
			break
		}
	}
	f.cnt.syncs.Add(1)
	return nil
}

// serveSync answers a catch-up request from a federated peer.
func (f *Federation) serveSync(_ context.Context, from peer.ID, data []byte) ([]byte, error) {
	f.mu.Lock()
	err := f.originLocked(from)
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if err != nil {
		f.count(err)
		return nil, errors.New("not federated")
	}
	req, err := decodeSyncRequest(data)
	if err != nil {
		f.count(err)
		return nil, fmt.Errorf("bad request: %s", reasonOf(err))
	}
	var resp syncResponse
	f.mu.Lock()
	_, known := f.rooms[req.Room]
	f.mu.Unlock()
	if req.Record != nil && !known {
		// The asker's copy of the room record: this node missed its gossip.
		f.take("", []json.RawMessage{req.Record}, kindRoom)
	}
	if req.Dir {
		resp = f.answerDirectory(from, req.After, req.Digest)
	} else if resp, err = f.answerRoom(from, req); err != nil {
		return nil, err
	}
	resp.V = wireVersion
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, errors.New("internal error")
	}
	return out, nil
}

// directoryDigest is the SHA-256 of "<room id> <ver>\n" of every directory room in ID order.
func (f *Federation) directoryDigest() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.digestLocked()
}

func (f *Federation) digestLocked() string {
	ids := slices.Sorted(maps.Keys(f.rooms))
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s %d\n", id, f.rooms[id].rec.Ver)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (f *Federation) answerDirectory(from peer.ID, after, digest string) syncResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := syncResponse{Node: f.selfRaw}
	used := len(f.selfRaw)
	if after == "" {
		resp.Peers = f.peerRecordsLocked(from)
		for _, raw := range resp.Peers {
			used += len(raw) + 1
		}
	}
	if digest != "" && digest == f.digestLocked() {
		return resp
	}
	ids := make([]string, 0, len(f.rooms))
	for id := range f.rooms {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		raw := f.rooms[id].raw
		if len(resp.Rooms) >= maxSyncItems || used+len(raw) > syncBudget {
			resp.More = true
			break
		}
		resp.Rooms = append(resp.Rooms, raw)
		used += len(raw) + 1
	}
	return resp
}

func (f *Federation) answerRoom(from peer.ID, req syncRequest) (syncResponse, error) {
	var resp syncResponse
	type want struct {
		node  peer.ID
		after uint64
	}
	var wants []want
	used := 0
	f.mu.Lock()
	if _, err := f.memberLocked(req.Room, from); err != nil {
		f.mu.Unlock()
		f.count(err)
		return resp, errors.New(string(reasonOf(err)))
	}
	nodes := make([]peer.ID, 0, len(f.states[req.Room]))
	for node := range f.states[req.Room] {
		nodes = append(nodes, node)
	}
	slices.Sort(nodes)
	for _, node := range nodes {
		s := f.states[req.Room][node]
		if s.body.Ver <= req.States[node.String()] {
			continue
		}
		if len(resp.States) >= maxSyncItems || (used+len(s.raw) > syncBudget && len(resp.States) > 0) {
			resp.More = true
			break
		}
		resp.States = append(resp.States, s.raw)
		used += len(s.raw) + 1
	}
	for node, s := range f.logs[req.Room] {
		if have := req.Have[node.String()]; s.max() > have {
			wants = append(wants, want{node, have})
		}
	}
	f.mu.Unlock()

	slices.SortFunc(wants, func(a, b want) int { return cmpID(a.node, b.node) })
	for _, w := range wants {
		n := maxSyncItems - len(resp.Entries)
		if n <= 0 || used >= syncBudget {
			resp.More = true
			break
		}
		got, more, err := f.st.entriesAfter(req.Room, w.node, w.after, n, syncBudget-used)
		if err != nil {
			f.log.Warn("serve catch-up", "room", req.Room, "err", err)
			return resp, errors.New("internal error")
		}
		for _, raw := range got {
			resp.Entries = append(resp.Entries, raw)
			used += len(raw) + 1
		}
		if more {
			resp.More = true
			break
		}
	}
	return resp, nil
}

func cmpID(a, b peer.ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
