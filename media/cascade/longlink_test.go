package cascade

import (
	"bytes"
	"net"
	"testing"
	"time"

	"parley/identity"
)

// delayConn sends every datagram d after it is written, as one direction of a long link.
type delayConn struct {
	net.PacketConn
	d time.Duration
}

func (c *delayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	b := bytes.Clone(p)
	time.AfterFunc(c.d, func() { _, _ = c.PacketConn.WriteTo(b, addr) })
	return len(p), nil
}

// TestLongLinkConnects: on a link whose round trip (300 ms) makes connecting and exchanging
// hellos take longer than DialTimeout (200 ms), the first attempts time out and a later,
// longer one connects; the link then works like any other.
func TestLongLinkConnects(t *testing.T) {
	const oneWay, dialTimeout = 150 * time.Millisecond, 200 * time.Millisecond
	lo, hi := newKeyPair(t)
	var nodes []*testNode
	for _, key := range []*identity.NodeKey{lo, hi} {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, newTestNodeOn(t, &delayConn{PacketConn: conn, d: oneWay}, key, func(c *Config) {
			c.DialTimeout = dialTimeout
		}))
	}
	a, b := nodes[0], nodes[1]
	federate(a, b, "room1")
	start := time.Now()
	ab, ba := link(t, a, b)
	eventually(t, 10*time.Second, "the long link connects", func() bool { return ab.Connected() && ba.Connected() })
	took := time.Since(start)
	if took < 2*dialTimeout {
		t.Errorf("connected in %v: the link is not as long as the test means it to be", took)
	}
	eventually(t, 10*time.Second, "the link measures its round trip", func() bool { return ab.Stats().RTT > 0 })
	rtt := ab.Stats().RTT
	if rtt < 2*oneWay {
		t.Errorf("round trip %v, want at least %v", rtt, 2*oneWay)
	}
	t.Logf("a link with a %v round trip connected in %v (dial timeout %v, growing)", rtt.Round(time.Millisecond), took.Round(time.Millisecond), dialTimeout)
}
