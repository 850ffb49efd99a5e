package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
	"parley/mesh"
)

// testLogger routes logs to t.Log until the test ends.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after every other cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// testNode is one node's federation on a real mesh host and a real badger database.
type testNode struct {
	t    testing.TB
	name string
	org  string
	dir  string
	key  *identity.NodeKey
	log  *slog.Logger
	opts func(*Config)
	// meshLog is the mesh host's: errors only, since gossipsub warns about tag bookkeeping
	// on every delivery.
	meshLog *slog.Logger

	host *mesh.Host
	db   *badger.DB
	fed  *Federation
}

func openTestDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	opts := badger.DefaultOptions(dir).WithLogger(nil).
		WithMemTableSize(4 << 20).WithValueThreshold(64 << 10).WithValueLogFileSize(8 << 20).WithBlockCacheSize(1 << 20).
		WithIndexCacheSize(1 << 20).WithNumMemtables(2).WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).WithNumCompactors(2).WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open badger: %v", err)
	}
	return db
}

// newTestNode starts a node named name of organisation org (org "" means name).
func newTestNode(t testing.TB, log *slog.Logger, name, org string, opts func(*Config)) *testNode {
	t.Helper()
	key, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	if org == "" {
		org = name
	}
	n := &testNode{t: t, name: name, org: org, dir: t.TempDir(), key: key, log: log.With("node", name), opts: opts,
		meshLog: testLogger(t, slog.LevelError).With("node", name, "component", "mesh")}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	h, err := mesh.New(mesh.Config{
		Key: n.key, ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
		RedialMin: 50 * time.Millisecond, RedialMax: 500 * time.Millisecond,
		DialTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second, Logger: n.meshLog,
	})
	if err != nil {
		n.t.Fatalf("%s: mesh: %v", n.name, err)
	}
	n.host = h
	n.db = openTestDB(n.t, n.dir)
	cfg := Config{
		Host: h, Key: n.key, DB: n.db, Name: n.name, Organisation: n.org,
		AntiEntropyInterval: 500 * time.Millisecond, DirectoryInterval: time.Second, LeaveLinger: 300 * time.Millisecond,
		Logger: n.log,
	}
	if n.opts != nil {
		n.opts(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		n.t.Fatalf("%s: federation: %v", n.name, err)
	}
	n.fed = f
}

func (n *testNode) stop() {
	if n.fed == nil {
		return
	}
	if err := n.fed.Close(); err != nil {
		n.t.Errorf("%s: close federation: %v", n.name, err)
	}
	if err := n.host.Close(); err != nil {
		n.t.Errorf("%s: close mesh: %v", n.name, err)
	}
	if err := n.db.Close(); err != nil {
		n.t.Errorf("%s: close badger: %v", n.name, err)
	}
	n.fed, n.host, n.db = nil, nil, nil
}

func (n *testNode) restart() {
	n.stop()
	n.start()
}

func (n *testNode) id() peer.ID { return n.fed.ID() }

// federate makes every pair of nodes trust each other, as redeemed invites would.
func federate(t testing.TB, nodes ...*testNode) {
	t.Helper()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if _, err := a.fed.AddPeer(b.fed.Record()); err != nil {
				t.Fatalf("%s adds %s: %v", a.name, b.name, err)
			}
			if _, err := b.fed.AddPeer(a.fed.Record()); err != nil {
				t.Fatalf("%s adds %s: %v", b.name, a.name, err)
			}
		}
	}
}

func startNodes(t testing.TB, log *slog.Logger, n int, opts func(*Config)) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newTestNode(t, log, fmt.Sprintf("node%02d", i), "", opts)
	}
	return nodes
}

// eventually polls cond until it holds or d passes. It is for conditions no event signals
// (mesh connectivity, counters); federation state is awaited with Wait*.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectedAll waits until every node is connected to every other.
func connectedAll(t testing.TB, nodes []*testNode) {
	t.Helper()
	var missing []string
	defer func() {
		if t.Failed() {
			t.Logf("not connected: %v", missing)
		}
	}()
	eventually(t, 20*time.Second, "full mesh connectivity", func() bool {
		missing = missing[:0]
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b && !a.host.Connected(b.id()) {
					missing = append(missing, a.name+"->"+b.name)
				}
			}
		}
		return len(missing) == 0
	})
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func participant(id, name string) Participant {
	info, _ := json.Marshal(map[string]string{"name": name})
	return Participant{ID: id, Info: info}
}
