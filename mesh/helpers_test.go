package mesh

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
)

const (
	quicAddr = "/ip4/127.0.0.1/udp/0/quic-v1"
	tcpAddr  = "/ip4/127.0.0.1/tcp/0"
)

// testLogLevel is the level of the hosts' logs in tests.
var testLogLevel = slog.LevelInfo

// testLogger writes a host's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: testLogLevel}))
}

type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool // set when the test ends: libp2p goroutines may still log after that
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() })
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// newHost starts a host on loopback with kernel-chosen ports, closed when the test ends.
// edit, if given, adjusts the config first.
func newHost(t testing.TB, edit ...func(*Config)) *Host {
	t.Helper()
	key, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Key: key, ListenAddrs: []string{quicAddr, tcpAddr}, Logger: testLogger(t)}
	for _, e := range edit {
		e(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// only keeps the listen addresses containing substr (e.g. "/quic-v1", "/tcp/").
func only(substr string) func(*Config) {
	return func(c *Config) {
		var keep []string
		for _, a := range c.ListenAddrs {
			if strings.Contains(a, substr) {
				keep = append(keep, a)
			}
		}
		c.ListenAddrs = keep
	}
}

// trust makes a trust b, with b's addresses.
func trust(t testing.TB, a, b *Host) {
	t.Helper()
	if err := a.Trust(b.ID(), b.Addrs()); err != nil {
		t.Fatal(err)
	}
}

// events records a host's Notify callbacks.
type events struct {
	mu      sync.Mutex
	log     []connEvent
	changed chan struct{} // closed and replaced on every event
}

func watch(h *Host) *events {
	e := &events{changed: make(chan struct{})}
	h.Notify(func(id peer.ID, up bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.log = append(e.log, connEvent{id, up})
		close(e.changed)
		e.changed = make(chan struct{})
	})
	return e
}

// await waits until the latest event about id says connected == up, failing the test after d.
func (e *events) await(t testing.TB, id peer.ID, up bool, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		e.mu.Lock()
		ch, reached := e.changed, false
		for i := len(e.log) - 1; i >= 0; i-- {
			if e.log[i].id == id {
				reached = e.log[i].up == up
				break
			}
		}
		e.mu.Unlock()
		if reached {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no event (%s, connected=%v) within %v", shortID(id), up, d)
		}
	}
}

func (e *events) saw(id peer.ID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.log {
		if ev.id == id {
			return true
		}
	}
	return false
}

// eventually polls cond every few milliseconds until it holds, failing the test after d.
// It is for state libp2p offers no event for (a peer's subscriptions).
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// joinAll makes every host allow and join topic, and waits until each sees all the others
// subscribed.
func joinAll(t testing.TB, topic string, hosts ...*Host) []*Topic {
	t.Helper()
	topics := make([]*Topic, len(hosts))
	for i, h := range hosts {
		h.AllowTopic(topic)
		tp, err := h.Join(topic)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, tp := range topics {
		for len(tp.Peers()) != len(hosts)-1 {
			if time.Now().After(deadline) {
				for j, other := range hosts {
					if j != i && !slices.Contains(tp.Peers(), other.ID()) {
						t.Errorf("host %d (%s) does not see host %d (%s) on %s (connected %v, its view of us: %v)",
							i, shortID(hosts[i].ID()), j, shortID(other.ID()), topic, hosts[i].Connected(other.ID()), slices.Contains(topics[j].Peers(), hosts[i].ID()))
					}
				}
				t.FailNow()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return topics
}

// next reads the next message of tp within d.
func next(t testing.TB, tp *Topic, d time.Duration) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := tp.Next(ctx)
	if err != nil {
		t.Fatalf("next on %s: %v", tp.Name(), err)
	}
	return m
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
