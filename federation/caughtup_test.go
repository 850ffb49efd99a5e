package federation

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPeerCaughtUp: when a cut link is restored, a PeerCaughtUp for the peer follows its
// PeerConnection, and by then the state record the peer wrote while cut off has been applied.
func TestPeerCaughtUp(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	// Set before ready is closed; the handlers read them only after.
	var alice *testNode
	var room string
	var bobID peer.ID
	ready := make(chan struct{})
	isReady := func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	}
	var mu sync.Mutex
	back := false                   // bob connected again after the cut; guarded by mu
	caught := make(chan uint64, 64) // bob's state version in the room at each PeerCaughtUp after that
	alice = newTestNode(t, log, "alice", "", func(c *Config) {
		c.Handlers.PeerConnection = func(id peer.ID, up bool) {
			if isReady() && up && id == bobID {
				mu.Lock()
				back = true
				mu.Unlock()
			}
		}
		c.Handlers.PeerCaughtUp = func(id peer.ID) {
			if !isReady() || id != bobID {
				return
			}
			mu.Lock()
			after := back
			mu.Unlock()
			if after {
				caught <- alice.fed.StateVersion(room, id)
			}
		}
	})
	bob := newTestNode(t, log, "bob", "", nil)
	federate(t, alice, bob)
	connectedAll(t, []*testNode{alice, bob})
	r, err := bob.fed.CreateRoom(RoomSpec{Title: "Cut"})
	if err != nil {
		t.Fatal(err)
	}
	room, bobID = r.ID, bob.id()
	ctx := ctxTimeout(t, 20*time.Second)
	if err := alice.fed.WaitRoom(ctx, room); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.fed.SetParticipants(room, []Participant{participant("a", "Alice")}); err != nil {
		t.Fatal(err)
	}
	v1, err := bob.fed.SetParticipants(room, []Participant{participant("b", "Bob")})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.fed.WaitState(ctx, room, bob.id(), v1); err != nil {
		t.Fatal(err)
	}

	alice.host.Block(bob.id())
	bob.host.Block(alice.id())
	eventually(t, 10*time.Second, "the link cut", func() bool { return !alice.host.Connected(bob.id()) })
	v2, err := bob.fed.SetParticipants(room, nil)
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	alice.host.Unblock(bob.id())
	bob.host.Unblock(alice.id())
	select {
	case ver := <-caught:
		if ver < v2 {
			t.Fatalf("caught up with bob holding his state version %d; he wrote %d while cut off", ver, v2)
		}
	case <-ctx.Done():
		t.Fatal("no PeerCaughtUp for bob after the link was restored")
	}
}
