package federation

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// cut blocks every link between the two halves, in both directions.
func cut(a, b []*testNode) {
	for _, x := range a {
		for _, y := range b {
			x.host.Block(y.id())
			y.host.Block(x.id())
		}
	}
}

func heal(a, b []*testNode) {
	for _, x := range a {
		for _, y := range b {
			x.host.Unblock(y.id())
			y.host.Unblock(x.id())
		}
	}
}

func TestPartitionHeals(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	nodes := startNodes(t, log, 10, nil)
	federate(t, nodes...)
	connectedAll(t, nodes)
	room, err := nodes[0].fed.CreateRoom(RoomSpec{Title: "Partitioned"})
	if err != nil {
		t.Fatal(err)
	}
	versions := map[peer.ID]uint64{}
	seqs := map[peer.ID]uint64{}
	for _, n := range nodes {
		if err := n.fed.WaitRoom(ctxTimeout(t, 10*time.Second), room.ID); err != nil {
			t.Fatal(err)
		}
		v, err := n.fed.SetParticipants(room.ID, []Participant{participant("p-"+n.name, n.name)})
		if err != nil {
			t.Fatal(err)
		}
		versions[n.id()] = v
		if _, err := n.fed.Append(room.ID, "chat", chatData(n.name, 0)); err != nil {
			t.Fatal(err)
		}
		seqs[n.id()] = 1
	}
	waitAll(t, nodes, room.ID, versions, seqs, 20*time.Second)

	left, right := nodes[:5], nodes[5:]
	cut(left, right)
	eventually(t, 10*time.Second, "the halves to disconnect", func() bool {
		for _, x := range left {
			for _, y := range right {
				if x.host.Connected(y.id()) {
					return false
				}
			}
		}
		return true
	})

	// Both halves keep chatting and changing state, concurrently.
	const perNode = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 1; k <= perNode; k++ {
				if _, err := n.fed.Append(room.ID, "chat", chatData(n.name, k)); err != nil {
					t.Error(err)
					return
				}
			}
			v, err := n.fed.SetParticipants(room.ID, []Participant{
				participant("p-"+n.name, n.name), participant("q-"+n.name, "second "+n.name)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			versions[n.id()], seqs[n.id()] = v, perNode+1
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Each half converges on its own side.
	leftVersions, leftSeqs := map[peer.ID]uint64{}, map[peer.ID]uint64{}
	for _, n := range left {
		leftVersions[n.id()], leftSeqs[n.id()] = versions[n.id()], seqs[n.id()]
	}
	waitAll(t, left, room.ID, leftVersions, leftSeqs, 10*time.Second)
	for _, x := range left {
		for _, y := range right {
			if x.fed.HasEntry(room.ID, y.id(), 2) {
				t.Fatalf("%s holds an entry %s wrote during the partition", x.name, y.name)
			}
		}
	}

	start := time.Now()
	heal(left, right)
	waitAll(t, nodes, room.ID, versions, seqs, 60*time.Second)
	t.Logf("10 nodes, 5|5 partition with %d entries per node: converged %v after heal",
		perNode, time.Since(start).Round(time.Millisecond))

	hist := sameHistory(t, nodes, room.ID, len(nodes)*(perNode+1))
	for _, n := range nodes {
		for _, rec := range n.fed.State(room.ID) {
			if len(rec.Participants) != 2 {
				t.Fatalf("%s sees %d participants on %s", n.name, len(rec.Participants), rec.Node)
			}
		}
	}
	// Every entry is the one its node wrote.
	for _, e := range hist {
		name := ""
		for _, n := range nodes {
			if n.id() == e.Node {
				name = n.name
			}
		}
		if want := string(chatData(name, int(e.Seq-1))); string(e.Data) != want {
			t.Fatalf("entry %s/%d holds %s, want %s", name, e.Seq, e.Data, want)
		}
	}
}
