package testnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/node"
)

// A federation of in-process nodes. NewEnv starts the nodes and federates every pair by
// invite; Partition and Heal cut and restore the links between chosen sets of nodes; Stop
// and Restart take a node down and bring it back on the same data directory. Nodes are
// numbered from 0 in Env.Nodes and named "Node 1".."Node n".

// Bounds of the Env's waits.
const (
	envJoinTimeout     = 20 * time.Second // one invite redeemed
	envLinkTimeout     = 30 * time.Second // links up (or down) after NewEnv, Partition, Heal, Restart
	envDirectoryWait   = 15 * time.Second // a new room in every directory
	envInviteLifetime  = 10 * time.Minute
	envStartConcurrent = 4 // nodes federating at the same time in NewEnv
)

// Env is a federation of nodes running in the test's process.
type Env struct {
	// Nodes are the federated nodes; Env's methods take their index.
	Nodes []*TestNode

	t   testing.TB
	ids []peer.ID // Nodes[i]'s peer ID; the node key, and so the ID, survives restarts

	cut map[[2]int]bool // links cut by Partition, keyed (low, high) index
}

// EnvOption configures NewEnv.
type EnvOption func(*envConfig)

type envConfig struct {
	names, orgs []string
}

// WithNames names the nodes: names[i] for node i. Nodes without a name get "Node i+1".
func WithNames(names ...string) EnvOption {
	return func(c *envConfig) { c.names = names }
}

// WithOrganisations sets who runs each node: orgs[i] for node i. Nodes without one get
// "Organisation i+1", so every node's organisation differs by default.
func WithOrganisations(orgs ...string) EnvOption {
	return func(c *envConfig) { c.orgs = orgs }
}

// NewEnv starts n nodes on loopback (every port chosen by the kernel, libp2p's too),
// federates every pair by invite through the node API and waits until every node is
// connected to every other. The nodes stop when the test ends.
func NewEnv(t testing.TB, n int, opts ...EnvOption) *Env {
	t.Helper()
	if n < 1 {
		t.Fatalf("NewEnv: %d nodes", n)
	}
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	e := &Env{t: t, cut: map[[2]int]bool{}}
	for i := range n {
		name, org := fmt.Sprintf("Node %d", i+1), fmt.Sprintf("Organisation %d", i+1)
		if i < len(cfg.names) && cfg.names[i] != "" {
			name = cfg.names[i]
		}
		if i < len(cfg.orgs) && cfg.orgs[i] != "" {
			org = cfg.orgs[i]
		}
		tn := startNode(t, name, org)
		e.Nodes = append(e.Nodes, tn)
		e.ids = append(e.ids, tn.Node.Federation().ID())
	}
	start := time.Now()
	if err := e.federateAll(); err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	e.WaitLinks()
	t.Logf("federation of %d nodes up in %v", n, time.Since(start).Round(time.Millisecond))
	return e
}

// federateAll federates every pair (i, j), i < j: node i invites, node j redeems. Node j
// redeems its invites one after the other; a few nodes do so at the same time.
func (e *Env) federateAll() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, envStartConcurrent)
	for j := 1; j < len(e.Nodes); j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for i := range j {
				if err := e.federate(i, j); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// federate makes node i invite node j, and node j redeem the invite.
func (e *Env) federate(i, j int) error {
	a, b := e.Nodes[i], e.Nodes[j]
	inv, err := a.Node.Invite(envInviteLifetime)
	if err != nil {
		return fmt.Errorf("%s invites: %w", a.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), envJoinTimeout)
	defer cancel()
	if _, err := b.Node.JoinFederation(ctx, inv); err != nil {
		return fmt.Errorf("%s redeems the invite of %s: %w", b.Name, a.Name, err)
	}
	return nil
}

// PeerID is node i's libp2p peer ID. It does not change on Restart.
func (e *Env) PeerID(i int) peer.ID { return e.ids[i] }

// Partition cuts every link between a node of a and a node of b, in both directions, until
// Heal. It waits until the cut links are down. A stopped node's links are cut when it
// restarts.
func (e *Env) Partition(a, b []int) {
	e.t.Helper()
	e.setLinks(a, b, false)
	e.WaitLinks()
}

// Heal restores the links between a and b that Partition cut, and waits until they are up.
func (e *Env) Heal(a, b []int) {
	e.t.Helper()
	e.setLinks(a, b, true)
	e.WaitLinks()
}

func (e *Env) setLinks(a, b []int, up bool) {
	for _, i := range a {
		for _, j := range b {
			if i != j {
				e.setLink(i, j, up)
			}
		}
	}
}

// setLink is the one place where a link between two nodes is cut or restored: the libp2p
// connection (federation gossip and catch-up), on both ends, so that neither dials nor
// accepts the other. The media cascade between the two nodes will be cut and restored here
// too.
func (e *Env) setLink(i, j int, up bool) {
	key := [2]int{min(i, j), max(i, j)}
	if up {
		delete(e.cut, key)
	} else {
		e.cut[key] = true
	}
	for _, end := range [][2]int{{i, j}, {j, i}} {
		local, remote := e.Nodes[end[0]], e.ids[end[1]]
		if !local.Running() {
			continue // restoreLinks applies the cut when it restarts
		}
		if up {
			local.Node.Mesh().Unblock(remote)
		} else {
			local.Node.Mesh().Block(remote)
		}
	}
}

// restoreLinks cuts, on a freshly started node i, the links that are cut in the Env: the
// new host knows nothing of the old one's blocks.
func (e *Env) restoreLinks(i int) {
	for key := range e.cut {
		switch i {
		case key[0]:
			e.Nodes[i].Node.Mesh().Block(e.ids[key[1]])
		case key[1]:
			e.Nodes[i].Node.Mesh().Block(e.ids[key[0]])
		}
	}
}

// Linked reports whether the link between nodes i and j is up: not cut, and both running.
func (e *Env) Linked(i, j int) bool {
	return i != j && !e.cut[[2]int{min(i, j), max(i, j)}] && e.Nodes[i].Running() && e.Nodes[j].Running()
}

// WaitLinks waits until the libp2p connections between running nodes are as the Env says:
// up between every linked pair, down across every cut.
func (e *Env) WaitLinks() {
	e.t.Helper()
	Eventually(e.t, envLinkTimeout, "links between the nodes as the Env says", func() error {
		var wrong []string
		for i, a := range e.Nodes {
			if !a.Running() {
				continue
			}
			for j, b := range e.Nodes {
				if i == j || !b.Running() {
					continue
				}
				if want := e.Linked(i, j); a.Node.Mesh().Connected(e.ids[j]) != want {
					state := "down"
					if !want {
						state = "up"
					}
					wrong = append(wrong, fmt.Sprintf("%s→%s %s", a.Name, b.Name, state))
				}
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%d wrong: %s", len(wrong), strings.Join(wrong[:min(len(wrong), 8)], ", "))
		}
		return nil
	})
}

// Stop closes node i. Its data directory stays for Restart.
func (e *Env) Stop(i int) {
	e.t.Helper()
	e.Nodes[i].Close()
}

// Restart starts node i again on its data directory (closing it first if it runs), cuts the
// links that are cut in the Env, and waits until it is connected to every node it is linked
// to. Its HTTP and libp2p ports change: it dials its peers at the addresses it stored, and
// they learn its new addresses from its new node record.
func (e *Env) Restart(i int) {
	e.t.Helper()
	e.Nodes[i].Restart()
	e.restoreLinks(i)
	e.WaitLinks()
}

// CreateRoom creates a room on node i and waits until the directory of every running node
// holds it (a node cut off from node i must get it some other way).
func (e *Env) CreateRoom(i int, title string) node.Room {
	e.t.Helper()
	room := e.Nodes[i].CreateRoom(title)
	ctx, cancel := context.WithTimeout(context.Background(), envDirectoryWait)
	defer cancel()
	for _, n := range e.Nodes {
		if !n.Running() {
			continue
		}
		if err := n.Node.Federation().WaitRoom(ctx, room.ID); err != nil {
			e.t.Fatalf("room %q created on %s is not in the directory of %s: %v", title, e.Nodes[i].Name, n.Name, err)
		}
	}
	return room
}
