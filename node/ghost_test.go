package node

import (
	"encoding/json"
	"testing"
	"time"

	"parley/federation"
	"parley/media/signal"
)

// TestNoGhostsAfterCrash: a node that stops without publishing that its participants left
// (a crash) still lists them in its state record; when it starts again it publishes the
// record empty, and a participant on another node sees them leave.
func TestNoGhostsAfterCrash(t *testing.T) {
	dirA := t.TempDir()
	a, b := startNode(t, dirA), startNode(t, t.TempDir())
	federate(t, a, b)
	room, err := a.CreateRoom("Haunted")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(room.ID); return err == nil })
	bo := mustDial(t, b, room.ID)
	bo.join("Bo")

	// A's record lists a participant and no session will ever say it left: the state a crash
	// leaves behind (Close publishes only the leaving of live sessions).
	ghost := federation.Participant{ID: "ghost1", Info: json.RawMessage(`{"name":"Casper","org":"test node"}`)}
	if _, err := a.Federation().SetParticipants(room.ID, []federation.Participant{ghost}); err != nil {
		t.Fatal(err)
	}
	if m := bo.must(signal.TypeParticipantJoined); m.Participant.ID != ghost.ID {
		t.Fatalf("Bo sees %+v join, want the ghost", m.Participant)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	a = startNode(t, dirA)
	if m := bo.must(signal.TypeParticipantLeft); m.ID != ghost.ID {
		t.Fatalf("Bo sees %q leave, want the ghost", m.ID)
	}
	t.Logf("the ghost left %v after A started again", time.Since(start).Round(time.Millisecond))
	if lr := a.Federation().LocalRooms(); len(lr) != 0 {
		t.Fatalf("A still takes part in %v", lr)
	}
	for _, rec := range b.Federation().State(room.ID) {
		if len(rec.Participants) > 0 && rec.Node.String() == a.PeerID() {
			t.Fatalf("B holds A's participants %+v", rec.Participants)
		}
	}
}
