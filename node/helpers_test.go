package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/identity"
	"parley/media/signal"
)

// testLogger writes the node's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool // set when the test ends: pion callbacks may still log after that
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() }) // runs after later cleanups
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

// startNode initialises dir (if needed) and starts a loopback node on it with kernel-chosen
// ports; it is closed when the test ends.
func startNode(t *testing.T, dir string) *Node {
	t.Helper()
	return startNodeGrace(t, dir, 0)
}

// startNodeGrace is startNode with Config.UnreachableGrace set to grace (0: the default).
func startNodeGrace(t *testing.T, dir string, grace time.Duration) *Node {
	t.Helper()
	return startNodeWith(t, dir, func(c *Config) { c.UnreachableGrace = grace })
}

// startNodeWith is startNode with the configuration adjusted by configure.
func startNodeWith(t *testing.T, dir string, configure func(*Config)) *Node {
	t.Helper()
	if _, err := LoadConfig(dir); err != nil {
		if _, err := Init(dir, InitOptions{Name: "test node", HTTPAddr: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaUDPAddr = "127.0.0.1:0"
	configure(&cfg)
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return n
}

// wsClient is a bare signalling client.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	id   *identity.UserIdentity
	pid  string // participant id, once a test learns it
}

func dialWS(t *testing.T, base, room, origin string) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return dialWSHeader(t, base, room, h)
}

// dialWSHeader dials signalling with the request headers h (Origin, Cookie).
func dialWSHeader(t *testing.T, base, room string, h http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/" + room
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(4 << 20)
	id, err := identity.GenerateUserIdentity()
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, conn: conn, id: id}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return c, resp, nil
}

func mustDial(t *testing.T, n *Node, room string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, n.URL(), room, n.URL())
	if err != nil {
		t.Fatalf("dial signalling: %v", err)
	}
	return c
}

func (c *wsClient) sendRaw(data string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, []byte(data))
}

func (c *wsClient) send(m *signal.Message) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.sendRaw(string(b)); err != nil {
		c.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// next returns the next message of type typ (skipping others) within 5 s.
func (c *wsClient) next(typ string) (*signal.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		m, err := signal.DecodeFromNode(data)
		if err != nil {
			return nil, fmt.Errorf("node sent a bad message %q: %w", data, err)
		}
		if m.Type == typ {
			return m, nil
		}
	}
}

// nextAny returns the next message, whatever its type, within 5 s.
func (c *wsClient) nextAny() (*signal.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	return signal.DecodeFromNode(data)
}

func (c *wsClient) must(typ string) *signal.Message {
	c.t.Helper()
	m, err := c.next(typ)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	return m
}

// joinMessage is a join with the client's public keys and, if mod is set, a moderator token.
func (c *wsClient) joinMessage(name, mod string) *signal.Message {
	return &signal.Message{Type: signal.TypeJoin, Name: name, Mod: mod, Keys: &signal.Keys{
		SigPub: base64.RawURLEncoding.EncodeToString(c.id.SigPub()), Age: c.id.AgeRecipient()}}
}

// join joins and returns the joined message.
func (c *wsClient) join(name string) *signal.Message {
	c.t.Helper()
	c.send(c.joinMessage(name, ""))
	return c.must(signal.TypeJoined)
}

// counter reads one series of the node's metrics registry.
func counter(t *testing.T, n *Node, name, code string) float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := code == ""
			for _, l := range m.GetLabel() {
				if (l.GetName() == "code" || l.GetName() == "reason" || l.GetName() == "type") && l.GetValue() == code {
					match = true
				}
			}
			if match {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{code=%q}", name, code)
	return 0
}

func timeAt(ms int64) time.Time { return time.UnixMilli(1_700_000_000_000 + ms) }
