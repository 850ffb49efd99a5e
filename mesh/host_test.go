package mesh

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
)

func TestPeerIDOfMatchesHost(t *testing.T) {
	key, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, func(c *Config) { c.Key = key })
	id, err := PeerIDOf(key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if id != h.ID() {
		t.Fatalf("PeerIDOf = %s, host ID = %s", id, h.ID())
	}
	if _, err := PeerIDOf(key.PublicKey()[:31]); err == nil {
		t.Fatal("PeerIDOf accepted a 31-byte key")
	}
	for _, a := range h.Addrs() {
		if !strings.HasSuffix(a, "/p2p/"+h.ID().String()) {
			t.Errorf("address %s does not end in /p2p/<id>", a)
		}
	}
}

func TestConfigRefusesBadInput(t *testing.T) {
	key, _ := identity.GenerateNodeKey()
	for name, cfg := range map[string]Config{
		"no key":       {ListenAddrs: []string{quicAddr}},
		"no addrs":     {Key: key},
		"websocket":    {Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0/ws"}},
		"garbage addr": {Key: key, ListenAddrs: []string{"not an address"}},
		"negative cap": {Key: key, ListenAddrs: []string{quicAddr}, MaxMessageSize: -1},
		"negative lim": {Key: key, ListenAddrs: []string{quicAddr}, Limits: Limits{Conns: -1}},
	} {
		if h, err := New(cfg); err == nil {
			h.Close()
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

// TestTransports: two trusted hosts connect over QUIC, and over TCP (Noise, yamux), and
// exchange a gossip message and a request/response.
func TestTransports(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{{"quic", "/quic-v1"}, {"tcp", "/tcp/"}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newHost(t, only(tc.listen)), newHost(t, only(tc.listen))
			ea := watch(a)
			trust(t, a, b)
			trust(t, b, a)
			ea.await(t, b.ID(), true, 10*time.Second)

			conns := a.host.Network().ConnsToPeer(b.ID())
			if len(conns) == 0 {
				t.Fatal("no connection after the connect event")
			}
			for _, c := range conns {
				if !strings.Contains(c.RemoteMultiaddr().String(), tc.listen) {
					t.Errorf("connection over %s, want %s", c.RemoteMultiaddr(), tc.name)
				}
			}

			topics := joinAll(t, "t", a, b)
			if err := topics[0].Publish(ctxTimeout(t, 5*time.Second), []byte("hello")); err != nil {
				t.Fatal(err)
			}
			m := next(t, topics[1], 5*time.Second)
			if string(m.Data) != "hello" || m.From != a.ID() || m.Via != a.ID() {
				t.Fatalf("got %q from %s via %s", m.Data, m.From, m.Via)
			}

			b.Handle("/test/echo/1", 0, func(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
				if from != a.ID() {
					return nil, errors.New("wrong peer")
				}
				return append([]byte("echo "), req...), nil
			})
			resp, err := a.Request(ctxTimeout(t, 5*time.Second), b.ID(), "/test/echo/1", []byte("ping"), 0)
			if err != nil {
				t.Fatal(err)
			}
			if string(resp) != "echo ping" {
				t.Fatalf("response %q", resp)
			}
		})
	}
}

// TestUntrustedHostRefused: a host nobody trusts cannot connect (the trusted side never
// sees a connection), cannot get a message to a topic, and its requests never reach the
// handler.
func TestUntrustedHostRefused(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{{"quic", "/quic-v1"}, {"tcp", "/tcp/"}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newHost(t, only(tc.listen)), newHost(t, only(tc.listen))
			stranger := newHost(t, only(tc.listen))
			ea := watch(a)
			trust(t, a, b)
			trust(t, b, a)
			trust(t, stranger, a) // the stranger's own gater lets it try
			ea.await(t, b.ID(), true, 10*time.Second)

			var handled atomic.Int32
			a.Handle("/test/h/1", 0, func(context.Context, peer.ID, []byte) ([]byte, error) {
				handled.Add(1)
				return []byte("ok"), nil
			})

			// The dialler's side of the handshake (TLS 1.3 in QUIC, Noise XX over TCP) ends
			// with the message that proves its key, so its dial may report success before a
			// has judged that key; a refuses and closes at once.
			start := time.Now()
			err := stranger.Connect(ctxTimeout(t, 5*time.Second), a.ID())
			eventually(t, 5*time.Second, "stranger disconnected", func() bool { return !stranger.Connected(a.ID()) })
			t.Logf("stranger's dial: err=%v; no connection left after %v", err, time.Since(start).Round(time.Microsecond))
			if a.Stats().RefusedConns == 0 {
				t.Error("the gater counted no refusal")
			}

			if _, err := stranger.Request(ctxTimeout(t, 5*time.Second), a.ID(), "/test/h/1", []byte("x"), 0); err == nil {
				t.Fatal("stranger's request succeeded")
			}

			topics := joinAll(t, "room", a, b)
			stranger.AllowTopic("room")
			st, err := stranger.Join("room")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Publish(ctxTimeout(t, 5*time.Second), []byte("forged")); err != nil {
				t.Fatal(err)
			}
			// b publishes after the stranger: a receives b's message first, and nothing else.
			if err := topics[1].Publish(ctxTimeout(t, 5*time.Second), []byte("real")); err != nil {
				t.Fatal(err)
			}
			if m := next(t, topics[0], 5*time.Second); string(m.Data) != "real" {
				t.Fatalf("a received %q from %s", m.Data, m.From)
			}
			for _, p := range topics[0].Peers() {
				if p == stranger.ID() {
					t.Fatal("the stranger is among a's topic peers")
				}
			}

			if n := handled.Load(); n != 0 {
				t.Fatalf("handler ran %d times", n)
			}
			if ea.saw(stranger.ID()) {
				t.Fatal("a was notified of the stranger")
			}
			if len(a.host.Network().ConnsToPeer(stranger.ID())) != 0 {
				t.Fatal("a holds a connection to the stranger")
			}
		})
	}
}

// TestUntrustDisconnects: Untrust closes the connection, forgets the peer, and the peer
// cannot come back (its dialer keeps trying and is refused).
func TestUntrustDisconnects(t *testing.T) {
	a, b := newHost(t), newHost(t, func(c *Config) { c.RedialMin = 20 * time.Millisecond; c.RedialMax = 50 * time.Millisecond })
	ea := watch(a)
	trust(t, a, b)
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)

	a.Untrust(b.ID())
	ea.await(t, b.ID(), false, 5*time.Second)
	eventually(t, 5*time.Second, "b disconnected", func() bool { return !b.Connected(a.ID()) })
	if len(a.Trusted()) != 0 {
		t.Fatalf("a still trusts %v", a.Trusted())
	}
	if err := a.Connect(ctxTimeout(t, time.Second), b.ID()); !errors.Is(err, ErrNotTrusted) {
		t.Fatalf("Connect to an untrusted peer: %v", err)
	}
	// b redials every 20-50 ms; give it a few dozen attempts.
	refused := a.Stats().RefusedConns
	eventually(t, 10*time.Second, "b's redials refused", func() bool { return a.Stats().RefusedConns >= refused+5 })
	if a.Connected(b.ID()) {
		t.Fatal("b reconnected after Untrust")
	}
	if _, err := b.Request(ctxTimeout(t, 5*time.Second), a.ID(), "/x/1", nil, 0); err == nil {
		t.Fatal("request to a host that untrusted us succeeded")
	}
}

// TestBlockUnblock: Block cuts the link (and keeps it cut against the peer's redials),
// Unblock restores it and messages flow again within a bounded wait.
func TestBlockUnblock(t *testing.T) {
	a, b := newHost(t), newHost(t)
	ea := watch(a)
	trust(t, a, b)
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)
	topics := joinAll(t, "room", a, b)

	a.Block(b.ID())
	ea.await(t, b.ID(), false, 5*time.Second)
	if got := a.Trusted(); len(got) != 1 || got[0] != b.ID() {
		t.Fatalf("Block changed trust: %v", got)
	}
	if err := a.Connect(ctxTimeout(t, time.Second), b.ID()); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Connect to a blocked peer: %v", err)
	}
	if _, err := a.Request(ctxTimeout(t, time.Second), b.ID(), "/x/1", nil, 0); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Request to a blocked peer: %v", err)
	}
	// b's dialer redials at once (the connection was young) and then backs off: every
	// attempt is refused by a's gater.
	refused := a.Stats().RefusedConns
	eventually(t, 10*time.Second, "b's redial refused", func() bool { return a.Stats().RefusedConns > refused })
	if a.Connected(b.ID()) {
		t.Fatal("connected while blocked")
	}
	if err := topics[1].Publish(ctxTimeout(t, time.Second), []byte("during")); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	a.Unblock(b.ID())
	ea.await(t, b.ID(), true, 10*time.Second)
	reconnect := time.Since(start)
	eventually(t, 10*time.Second, "b back among a's topic peers", func() bool { return len(topics[0].Peers()) == 1 })
	// Both hosts redial at once after Unblock, and libp2p keeps one of the two connections:
	// a message published on the one it closes is lost (catch-up is the federation's job;
	// mesh only promises that the link is back). So b publishes again until a has it.
	for attempt := 1; ; attempt++ {
		if err := topics[1].Publish(ctxTimeout(t, time.Second), []byte("after")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got := false
		for !got {
			m, err := topics[0].Next(ctx)
			if err != nil {
				break
			}
			switch string(m.Data) {
			case "after":
				got = true
			case "during": // may still arrive through gossip's short history
			default:
				cancel()
				t.Fatalf("unexpected message %q", m.Data)
			}
		}
		cancel()
		if got {
			break
		}
		if attempt == 10 {
			t.Fatal("a did not get b's message after Unblock in 10 attempts")
		}
	}
	t.Logf("after Unblock: reconnected in %v, message delivered in %v", reconnect.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestTrustValidation: Trust refuses addresses of another peer, non-QUIC/TCP addresses and
// the host itself.
func TestTrustValidation(t *testing.T) {
	a, b := newHost(t), newHost(t)
	if err := a.Trust(a.ID(), nil); err == nil {
		t.Error("a host trusted itself")
	}
	if err := a.Trust(b.ID(), a.Addrs()); err == nil {
		t.Error("Trust took addresses ending in another peer's ID")
	}
	if err := a.Trust(b.ID(), []string{"/ip4/127.0.0.1/tcp/1/ws"}); err == nil {
		t.Error("Trust took a websocket address")
	}
	if err := a.Trust(b.ID(), []string{"/ip4/127.0.0.1/udp/1/quic-v1/p2p-circuit"}); err == nil {
		t.Error("Trust took a relay address")
	}
	if len(a.Trusted()) != 0 {
		t.Errorf("failed Trust calls left %v trusted", a.Trusted())
	}
	var bare []string
	for _, s := range b.Addrs() {
		bare = append(bare, strings.TrimSuffix(s, "/p2p/"+b.ID().String()))
	}
	ea := watch(a)
	if err := a.Trust(b.ID(), bare); err != nil {
		t.Fatal(err)
	}
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)
}

// TestCloseStopsEverything: Close is idempotent, and afterwards Join and Trust say closed.
func TestCloseStopsEverything(t *testing.T) {
	a, b := newHost(t), newHost(t)
	trust(t, a, b)
	trust(t, b, a)
	a.AllowTopic("t")
	tp, err := a.Join("t")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Next(ctxTimeout(t, time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := a.Join("t"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	if err := a.Trust(b.ID(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Trust after Close: %v", err)
	}
}
