package mesh

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"parley/identity"
)

// mdnsTestGroup returns the mDNS group on a free port, or skips the test when multicast does
// not loop back on this machine (some sandboxes drop it).
func mdnsTestGroup(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	group := fmt.Sprintf("224.0.0.251:%d", port)
	gaddr, _ := net.ResolveUDPAddr("udp4", group)
	lo, err := loopbackInterface()
	if err != nil {
		t.Skipf("mDNS: %v", err)
	}
	c, err := net.ListenMulticastUDP("udp4", lo, gaddr)
	if err != nil {
		t.Skipf("mDNS: multicast unavailable: %v", err)
	}
	defer c.Close()
	if _, err := c.WriteToUDP([]byte("probe"), gaddr); err != nil {
		t.Skipf("mDNS: multicast send: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 16)
	if n, _, err := c.ReadFromUDP(buf); err != nil || string(buf[:n]) != "probe" {
		t.Skipf("mDNS: multicast does not loop back here (%v)", err)
	}
	return group
}

func loopbackInterface() (*net.Interface, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifaces {
		if ifaces[i].Flags&net.FlagLoopback != 0 && ifaces[i].Flags&net.FlagUp != 0 {
			return &ifaces[i], nil
		}
	}
	return nil, fmt.Errorf("no loopback interface")
}

// TestMDNSDiscovery: two hosts that trust each other but were given no addresses find each
// other by mDNS and connect; a third host on the same LAN that they do not trust is found
// too, but never admitted.
func TestMDNSDiscovery(t *testing.T) {
	group := mdnsTestGroup(t)
	withMDNS := func(c *Config) { c.MDNS = true; c.mdnsGroup = group }
	a, b, stranger := newHost(t, withMDNS), newHost(t, withMDNS), newHost(t, withMDNS)
	ea := watch(a)
	start := time.Now()
	for _, pair := range [][2]*Host{{a, b}, {b, a}, {stranger, a}} {
		if err := pair[0].Trust(pair[1].ID(), nil); err != nil {
			t.Fatal(err)
		}
	}
	ea.await(t, b.ID(), true, 15*time.Second)
	t.Logf("found and connected by mDNS in %v", time.Since(start).Round(time.Millisecond))

	// The stranger learns a's addresses the same way and dials; a refuses it.
	eventually(t, 15*time.Second, "stranger found a", func() bool { return len(stranger.host.Peerstore().Addrs(a.ID())) > 0 })
	eventually(t, 15*time.Second, "a refused the stranger", func() bool { return a.Stats().RefusedConns > 0 })
	if ea.saw(stranger.ID()) {
		t.Fatal("a was notified of the stranger")
	}
	if got := a.host.Peerstore().Addrs(stranger.ID()); len(got) != 0 {
		t.Fatalf("a kept addresses of an untrusted peer: %v", got)
	}
}

func TestMDNSWireFormat(t *testing.T) {
	h := newHost(t)
	q, err := mdnsQuery()
	if err != nil {
		t.Fatal(err)
	}
	query, found, err := parseMDNS(q)
	if err != nil || !query || len(found) != 0 {
		t.Fatalf("query read as %v %v %v", query, found, err)
	}
	pkt, err := mdnsAnswer(h.ID(), h.host.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	query, found, err = parseMDNS(pkt)
	if err != nil || query || len(found) != 1 || found[0].ID != h.ID() || len(found[0].Addrs) != len(h.host.Addrs()) {
		t.Fatalf("answer read as %v %v %v", query, found, err)
	}

	// An answer naming another peer's addresses under this peer's name is refused, and so
	// is an answer with no address.
	if _, err := mdnsAnswer(h.ID(), nil); err == nil {
		t.Fatal("answer with no address built")
	}
	other := newHost(t)
	forged, err := buildAnswer(h.ID(), []string{dnsaddrPrefix + other.host.Addrs()[0].String() + "/p2p/" + other.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseMDNS(forged); err == nil {
		t.Fatal("answer with another peer's address accepted")
	}
	relayed, err := buildAnswer(h.ID(), []string{dnsaddrPrefix + "/ip4/10.0.0.1/tcp/1/p2p/" + other.ID().String() + "/p2p-circuit/p2p/" + h.ID().String()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := parseMDNS(relayed); err == nil {
		t.Fatal("answer with a relay address accepted")
	}
	if _, _, err := parseMDNS(bytes.Repeat([]byte{0xff}, 40)); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzParseMDNS(f *testing.F) {
	key, err := identity.GenerateNodeKey()
	if err != nil {
		f.Fatal(err)
	}
	id, err := PeerIDOf(key.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/192.168.1.20/udp/4001/quic-v1"), ma.StringCast("/ip4/192.168.1.20/tcp/4001")}
	if pkt, err := mdnsAnswer(id, addrs); err == nil {
		f.Add(pkt)
	}
	if q, err := mdnsQuery(); err == nil {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		_, found, err := parseMDNS(pkt)
		if err != nil {
			return
		}
		for _, info := range found {
			if len(info.Addrs) > mdnsMaxAddrs {
				t.Fatalf("%d addresses kept", len(info.Addrs))
			}
			for _, a := range info.Addrs {
				if !isQUIC(a) && !isTCP(a) {
					t.Fatalf("address %s kept", a)
				}
			}
		}
	})
}
