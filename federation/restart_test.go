package federation

import (
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func TestRestartKeepsState(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice := newTestNode(t, log, "alice", "", nil)
	bob := newTestNode(t, log, "bob", "", nil)
	federate(t, alice, bob)
	ctx := ctxTimeout(t, 30*time.Second)
	room, err := alice.fed.CreateRoom(RoomSpec{Title: "Durable", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.fed.WaitRoom(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	var lastBob Entry
	for _, n := range []*testNode{alice, bob} {
		if _, err := n.fed.SetParticipants(room.ID, []Participant{participant("p-"+n.name, n.name)}); err != nil {
			t.Fatal(err)
		}
		for k := range 5 {
			e, err := n.fed.Append(room.ID, "chat", chatData(n.name, k))
			if err != nil {
				t.Fatal(err)
			}
			if n == bob {
				lastBob = e
			}
		}
	}
	if err := alice.fed.WaitEntries(ctx, room.ID, bob.id(), lastBob.Seq); err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.WaitState(ctx, room.ID, bob.id(), bob.fed.StateVersion(room.ID, bob.id())); err != nil {
		t.Fatal(err)
	}
	peers, rooms, state := alice.fed.Peers(), alice.fed.Rooms(), alice.fed.State(room.ID)
	hist, err := alice.fed.History(room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	self := alice.fed.Self()

	alice.restart()

	if got := alice.fed.Peers(); len(got) != 1 || got[0].ID != peers[0].ID || !reflect.DeepEqual(got[0].Record, peers[0].Record) {
		t.Fatalf("peers after restart: %+v, before %+v", got, peers)
	}
	if got := alice.fed.Rooms(); !reflect.DeepEqual(got, rooms) {
		t.Fatalf("rooms after restart: %+v, before %+v", got, rooms)
	}
	if got := alice.fed.State(room.ID); !reflect.DeepEqual(got, state) {
		t.Fatalf("state after restart: %+v, before %+v", got, state)
	}
	got, err := alice.fed.History(room.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, hist) || len(got) != 10 {
		t.Fatalf("history after restart: %d entries, before %d", len(got), len(hist))
	}
	if last, err := alice.fed.History(room.ID, 3); err != nil || !reflect.DeepEqual(last, hist[7:]) {
		t.Fatalf("History(3) = %v, %v", last, err)
	}
	if lr := alice.fed.LocalRooms(); len(lr) != 1 || lr[0] != room.ID {
		t.Fatalf("LocalRooms after restart = %v", lr)
	}
	if now := alice.fed.Self(); !now.Issued.After(self.Issued) {
		t.Fatalf("node record not reissued: %v, before %v", now.Issued, self.Issued)
	}

	// Numbering goes on where it stopped, and the restarted node is back in the room.
	e, err := alice.fed.Append(room.ID, "chat", chatData("alice", 5))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 6 {
		t.Fatalf("first entry after restart has seq %d, want 6", e.Seq)
	}
	v, err := alice.fed.SetParticipants(room.ID, []Participant{participant("p-alice", "alice"), participant("q", "Quentin")})
	if err != nil {
		t.Fatal(err)
	}
	if v <= state[0].Version && v <= state[len(state)-1].Version {
		t.Fatalf("version after restart %d is not newer", v)
	}
	if err := bob.fed.WaitEntries(ctx, room.ID, alice.id(), 6); err != nil {
		t.Fatal(err)
	}
	if err := bob.fed.WaitState(ctx, room.ID, alice.id(), v); err != nil {
		t.Fatal(err)
	}
	e, err = bob.fed.Append(room.ID, "chat", chatData("bob", 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.WaitEntries(ctx, room.ID, bob.id(), e.Seq); err != nil {
		t.Fatal(err)
	}
}
