package federation

import (
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"parley/mesh"
)

// entryLog records the EntryAppended events of a node.
type entryLog struct {
	mu  sync.Mutex
	got []Entry
}

func (l *entryLog) add(e Entry) {
	l.mu.Lock()
	l.got = append(l.got, e)
	l.mu.Unlock()
}

// seqs are the seqs delivered so far, in delivery order.
func (l *entryLog) seqs() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]uint64, 0, len(l.got))
	for _, e := range l.got {
		out = append(out, e.Seq)
	}
	return out
}

func (l *entryLog) reset() {
	l.mu.Lock()
	l.got = nil
	l.mu.Unlock()
}

// Delivery runs on the federation's own goroutine, after an entry is stored: expect waits
// (up to 10 s) for the events to be want.
func (l *entryLog) expect(t *testing.T, what string, want ...uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := l.seqs()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: delivered %v, want %v", what, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// orderFixture is alice, recording her events, federated with bob in a room alice owns.
// bob's entries are signed by hand and handed to alice, so their order is the test's.
type orderFixture struct {
	alice, bob *testNode
	events     *entryLog
	room       string
	start      int64 // entry seq's time is start+seq, so that display order is seq order
}

func newOrderFixture(t *testing.T) *orderFixture {
	log := testLogger(t, slog.LevelWarn)
	x := &orderFixture{events: &entryLog{}, start: nowMS()}
	x.alice = newTestNode(t, log, "alice", "", func(c *Config) { c.Handlers.EntryAppended = x.events.add })
	x.bob = newTestNode(t, log, "bob", "", nil)
	federate(t, x.alice, x.bob)
	room, err := x.alice.fed.CreateRoom(RoomSpec{Title: "Ordered"})
	if err != nil {
		t.Fatal(err)
	}
	x.room = room.ID
	return x
}

// entry is bob's entry seq of the room, signed by bob but never stored at bob.
func (x *orderFixture) entry(t *testing.T, seq uint64) []byte {
	t.Helper()
	raw, err := seal(x.bob.key, x.bob.id(), kindEntry, entryBody{V: wireVersion, Room: x.room, Node: x.bob.id(), Seq: seq,
		TimeMS: x.start + int64(seq), Kind: "chat", Data: chatData("bob", int(seq))})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// gossip hands alice bob's entries as if they came on the room's topic, one by one.
func (x *orderFixture) gossip(t *testing.T, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		x.alice.fed.receive(x.room, mesh.Message{From: x.bob.id(), Via: x.bob.id(), Data: x.entry(t, seq)})
	}
}

func historySeqs(t *testing.T, n *testNode, room string) []uint64 {
	t.Helper()
	h, err := n.fed.History(room, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range h {
		out = append(out, e.Seq)
	}
	return out
}

// TestEntriesDeliveredInSeqOrder: entries of one node stored out of order, by gossip and by
// catch-up, reach EntryAppended in seq order, each once; one past a gap waits for it.
func TestEntriesDeliveredInSeqOrder(t *testing.T) {
	x := newOrderFixture(t)
	// Delivery runs in the goroutine that stores, so each step's events are there when
	// receive returns.
	x.gossip(t, 3)
	if !x.alice.fed.HasEntry(x.room, x.bob.id(), 3) {
		t.Fatal("entry 3 was not stored")
	}
	x.events.expect(t, "after 3", []uint64{}...)
	if h := historySeqs(t, x.alice, x.room); len(h) != 0 {
		t.Fatalf("history shows %v before the gap is filled", h)
	}
	x.gossip(t, 1)
	x.events.expect(t, "after 3, 1", 1)
	x.gossip(t, 2)
	x.events.expect(t, "after 3, 1, 2", 1, 2, 3)
	x.gossip(t, 2, 3, 1)
	x.events.expect(t, "after copies of 2, 3, 1", 1, 2, 3)

	// A catch-up answer's entries are taken in one batch, here out of order too.
	x.alice.fed.take(x.room, []json.RawMessage{x.entry(t, 6), x.entry(t, 4), x.entry(t, 6), x.entry(t, 5)}, kindEntry)
	x.events.expect(t, "after catch-up 6, 4, 6, 5", 1, 2, 3, 4, 5, 6)
	if h := historySeqs(t, x.alice, x.room); !slices.Equal(h, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("history %v", h)
	}
	if err := x.alice.fed.WaitEntries(ctxTimeout(t, time.Second), x.room, x.bob.id(), 6); err != nil {
		t.Fatal(err)
	}
	if d := x.alice.fed.Stats().Duplicates; d < 4 {
		t.Fatalf("%d duplicates counted, want at least the 4 copies given", d)
	}
}

// TestDeliveryMarksSurviveRestart: after a restart nothing delivered before is delivered
// again, and an entry stored past a gap before the restart is delivered once the gap fills.
func TestDeliveryMarksSurviveRestart(t *testing.T) {
	x := newOrderFixture(t)
	x.gossip(t, 1, 2, 4)
	x.events.expect(t, "before the restart", 1, 2)

	x.alice.restart()
	x.events.reset()
	if h := historySeqs(t, x.alice, x.room); !slices.Equal(h, []uint64{1, 2}) {
		t.Fatalf("history after the restart %v, want [1 2]", h)
	}
	x.gossip(t, 2)
	x.events.expect(t, "a copy of 2 after the restart", []uint64{}...)
	x.gossip(t, 3)
	x.events.expect(t, "3 after the restart", 3, 4)
	x.gossip(t, 5)
	x.events.expect(t, "5 after the restart", 3, 4, 5)
	if h := historySeqs(t, x.alice, x.room); !slices.Equal(h, []uint64{1, 2, 3, 4, 5}) {
		t.Fatalf("history %v", h)
	}
}

// TestGapPromptsCatchUp: a node that takes no part in a room (so no anti-entropy for it)
// gets an entry past a gap; it asks the entry's node for the rest and delivers all in order.
func TestGapPromptsCatchUp(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	events := &entryLog{}
	alice := newTestNode(t, log, "alice", "", func(c *Config) {
		c.Handlers.EntryAppended = events.add
		c.AntiEntropyInterval = time.Hour
	})
	bob := newTestNode(t, log, "bob", "", nil)
	federate(t, alice, bob)
	connectedAll(t, []*testNode{alice, bob})
	ctx := ctxTimeout(t, 20*time.Second)
	room, err := bob.fed.CreateRoom(RoomSpec{Title: "Gappy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.WaitRoom(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		if _, err := bob.fed.Append(room.ID, "chat", chatData("bob", k)); err != nil {
			t.Fatal(err)
		}
	}
	third, _, err := bob.fed.st.entriesAfter(room.ID, bob.id(), 2, 1, maxSyncResponse)
	if err != nil || len(third) != 1 {
		t.Fatalf("bob's entry 3: %d, %v", len(third), err)
	}
	start := time.Now()
	alice.fed.receive(room.ID, mesh.Message{From: bob.id(), Via: bob.id(), Data: third[0]})
	if err := alice.fed.WaitEntries(ctx, room.ID, bob.id(), 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("gap filled in %v", time.Since(start).Round(time.Millisecond))
	events.expect(t, "after the gap was filled", 1, 2, 3)
	if n := alice.fed.Stats().GapSyncs; n < 1 {
		t.Fatalf("%d catch-ups asked for gaps", n)
	}
}
