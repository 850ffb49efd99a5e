package federation

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// recorder collects a node's events on channels.
type recorder struct {
	rooms   chan Room
	states  chan string
	entries chan Entry
	conns   chan bool
}

func newRecorder() *recorder {
	return &recorder{rooms: make(chan Room, 64), states: make(chan string, 64), entries: make(chan Entry, 64), conns: make(chan bool, 64)}
}

func (r *recorder) handlers() Handlers {
	return Handlers{
		RoomLearned:    func(x Room) { r.rooms <- x },
		StateChanged:   func(room string) { r.states <- room },
		EntryAppended:  func(e Entry) { r.entries <- e },
		PeerConnection: func(_ peer.ID, up bool) { r.conns <- up },
	}
}

func recv[T any](ctx context.Context, t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("no %s event", what)
		panic("unreachable")
	}
}

func TestHandlersAndMetrics(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	alice := newTestNode(t, log, "alice", "", func(c *Config) { c.Handlers = rec.handlers(); c.Registerer = reg })
	bob := newTestNode(t, log, "bob", "", nil)
	ctx := ctxTimeout(t, 20*time.Second)
	federate(t, alice, bob)
	if up := recv(ctx, t, rec.conns, "connection"); !up {
		t.Fatal("first connection event is a disconnection")
	}
	room, err := bob.fed.CreateRoom(RoomSpec{Title: "Bob's"})
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(ctx, t, rec.rooms, "room learned"); got.ID != room.ID || got.Title != "Bob's" || got.Owner != bob.id() {
		t.Fatalf("room learned %+v", got)
	}
	if _, err := bob.fed.SetParticipants(room.ID, []Participant{participant("b", "Bob")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.fed.SetParticipants(room.ID, []Participant{participant("a", "Alice")}); err != nil {
		t.Fatal(err)
	}
	for seen := map[string]bool{}; len(seen) < 1; {
		seen[recv(ctx, t, rec.states, "state changed")] = true
	}
	e, err := bob.fed.Append(room.ID, "hand", []byte(`{"raised":true}`))
	if err != nil {
		t.Fatal(err)
	}
	for {
		got := recv(ctx, t, rec.entries, "entry appended")
		if got.Node == bob.id() {
			if got.Seq != e.Seq || got.Kind != "hand" || string(got.Data) != `{"raised":true}` {
				t.Fatalf("entry %+v", got)
			}
			break
		}
	}
	alice.host.Block(bob.id())
	for recv(ctx, t, rec.conns, "disconnection") {
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reasonsSeen := 0
	for _, mf := range mfs {
		if mf.GetName() == "parley_federation_rejects_total" {
			reasonsSeen = len(mf.GetMetric())
		}
	}
	if reasonsSeen != len(Reasons()) {
		t.Fatalf("%d reject series exported, want %d", reasonsSeen, len(Reasons()))
	}

	// After Close, methods that need the running federation refuse, and waiting ends.
	f := alice.fed
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitState(ctx, room.ID, bob.id(), 1<<62); err == nil {
		t.Fatal("WaitState after Close returned nil")
	}
	if _, err := f.AddPeer(bob.fed.Record()); err == nil {
		t.Fatal("AddPeer after Close succeeded")
	}
}

func TestFindRoom(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice := newTestNode(t, log, "alice", "", nil)
	bob := newTestNode(t, log, "bob", "", nil)
	federate(t, alice, bob)
	connectedAll(t, []*testNode{alice, bob})
	alice.host.Block(bob.id())
	bob.host.Block(alice.id())
	room, err := bob.fed.CreateRoom(RoomSpec{Title: "Made while apart"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := alice.fed.Lookup(room.ID); ok {
		t.Fatal("alice learned the room through a blocked link")
	}
	alice.host.Unblock(bob.id())
	bob.host.Unblock(alice.id())
	got, err := alice.fed.FindRoom(ctxTimeout(t, 10*time.Second), room.ID)
	if err != nil || got.ID != room.ID || got.Owner != bob.id() {
		t.Fatalf("FindRoom = %+v, %v", got, err)
	}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := alice.fed.FindRoom(short, NewRoomID()); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("FindRoom of a room nobody has: %v", err)
	}
	if _, err := alice.fed.FindRoom(short, "../x"); !errors.Is(err, ErrUnknownRoom) {
		t.Fatalf("FindRoom of a malformed ID: %v", err)
	}
}
