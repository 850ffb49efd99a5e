package testnet

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// echoServer answers every datagram with the same bytes and records the first 4 bytes of
// each, in arrival order.
type echoServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seen []uint32
	wg   sync.WaitGroup
}

func newEchoServer(t *testing.T) *echoServer {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{conn: conn}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				e.mu.Lock()
				e.seen = append(e.seen, binary.BigEndian.Uint32(buf))
				e.mu.Unlock()
			}
			_, _ = conn.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); e.wg.Wait() })
	return e
}

func (e *echoServer) addr() *net.UDPAddr { return e.conn.LocalAddr().(*net.UDPAddr) }

func (e *echoServer) received() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seen)
}

// echoClient sends numbered datagrams through a proxy and times the echoes.
type echoClient struct {
	conn *net.UDPConn
	mu   sync.Mutex
	sent map[uint32]time.Time
	rtt  map[uint32]time.Duration
	wg   sync.WaitGroup
}

func newEchoClient(t *testing.T, to *net.UDPAddr) *echoClient {
	conn, err := net.DialUDP("udp4", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	c := &echoClient{conn: conn, sent: map[uint32]time.Time{}, rtt: map[uint32]time.Duration{}}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 4 {
				continue
			}
			seq := binary.BigEndian.Uint32(buf)
			c.mu.Lock()
			if at, ok := c.sent[seq]; ok {
				c.rtt[seq] = time.Since(at)
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); c.wg.Wait() })
	return c
}

// send sends datagrams first..first+n-1, gap apart.
func (c *echoClient) send(t *testing.T, first, n uint32, gap time.Duration) {
	b := make([]byte, 200)
	for seq := first; seq < first+n; seq++ {
		binary.BigEndian.PutUint32(b, seq)
		c.mu.Lock()
		c.sent[seq] = time.Now()
		c.mu.Unlock()
		if _, err := c.conn.Write(b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(gap)
	}
}

func (c *echoClient) echoes() map[uint32]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint32]time.Duration, len(c.rtt))
	for k, v := range c.rtt {
		out[k] = v
	}
	return out
}

func TestUDPProxyLossAndDelay(t *testing.T) {
	echo := newEchoServer(t)
	p := NewUDPProxy(t, echo.addr(), UDPProxyConfig{Loss: 0.1, Delay: 20 * time.Millisecond, Seed: 7})
	c := newEchoClient(t, p.Addr())
	const n = 1000
	c.send(t, 0, n, 200*time.Microsecond)
	Eventually(t, 5*time.Second, "every datagram forwarded or dropped", func() error {
		to, from := p.Stats(ToTarget), p.Stats(FromTarget)
		if to.Forwarded+to.Dropped != n || from.Forwarded+from.Dropped != to.Forwarded {
			return errors.New("in flight")
		}
		return nil
	})
	to, from := p.Stats(ToTarget), p.Stats(FromTarget)
	t.Logf("to target %+v, from target %+v", to, from)
	for name, s := range map[string]UDPProxyStats{"to target": to, "from target": from} {
		rate := float64(s.Dropped) / float64(s.Dropped+s.Forwarded)
		if math.Abs(rate-0.1) > 0.03 {
			t.Errorf("%s: drop rate %.3f, want 0.1", name, rate)
		}
	}
	echoes := c.echoes()
	if uint64(len(echoes)) != from.Forwarded {
		t.Errorf("%d echoes, proxy forwarded %d", len(echoes), from.Forwarded)
	}
	for seq, rtt := range echoes {
		if rtt < 40*time.Millisecond {
			t.Fatalf("datagram %d came back after %v, before twice the delay", seq, rtt)
		}
	}
	// Without jitter, order is kept.
	if got := echo.received(); !slices.IsSorted(got) {
		t.Errorf("datagrams reordered without jitter")
	}
}

func TestUDPProxyDeterministic(t *testing.T) {
	run := func(seed uint64) []uint32 {
		echo := newEchoServer(t)
		p := NewUDPProxy(t, echo.addr(), UDPProxyConfig{Loss: 0.3, Seed: seed})
		c := newEchoClient(t, p.Addr())
		c.send(t, 0, 300, 50*time.Microsecond)
		Eventually(t, 5*time.Second, "all datagrams handled", func() error {
			if s := p.Stats(ToTarget); s.Forwarded+s.Dropped != 300 {
				return errors.New("in flight")
			}
			return nil
		})
		Eventually(t, 5*time.Second, "echo server saw what was forwarded", func() error {
			if uint64(len(echo.received())) != p.Stats(ToTarget).Forwarded {
				return errors.New("in flight")
			}
			return nil
		})
		return echo.received()
	}
	a, b, other := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different drops: %d and %d datagrams through", len(a), len(b))
	}
	if slices.Equal(a, other) {
		t.Errorf("another seed dropped exactly the same datagrams")
	}
}

func TestUDPProxyCutAndJitter(t *testing.T) {
	echo := newEchoServer(t)
	p := NewUDPProxy(t, echo.addr(), UDPProxyConfig{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 3})
	c := newEchoClient(t, p.Addr())
	c.send(t, 0, 50, time.Millisecond)
	Eventually(t, 5*time.Second, "echoes through the open path", func() error {
		if len(c.echoes()) != 50 {
			return errors.New("missing echoes")
		}
		return nil
	})
	for seq, rtt := range c.echoes() {
		// Two passes of 10..30ms each; generous upper slack for a loaded machine.
		if rtt < 20*time.Millisecond || rtt > 60*time.Millisecond+500*time.Millisecond {
			t.Errorf("datagram %d: round trip %v outside [20ms, 60ms+slack]", seq, rtt)
		}
	}

	p.Cut()
	c.send(t, 100, 20, time.Millisecond)
	time.Sleep(100 * time.Millisecond) // nothing is expected; give it the time to go wrong
	for seq := range c.echoes() {
		if seq >= 100 {
			t.Fatalf("datagram %d crossed a cut path", seq)
		}
	}
	if s := p.Stats(ToTarget); s.Cut != 20 {
		t.Errorf("cut count %d, want 20", s.Cut)
	}

	p.Restore()
	c.send(t, 200, 20, time.Millisecond)
	Eventually(t, 5*time.Second, "echoes after restore", func() error {
		n := 0
		for seq := range c.echoes() {
			if seq >= 200 {
				n++
			}
		}
		if n != 20 {
			return errors.New("missing echoes")
		}
		return nil
	})
}
