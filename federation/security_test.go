package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
	"parley/mesh"
)

// envelope builds an envelope by hand: body as given, signed by key (nil: no signature)
// under kind k's prefix, claiming origin from.
func envelope(key *identity.NodeKey, from peer.ID, k kind, body []byte) []byte {
	sig := ""
	if key != nil {
		sig = base64.RawURLEncoding.EncodeToString(key.Sign(append([]byte(signPrefix(k)), body...)))
	}
	out, _ := json.Marshal(signedEnvelope{V: wireVersion, T: k, From: from.String(), Body: body, Sig: sig})
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitReject(t *testing.T, n *testNode, r Reason, atLeast uint64) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("%s rejects: %v", n.name, n.fed.Stats().Rejected)
		}
	}()
	eventually(t, 10*time.Second, n.name+" counting "+string(r), func() bool {
		return n.fed.Stats().Rejected[r] >= atLeast
	})
}

// roomTopic is the mesh topic n's federation joined for room.
func roomTopic(t *testing.T, n *testNode, room string) *mesh.Topic {
	t.Helper()
	n.fed.mu.Lock()
	defer n.fed.mu.Unlock()
	s := n.fed.subs[room]
	if s == nil {
		t.Fatalf("%s has not joined room %s", n.name, room)
	}
	return s.topic
}

// snapshot is what a node holds of a room, to check that bad input changed nothing.
type snapshot struct {
	versions map[peer.ID]uint64
	entries  int
}

func snap(t *testing.T, n *testNode, room string) snapshot {
	t.Helper()
	s := snapshot{versions: map[peer.ID]uint64{}}
	for _, rec := range n.fed.State(room) {
		s.versions[rec.Node] = rec.Version
	}
	h, err := n.fed.History(room, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.entries = len(h)
	return s
}

func (s snapshot) equal(o snapshot) bool {
	if s.entries != o.entries || len(s.versions) != len(o.versions) {
		return false
	}
	for k, v := range s.versions {
		if o.versions[k] != v {
			return false
		}
	}
	return true
}

// TestBadGossipChangesNothing: federated nodes (mallory and trudy) publish forged, unsigned,
// oversized, malformed, replayed, relayed and non-member messages on real room topics; the
// honest nodes change nothing and count each by reason. (Messages their validator rejects
// also lower the sender's gossip score: after six the mesh ignores it, so the cases are
// spread over two senders.)
func TestBadGossipChangesNothing(t *testing.T) {
	log := testLogger(t, slog.LevelError)
	alice := newTestNode(t, log, "alice", "Ministère A", nil)
	bob := newTestNode(t, log, "bob", "Ministère B", nil)
	mallory := newTestNode(t, log, "mallory", "Rogue", nil)
	trudy := newTestNode(t, log, "trudy", "Rogue", nil)
	all := []*testNode{alice, bob, mallory, trudy}
	federate(t, all...)
	connectedAll(t, all)
	ctx := ctxTimeout(t, 40*time.Second)

	open, err := alice.fed.CreateRoom(RoomSpec{Title: "Open"})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := alice.fed.CreateRoom(RoomSpec{Title: "Ministries only", Orgs: []string{"Ministère B"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		for _, r := range []string{open.ID, closed.ID} {
			if err := n.fed.WaitRoom(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := mallory.fed.SetParticipants(closed.ID, []Participant{participant("m", "Mallory")}); err == nil {
		t.Fatal("mallory's node took part in a room that does not admit its organisation")
	}
	versions := map[peer.ID]uint64{}
	for _, n := range all {
		v, err := n.fed.SetParticipants(open.ID, []Participant{participant("p-"+n.name, n.name)})
		if err != nil {
			t.Fatal(err)
		}
		versions[n.id()] = v
	}
	mallory.fed.mu.Lock()
	oldState := mallory.fed.states[open.ID][mallory.id()].raw
	mallory.fed.mu.Unlock()
	vm, err := mallory.fed.SetParticipants(open.ID, []Participant{participant("p-mallory", "mallory"), participant("eve", "Eve")})
	if err != nil {
		t.Fatal(err)
	}
	versions[mallory.id()] = vm
	e1, err := mallory.fed.Append(open.ID, "chat", chatData("mallory", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{alice, bob} {
		for node, v := range versions {
			if err := n.fed.WaitState(ctx, open.ID, node, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.fed.WaitEntries(ctx, open.ID, mallory.id(), e1.Seq); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]snapshot{"alice": snap(t, alice, open.ID), "bob": snap(t, bob, open.ID)}
	va := versions[alice.id()]
	held := func(get func(f *Federation) []byte) []byte {
		alice.fed.mu.Lock()
		defer alice.fed.mu.Unlock()
		return get(alice.fed)
	}
	aliceState := func(ver uint64) []byte {
		return mustJSON(t, stateBody{V: 1, Room: open.ID, Node: alice.id(), Ver: ver, TimeMS: nowMS(), Participants: []Participant{participant("x", "Impostor")}})
	}
	entry := func(by *testNode, v int, seq uint64, data string) []byte {
		return mustJSON(t, entryBody{V: v, Room: open.ID, Node: by.id(), Seq: seq, TimeMS: nowMS(), Kind: "chat", Data: json.RawMessage(data)})
	}

	cases := []struct {
		name   string
		by     *testNode
		data   []byte
		reason Reason
	}{
		// Checked after the validator accepted them: no score penalty.
		{"replayed: mallory's older state", mallory, oldState, ReasonReplay},
		{"replayed: an entry already held, rewritten", mallory, envelope(mallory.key, mallory.id(), kindEntry, entry(mallory, 1, e1.Seq, `"rewritten"`)), ReasonReplay},
		{"entry far beyond the window", mallory, envelope(mallory.key, mallory.id(), kindEntry, entry(mallory, 1, e1.Seq+seqWindow+10, `1`)), ReasonWindow},
		// Rejected by the validator.
		{"forged: alice's state signed by mallory", mallory, envelope(mallory.key, alice.id(), kindState, aliceState(va+1)), ReasonBadSignature},
		{"forged: body names another origin", mallory, envelope(mallory.key, mallory.id(), kindState, aliceState(va+1)), ReasonBadSignature},
		{"unsigned", mallory, envelope(nil, mallory.id(), kindState, mustJSON(t, stateBody{V: 1, Room: open.ID, Node: mallory.id(), Ver: vm + 1, TimeMS: nowMS(), Participants: []Participant{}})), ReasonUnsigned},
		{"oversized entry", mallory, envelope(mallory.key, mallory.id(), kindEntry, entry(mallory, 1, e1.Seq+1, `"`+strings.Repeat("x", maxEntryBody)+`"`)), ReasonOversize},
		{"malformed: not canonical", mallory, []byte(strings.Replace(string(envelope(mallory.key, mallory.id(), kindEntry, entry(mallory, 1, e1.Seq+1, `1`))), `{"v":1,`, `{"v": 1,`, 1)), ReasonMalformed},
		{"malformed: future version", trudy, envelope(trudy.key, trudy.id(), kindEntry, entry(trudy, 2, 1, `1`)), ReasonMalformed},
		{"relayed as its own: alice's genuine state", trudy, held(func(f *Federation) []byte { return f.states[open.ID][alice.id()].raw }), ReasonNotOrigin},
		{"wrong topic: a room record on a room topic", trudy, held(func(f *Federation) []byte { return f.rooms[open.ID].raw }), ReasonWrongTopic},
	}
	want := map[string]map[Reason]uint64{}
	for _, n := range []*testNode{alice, bob} {
		want[n.name] = n.fed.Stats().Rejected
	}
	for _, c := range cases {
		if err := roomTopic(t, c.by, open.ID).Publish(ctx, c.data); err != nil {
			t.Fatalf("%s: publish: %v", c.name, err)
		}
		for _, n := range []*testNode{alice, bob} {
			want[n.name][c.reason]++
			waitReject(t, n, c.reason, want[n.name][c.reason])
		}
	}

	// A room that does not admit trudy's organisation: trudy joins its topic behind its
	// federation's back and publishes a valid, signed state record and entry.
	trudy.host.AllowTopic(RoomTopic(closed.ID))
	if _, err := bob.fed.SetParticipants(closed.ID, []Participant{participant("b", "Bob")}); err != nil {
		t.Fatal(err)
	}
	rogue, err := trudy.host.Join(RoomTopic(closed.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	st := envelope(trudy.key, trudy.id(), kindState, mustJSON(t, stateBody{V: 1, Room: closed.ID, Node: trudy.id(), Ver: 1, TimeMS: nowMS(), Participants: []Participant{participant("t", "Trudy")}}))
	en := envelope(trudy.key, trudy.id(), kindEntry, mustJSON(t, entryBody{V: 1, Room: closed.ID, Node: trudy.id(), Seq: 1, TimeMS: nowMS(), Kind: "chat", Data: json.RawMessage(`"hi"`)}))
	// Trudy's subscription must reach bob before a publish does; publish until counted.
	eventually(t, 10*time.Second, "trudy's messages reaching bob", func() bool {
		_ = rogue.Publish(ctx, st)
		_ = rogue.Publish(ctx, en)
		return bob.fed.Stats().Rejected[ReasonNotMember] >= want["bob"][ReasonNotMember]+2
	})
	if bob.fed.StateVersion(closed.ID, trudy.id()) != 0 || bob.fed.HasEntry(closed.ID, trudy.id(), 1) {
		t.Fatal("bob accepted a non-member's records")
	}

	// Nothing changed on the honest nodes.
	for _, n := range []*testNode{alice, bob} {
		if got := snap(t, n, open.ID); !got.equal(before[n.name]) {
			t.Fatalf("%s's room state changed: %+v, was %+v", n.name, got, before[n.name])
		}
		if n.fed.StateVersion(open.ID, alice.id()) != va || n.fed.StateVersion(open.ID, mallory.id()) != vm {
			t.Fatalf("%s: versions changed", n.name)
		}
		t.Logf("%s rejects: %v", n.name, n.fed.Stats().Rejected)
	}
}

// TestNotFederatedOriginIgnored: records of a node that is federated with a neighbour but
// not with this node arrive by catch-up and are refused.
func TestNotFederatedOriginIgnored(t *testing.T) {
	log := testLogger(t, slog.LevelError)
	alice := newTestNode(t, log, "alice", "", nil)
	bob := newTestNode(t, log, "bob", "", nil)
	nina := newTestNode(t, log, "nina", "", nil)
	federate(t, alice, bob)
	federate(t, bob, nina)
	ctx := ctxTimeout(t, 30*time.Second)
	room, err := bob.fed.CreateRoom(RoomSpec{Title: "Bob's"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{alice, nina} {
		if err := n.fed.WaitRoom(ctx, room.ID); err != nil {
			t.Fatal(err)
		}
	}
	vb, err := bob.fed.SetParticipants(room.ID, []Participant{participant("b", "Bob")})
	if err != nil {
		t.Fatal(err)
	}
	vn, err := nina.fed.SetParticipants(room.ID, []Participant{participant("n", "Nina")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nina.fed.Append(room.ID, "chat", chatData("nina", 1)); err != nil {
		t.Fatal(err)
	}
	if err := bob.fed.WaitEntries(ctx, room.ID, nina.id(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.fed.SetParticipants(room.ID, []Participant{participant("a", "Alice")}); err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.WaitState(ctx, room.ID, bob.id(), vb); err != nil {
		t.Fatal(err)
	}
	waitReject(t, alice, ReasonNotFederated, 2) // nina's state and entry, served by bob
	if alice.fed.StateVersion(room.ID, nina.id()) != 0 || alice.fed.HasEntry(room.ID, nina.id(), 1) {
		t.Fatal("alice accepted records of a node it is not federated with")
	}
	if alice.host.Connected(nina.id()) {
		t.Fatal("alice is connected to a node it does not trust")
	}
	_ = vn
}

// TestRemovedPeer: removal disconnects the peer, drops what it wrote and refuses what it
// writes afterwards, even relayed by a peer that still trusts it.
func TestRemovedPeer(t *testing.T) {
	log := testLogger(t, slog.LevelError)
	changed := make(chan string, 64)
	nodes := []*testNode{
		newTestNode(t, log, "alice", "", func(c *Config) {
			c.Handlers.StateChanged = func(room string) {
				select {
				case changed <- room:
				default:
				}
			}
		}),
		newTestNode(t, log, "bob", "", nil), newTestNode(t, log, "carol", "", nil),
	}
	alice, bob, carol := nodes[0], nodes[1], nodes[2]
	federate(t, nodes...)
	connectedAll(t, nodes)
	ctx := ctxTimeout(t, 30*time.Second)
	owned, err := bob.fed.CreateRoom(RoomSpec{Title: "Bob's own"})
	if err != nil {
		t.Fatal(err)
	}
	room, err := alice.fed.CreateRoom(RoomSpec{Title: "Shared"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		for _, r := range []string{owned.ID, room.ID} {
			if err := n.fed.WaitRoom(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.fed.SetParticipants(room.ID, []Participant{participant("p-"+n.name, n.name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.fed.Append(room.ID, "chat", chatData(n.name, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		for _, m := range nodes {
			if err := n.fed.WaitEntries(ctx, room.ID, m.id(), 1); err != nil {
				t.Fatal(err)
			}
		}
	}

	for len(changed) > 0 {
		<-changed
	}
	if err := alice.fed.Remove(bob.id()); err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.Remove(bob.id()); err == nil {
		t.Fatal("removing a removed peer succeeded")
	}
	eventually(t, 10*time.Second, "alice to drop bob's connection", func() bool { return !alice.host.Connected(bob.id()) })
	for _, p := range alice.fed.Peers() {
		if p.ID == bob.id() {
			t.Fatal("bob still listed as a peer")
		}
	}
	if _, ok := alice.fed.Lookup(owned.ID); ok {
		t.Fatal("alice still serves bob's room")
	}
	if alice.fed.StateVersion(room.ID, bob.id()) != 0 {
		t.Fatal("alice still holds bob's state")
	}
	h, err := alice.fed.History(room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if e.Node == bob.id() {
			t.Fatal("alice still holds bob's entries")
		}
	}
	if got := recv(ctx, t, changed, "state changed after removal"); got != room.ID {
		t.Fatalf("StateChanged(%s) after removal", got)
	}

	// Bob keeps writing; carol, who still trusts him, has it; alice refuses it on catch-up.
	removed0 := alice.fed.Stats().Rejected[ReasonRemoved]
	if _, err := bob.fed.Append(room.ID, "chat", chatData("bob", 2)); err != nil {
		t.Fatal(err)
	}
	if err := carol.fed.WaitEntries(ctx, room.ID, bob.id(), 2); err != nil {
		t.Fatal(err)
	}
	waitReject(t, alice, ReasonRemoved, removed0+1)
	if alice.fed.HasEntry(room.ID, bob.id(), 2) || alice.fed.HasEntry(room.ID, bob.id(), 1) {
		t.Fatal("alice accepted a removed peer's entry")
	}
	// And bob cannot reach alice by himself.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := bob.host.Connect(cctx, alice.id()); err == nil && bob.host.Connected(alice.id()) {
		time.Sleep(200 * time.Millisecond) // the gater closes a connection it should not have let through
		if alice.host.Connected(bob.id()) {
			t.Fatal("a removed peer connected")
		}
	}

	// Removal survives a restart.
	alice.restart()
	if alice.fed.StateVersion(room.ID, bob.id()) != 0 || alice.fed.HasEntry(room.ID, bob.id(), 1) {
		t.Fatal("bob's records came back after a restart")
	}
	for _, p := range alice.fed.Peers() {
		if p.ID == bob.id() {
			t.Fatal("bob is a peer again after a restart")
		}
	}
}
