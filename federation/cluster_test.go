package federation

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// chatData is a stand-in for the node's opaque chat payload.
func chatData(node string, i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"from":%q,"n":%d}`, node, i))
}

// waitAll waits on every node for every (node, version) state and every (node, 1..seqs) entry.
func waitAll(t *testing.T, nodes []*testNode, room string, versions map[peer.ID]uint64, seqs map[peer.ID]uint64, d time.Duration) {
	t.Helper()
	ctx := ctxTimeout(t, d)
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id, v := range versions {
				if err := n.fed.WaitState(ctx, room, id, v); err != nil {
					errs <- fmt.Errorf("%s: %w", n.name, err)
					return
				}
			}
			for id, last := range seqs {
				if err := n.fed.WaitEntries(ctx, room, id, last); err != nil {
					errs <- fmt.Errorf("%s: %w", n.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// sameHistory checks that every node holds the same log in the same order, with want
// entries, none twice.
func sameHistory(t *testing.T, nodes []*testNode, room string, want int) []Entry {
	t.Helper()
	ref, err := nodes[0].fed.History(room, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != want {
		t.Fatalf("%s holds %d entries, want %d", nodes[0].name, len(ref), want)
	}
	seen := map[string]bool{}
	for i, e := range ref {
		k := fmt.Sprintf("%s/%d", e.Node, e.Seq)
		if seen[k] {
			t.Fatalf("entry %s appears twice", k)
		}
		seen[k] = true
		if i > 0 && CompareEntries(ref[i-1], e) >= 0 {
			t.Fatalf("history out of order at %d", i)
		}
	}
	for _, n := range nodes[1:] {
		got, err := n.fed.History(room, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ref) {
			t.Fatalf("%s holds %d entries, %s %d", n.name, len(got), nodes[0].name, len(ref))
		}
		for i := range got {
			if got[i].Node != ref[i].Node || got[i].Seq != ref[i].Seq || !got[i].Time.Equal(ref[i].Time) ||
				string(got[i].Data) != string(ref[i].Data) {
				t.Fatalf("%s entry %d is %s/%d, %s has %s/%d", n.name, i, got[i].Node, got[i].Seq, nodes[0].name, ref[i].Node, ref[i].Seq)
			}
		}
	}
	return ref
}

func TestTenNodesConverge(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	nodes := startNodes(t, log, 10, nil)
	federate(t, nodes...)
	connectedAll(t, nodes)

	room, err := nodes[0].fed.CreateRoom(RoomSpec{Title: "Cross-agency sync"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.fed.WaitRoom(ctxTimeout(t, 10*time.Second), room.ID); err != nil {
			t.Fatal(err)
		}
		if r, ok := n.fed.Lookup(room.ID); !ok || r.Title != room.Title || r.Owner != nodes[0].id() {
			t.Fatalf("%s: Lookup = %+v, %v", n.name, r, ok)
		}
	}

	// Every node gets a participant and chats three times.
	start := time.Now()
	versions := map[peer.ID]uint64{}
	seqs := map[peer.ID]uint64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := n.fed.SetParticipants(room.ID, []Participant{participant(fmt.Sprintf("p%d", i), "Person "+n.name)})
			if err != nil {
				t.Error(err)
				return
			}
			for k := range 3 {
				if _, err := n.fed.Append(room.ID, "chat", chatData(n.name, k)); err != nil {
					t.Error(err)
					return
				}
			}
			mu.Lock()
			versions[n.id()], seqs[n.id()] = v, 3
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitAll(t, nodes, room.ID, versions, seqs, 20*time.Second)
	t.Logf("10 nodes: every node's state and 3 chat entries everywhere in %v", time.Since(start).Round(time.Millisecond))

	// A participant joining through node 7 is seen by every node's participants.
	start = time.Now()
	joiner := participant("p7b", "Late joiner")
	v7, err := nodes[7].fed.SetParticipants(room.ID, []Participant{participant("p7", "Person node07"), joiner})
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, nodes, room.ID, map[peer.ID]uint64{nodes[7].id(): v7}, nil, 10*time.Second)
	t.Logf("10 nodes: one state change converged in %v", time.Since(start).Round(time.Millisecond))
	for _, n := range nodes {
		st := n.fed.State(room.ID)
		if len(st) != 10 {
			t.Fatalf("%s holds %d state records, want 10", n.name, len(st))
		}
		var names []string
		for _, rec := range st {
			for _, p := range rec.Participants {
				names = append(names, string(p.Info))
			}
		}
		if len(names) != 11 || !slices.Contains(names, `{"name":"Late joiner"}`) {
			t.Fatalf("%s sees participants %v", n.name, names)
		}
	}
	sameHistory(t, nodes, room.ID, 30)

	// Leaving: node 3's record becomes empty everywhere and it leaves the topic.
	v3, err := nodes[3].fed.SetParticipants(room.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, nodes, room.ID, map[peer.ID]uint64{nodes[3].id(): v3}, nil, 10*time.Second)
	for _, n := range nodes {
		for _, rec := range n.fed.State(room.ID) {
			if rec.Node == nodes[3].id() && len(rec.Participants) != 0 {
				t.Fatalf("%s still sees node03's participants", n.name)
			}
		}
	}
	eventually(t, 5*time.Second, "node03 leaving the room topic", func() bool {
		nodes[3].fed.mu.Lock()
		defer nodes[3].fed.mu.Unlock()
		return nodes[3].fed.subs[room.ID] == nil
	})
	if got := nodes[3].fed.LocalRooms(); len(got) != 0 {
		t.Fatalf("node03 LocalRooms = %v", got)
	}
}
