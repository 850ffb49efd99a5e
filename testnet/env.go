package testnet

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/media/client"
	"parley/node"
)

// TestNode is one in-process Parley node for a test: its data directory lives in the test's
// temporary directory, HTTP and media listen on 127.0.0.1 with ports the kernel picks, and
// its logs go to the test log. NewEnv builds a federation out of several.
type TestNode struct {
	Name         string
	Organisation string     // who runs it; the node's default (its name) when empty
	Dir          string     // the data directory, kept across Restart
	Node         *node.Node // the running node; nil while stopped, replaced by Restart
	// Configure, if set, adjusts the configuration before every start (limits a test needs).
	Configure func(*node.Config)

	t   testing.TB
	log *slog.Logger
}

// StartNode initialises a data directory (as `parley init` does) and starts a node on it.
// The node is closed when the test ends.
func StartNode(t testing.TB, name string) *TestNode {
	t.Helper()
	return startNode(t, name, "")
}

// StartNodeWith is StartNode with the configuration adjusted by configure.
func StartNodeWith(t testing.TB, name string, configure func(*node.Config)) *TestNode {
	t.Helper()
	return startNodeWith(t, name, "", configure)
}

// startNode is StartNode for a node run by organisation org ("" for the default).
func startNode(t testing.TB, name, org string) *TestNode {
	t.Helper()
	return startNodeWith(t, name, org, nil)
}

func startNodeWith(t testing.TB, name, org string, configure func(*node.Config)) *TestNode {
	t.Helper()
	n := &TestNode{Name: name, Organisation: org, Dir: t.TempDir(), Configure: configure, t: t, log: TestLogger(t).With("node", name)}
	opts := node.InitOptions{Name: name, Organisation: org, HTTPAddr: "127.0.0.1:0"}
	if _, err := node.Init(n.Dir, opts); err != nil {
		t.Fatalf("init node %s: %v", name, err)
	}
	n.start()
	t.Cleanup(n.Close)
	return n
}

// start loads the configuration, forces loopback with kernel-chosen ports, and starts the node.
func (n *TestNode) start() {
	n.t.Helper()
	cfg, err := node.LoadConfig(n.Dir)
	if err != nil {
		n.t.Fatalf("load config of node %s: %v", n.Name, err)
	}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MediaUDPAddr = "127.0.0.1:0"
	cfg.PublicURL = ""
	if n.Configure != nil {
		n.Configure(&cfg)
	}
	nd, err := node.New(cfg, n.log)
	if err != nil {
		n.t.Fatalf("start node %s: %v", n.Name, err)
	}
	n.Node = nd
	n.log.Info("node started", "url", nd.URL(), "dir", n.Dir)
}

// URL is the node's base URL, e.g. http://127.0.0.1:41234. It changes on Restart.
func (n *TestNode) URL() string { return n.Node.URL() }

// CreateRoom creates a room, failing the test on error.
func (n *TestNode) CreateRoom(title string) node.Room {
	n.t.Helper()
	r, err := n.Node.CreateRoom(title)
	if err != nil {
		n.t.Fatalf("create room %q on node %s: %v", title, n.Name, err)
	}
	return r
}

// Restart closes the node, if it runs, and starts a new one on the same data directory.
func (n *TestNode) Restart() {
	n.t.Helper()
	if n.Node != nil {
		if err := n.Node.Close(); err != nil {
			n.t.Fatalf("close node %s for a restart: %v", n.Name, err)
		}
		n.Node = nil
	}
	n.start()
}

// Running reports whether the node is started (not closed, or restarted since).
func (n *TestNode) Running() bool { return n.Node != nil }

// Close stops the node. It is registered with t.Cleanup; calling it earlier is fine.
func (n *TestNode) Close() {
	if n.Node == nil {
		return
	}
	if err := n.Node.Close(); err != nil {
		n.t.Errorf("close node %s: %v", n.Name, err)
	}
	n.Node = nil
}

// joinTimeout bounds a Go client's connection and join handshake.
const joinTimeout = 15 * time.Second

// Join connects a Go participant to roomID on this node, publishing what pub says. Its logs go
// to the test log and it leaves when the test ends.
func (n *TestNode) Join(t testing.TB, roomID, name string, pub client.Publish) *client.Client {
	t.Helper()
	return n.JoinWith(t, client.Config{Room: roomID, Name: name, Publish: pub})
}

// JoinWith connects a Go participant configured by cfg, whose URL and Logger it fills in, to
// this node. It leaves when the test ends.
func (n *TestNode) JoinWith(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	cfg.URL = n.URL()
	if cfg.Logger == nil {
		cfg.Logger = TestLogger(t).With("client", cfg.Name)
	}
	c, err := client.Join(ctx, cfg)
	if err != nil {
		t.Fatalf("%s joins room %s on node %s: %v", cfg.Name, cfg.Room, n.Name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestLogger returns a logger writing to t's log. PARLEY_TEST_LOG=debug shows debug logs;
// lines written after the test has ended are dropped.
func TestLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("PARLEY_TEST_LOG"), "debug") {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after every later cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// testWriter writes log lines to a test's log until the test ends.
type testWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
