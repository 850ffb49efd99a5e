package federation

import (
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestMovedPeersMeetThroughThird: alice and bob both restart on new addresses while carol
// stays where she was. Each of them only holds the other's old addresses, and each gossips
// its new record before it is connected to anyone; they find each other again because
// carol's directory answer carries the records she holds of her other peers.
func TestMovedPeersMeetThroughThird(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice := newTestNode(t, log, "alice", "", nil)
	bob := newTestNode(t, log, "bob", "", nil)
	carol := newTestNode(t, log, "carol", "", nil)
	all := []*testNode{alice, bob, carol}
	federate(t, all...)
	connectedAll(t, all)

	// Both move: stopped together, so neither can tell the other where it went.
	old := map[*testNode][]string{alice: alice.fed.Self().Addrs, bob: bob.fed.Self().Addrs}
	alice.stop()
	bob.stop()
	for _, n := range []*testNode{alice, bob} {
		// Port 0 may hand back the old port; then the node has not moved, so move it again.
		for try := 0; ; try++ {
			n.start()
			if !slices.Equal(n.fed.Self().Addrs, old[n]) {
				break
			}
			if try == 5 {
				t.Fatalf("%s keeps coming back on %v", n.name, old[n])
			}
			n.stop()
		}
	}
	start := time.Now()
	eventually(t, 10*time.Second, "alice and bob reconnecting through carol", func() bool {
		return alice.host.Connected(bob.id()) && bob.host.Connected(alice.id())
	})
	t.Logf("alice and bob reconnected %v after both moved", time.Since(start).Round(time.Millisecond))
	for _, pair := range [][2]*testNode{{alice, bob}, {bob, alice}} {
		holder, moved := pair[0], pair[1]
		eventually(t, 5*time.Second, holder.name+" holding "+moved.name+"'s new record", func() bool {
			for _, p := range holder.fed.Peers() {
				if p.ID == moved.id() {
					return slices.Equal(p.Record.Addrs, moved.fed.Self().Addrs)
				}
			}
			return false
		})
	}
}

// TestDirectoryPeersOnlyFederated: a directory answer's peers are the answerer's other
// federated peers, never the asker itself; the asker takes only records of nodes it
// federates, and only newer ones.
func TestDirectoryPeersOnlyFederated(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice := newTestNode(t, log, "alice", "", nil)
	bob := newTestNode(t, log, "bob", "", nil)
	carol := newTestNode(t, log, "carol", "", nil)
	dave := newTestNode(t, log, "dave", "", nil)
	// bob federates everyone; alice only bob and carol. dave is a stranger to alice.
	federate(t, alice, bob, carol)
	federate(t, bob, dave)

	resp := bob.fed.answerDirectory(alice.id(), "", "")
	var got []string
	for _, raw := range resp.Peers {
		m, err := decodeMessage(raw)
		if err != nil {
			t.Fatalf("answer carries an envelope that does not check: %v", err)
		}
		got = append(got, m.node.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"carol", "dave"}) {
		t.Fatalf("bob's answer to alice carries the records of %v, want carol and dave", got)
	}
	if later := bob.fed.answerDirectory(alice.id(), "zzz", ""); len(later.Peers) != 0 {
		t.Fatalf("a later page carries %d peer records", len(later.Peers))
	}

	alice.fed.takePeers(resp.Peers)
	if p := alice.fed.Peers(); len(p) != 2 || p[0].Record.Name != "bob" || p[1].Record.Name != "carol" {
		t.Fatalf("alice federates %+v after taking bob's answer, want bob and carol (dave is not hers)", p)
	}

	// A newer record of carol is taken; the one alice holds already changes nothing.
	held := carol.fed.Record()
	if err := carol.fed.issueSelf(); err != nil {
		t.Fatal(err)
	}
	newer := carol.fed.Record()
	alice.fed.takePeers([]json.RawMessage{newer})
	carolAt := func() time.Time {
		for _, p := range alice.fed.Peers() {
			if p.ID == carol.id() {
				return p.Record.Issued
			}
		}
		return time.Time{}
	}
	want := carol.fed.Self().Issued
	if got := carolAt(); !got.Equal(want) {
		t.Fatalf("alice holds carol's record of %v, want the newer one of %v", got, want)
	}
	alice.fed.takePeers([]json.RawMessage{held})
	if got := carolAt(); !got.Equal(want) {
		t.Fatalf("an older record of carol replaced the newer one: %v", got)
	}
}
