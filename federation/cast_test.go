package federation

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestCast: a cast reaches the other node taking part in the room, once, and is not kept; a
// stale one and one from a node the room's policy leaves out are refused and change nothing.
func TestCast(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	got := make(chan Cast, 64)
	alice := newTestNode(t, log, "alice", "", func(c *Config) {
		c.Handlers.CastReceived = func(x Cast) { got <- x }
	})
	bob := newTestNode(t, log, "bob", "", nil)
	eve := newTestNode(t, log, "eve", "Elsewhere", nil)
	federate(t, alice, bob, eve)
	connectedAll(t, []*testNode{alice, bob, eve})
	room, err := alice.fed.CreateRoom(RoomSpec{Title: "Cast", Orgs: []string{"alice", "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 20*time.Second)
	for _, n := range []*testNode{bob, eve} {
		if err := n.fed.WaitRoom(ctx, room.ID); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
	}
	if _, err := alice.fed.SetParticipants(room.ID, []Participant{participant("a", "Alice")}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.fed.SetParticipants(room.ID, []Participant{participant("b", "Bob")}); err != nil {
		t.Fatal(err)
	}
	if err := eve.fed.Cast(room.ID, "caption", json.RawMessage(`{}`)); err == nil {
		t.Fatal("a node the room's policy leaves out cast to it")
	}

	// Gossip reaches bob's new subscribers once the mesh has formed: cast until one arrives.
	data := json.RawMessage(`{"from":"b","sframe":"AAEC"}`)
	var first Cast
	eventually(t, 15*time.Second, "a cast from bob at alice", func() bool {
		if err := bob.fed.Cast(room.ID, "caption", data); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	if first.Room != room.ID || first.Node != bob.id() || first.Kind != "caption" || string(first.Data) != string(data) ||
		time.Since(first.Time) > CastFresh {
		t.Fatalf("cast received as %+v", first)
	}
	entries, err := alice.fed.History(room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("casts were kept: %d log entries", len(entries))
	}

	// A stale cast, signed by bob and published on the room's topic, is refused by the
	// validator and not handed on.
	before := alice.fed.Stats().Rejected[ReasonStale]
	stale, err := seal(bob.key, bob.id(), kindCast, castBody{V: wireVersion, Room: room.ID, Node: bob.id(),
		TimeMS: time.Now().Add(-2 * CastFresh).UnixMilli(), Kind: "caption", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	bob.fed.publish(room.ID, stale)
	eventually(t, 10*time.Second, "the stale cast refused at alice", func() bool {
		return alice.fed.Stats().Rejected[ReasonStale] > before
	})
	for len(got) > 0 {
		if c := <-got; c.Time.Before(time.Now().Add(-CastFresh)) {
			t.Fatalf("stale cast handed on: %+v", c)
		}
	}
	if bob.fed.Stats().Casts == 0 {
		t.Fatal("bob counted no cast")
	}
}
