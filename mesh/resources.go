package mesh

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"
)

// Limits are the resource manager's limits. They are fixed numbers, never scaled to the
// machine's memory or file descriptors, so a node behaves the same on every host it runs on.
// The defaults suit a node federated with tens of peers: each peer holds one connection (two
// for a moment while a redial races an inbound dial), one gossip stream each way, and a few
// catch-up streams; everything above that is headroom for bursts.
type Limits struct {
	// Memory is what all connections and streams together may reserve (muxer windows, request
	// buffers); zero means 256 MiB.
	Memory int64
	// MemoryPerPeer is what one peer's connections and streams may reserve; zero means 64 MiB.
	MemoryPerPeer int64
	// FD is the number of file descriptors (TCP connections) libp2p may hold; zero means 512.
	FD int
	// Conns is the number of connections in total, including handshakes in progress; zero
	// means 256.
	Conns int
	// ConnsPerPeer is the number of connections to one peer; zero means 8.
	ConnsPerPeer int
	// ConnsPerIP is the number of connections (authenticated or not) from one IPv4 address or
	// IPv6 /56; zero means 64. Loopback is not limited.
	ConnsPerIP int
	// Handshakes is the number of connections and streams not yet tied to a peer and protocol
	// (security handshakes and protocol negotiation in progress); zero means 64. This is what
	// an untrusted address can occupy before the gater refuses it.
	Handshakes int
	// HandshakeRate is the number of new connections per second accepted from one IPv4
	// address or IPv6 /56 once a burst of 32 is spent; zero means 2. Loopback is not limited.
	HandshakeRate float64
	// Streams is the number of streams in total; zero means 4096.
	Streams int
	// StreamsPerPeer is the number of streams with one peer; zero means 512.
	StreamsPerPeer int
}

// handshakeBurst is the burst of new connections from one address before HandshakeRate applies.
const handshakeBurst = 32

func (l Limits) withDefaults() (Limits, error) {
	for _, v := range []int64{l.Memory, l.MemoryPerPeer, int64(l.FD), int64(l.Conns), int64(l.ConnsPerPeer),
		int64(l.ConnsPerIP), int64(l.Handshakes), int64(l.Streams), int64(l.StreamsPerPeer)} {
		if v < 0 {
			return l, fmt.Errorf("mesh: negative resource limit in %+v", l)
		}
	}
	if l.HandshakeRate < 0 || math.IsNaN(l.HandshakeRate) || math.IsInf(l.HandshakeRate, 0) {
		return l, fmt.Errorf("mesh: HandshakeRate %v out of range", l.HandshakeRate)
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	set64(&l.Memory, 256<<20)
	set64(&l.MemoryPerPeer, 64<<20)
	set(&l.FD, 512)
	set(&l.Conns, 256)
	set(&l.ConnsPerPeer, 8)
	set(&l.ConnsPerIP, 64)
	set(&l.Handshakes, 64)
	set(&l.Streams, 4096)
	set(&l.StreamsPerPeer, 512)
	if l.HandshakeRate == 0 {
		l.HandshakeRate = 2
	}
	return l, nil
}

// limitConfig turns l into the resource manager's concrete limits. The scopes l names are set
// from it; the per-service and per-protocol limits of libp2p's own protocols (identify, ping)
// come from libp2p's base table without scaling.
func (l Limits) limitConfig() rcmgr.ConcreteLimitConfig {
	base := rcmgr.DefaultLimits // a copy: the package's table is not modified
	libp2p.SetDefaultServiceLimits(&base)
	unscaled := base.Scale(0, 0) // memory below 128 MiB and no FDs: the base values, as written

	v := func(n int) rcmgr.LimitVal { return rcmgr.LimitVal(n) }
	v64 := func(n int64) rcmgr.LimitVal64 { return rcmgr.LimitVal64(n) }
	system := rcmgr.ResourceLimits{
		Conns: v(l.Conns), ConnsInbound: v(l.Conns), ConnsOutbound: v(l.Conns),
		Streams: v(l.Streams), StreamsInbound: v(l.Streams), StreamsOutbound: v(l.Streams),
		FD: v(l.FD), Memory: v64(l.Memory),
	}
	transient := rcmgr.ResourceLimits{
		Conns: v(l.Handshakes), ConnsInbound: v(l.Handshakes), ConnsOutbound: v(l.Handshakes),
		Streams: v(l.Handshakes), StreamsInbound: v(l.Handshakes), StreamsOutbound: v(l.Handshakes),
		FD: v(min(l.Handshakes, l.FD)), Memory: v64(l.Memory / 8),
	}
	perPeer := rcmgr.ResourceLimits{
		Conns: v(l.ConnsPerPeer), ConnsInbound: v(l.ConnsPerPeer), ConnsOutbound: v(l.ConnsPerPeer),
		Streams: v(l.StreamsPerPeer), StreamsInbound: v(l.StreamsPerPeer), StreamsOutbound: v(l.StreamsPerPeer),
		FD: v(l.ConnsPerPeer), Memory: v64(l.MemoryPerPeer),
	}
	// Protocols and services share the system's stream budget and half its memory; per peer
	// they share the peer's.
	shared := rcmgr.ResourceLimits{
		Streams: v(l.Streams), StreamsInbound: v(l.Streams), StreamsOutbound: v(l.Streams),
		Memory: v64(l.Memory / 2),
	}
	sharedPeer := rcmgr.ResourceLimits{
		Streams: v(l.StreamsPerPeer), StreamsInbound: v(l.StreamsPerPeer), StreamsOutbound: v(l.StreamsPerPeer),
		Memory: v64(l.MemoryPerPeer),
	}
	partial := rcmgr.PartialLimitConfig{
		System:               system,
		Transient:            transient,
		AllowlistedSystem:    system,
		AllowlistedTransient: transient,
		PeerDefault:          perPeer,
		ProtocolDefault:      shared,
		ProtocolPeerDefault:  sharedPeer,
		ServiceDefault:       shared,
		ServicePeerDefault:   sharedPeer,
	}
	return partial.Build(unscaled)
}

// newResourceManager builds the resource manager for l, with its per-address connection
// limits and connection rate limits.
func newResourceManager(l Limits) (network.ResourceManager, error) {
	perIP4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: l.ConnsPerIP}}
	perIP6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: l.ConnsPerIP}}
	unlimited := math.MaxInt
	loop4 := []rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("127.0.0.0/8"), ConnCount: unlimited}}
	loop6 := []rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("::1/128"), ConnCount: unlimited}}
	perAddr := rate.Limit{RPS: l.HandshakeRate, Burst: handshakeBurst}
	limiter := &rate.Limiter{
		NetworkPrefixLimits: []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, // zero limit: unlimited
			{Prefix: netip.MustParsePrefix("::1/128")},
		},
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: perAddr}},
			IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: 56, Limit: perAddr}},
			GracePeriod:      time.Minute,
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(l.limitConfig()),
		rcmgr.WithLimitPerSubnet(perIP4, perIP6),
		rcmgr.WithNetworkPrefixLimit(loop4, loop6),
		rcmgr.WithConnRateLimiters(limiter),
	)
	if err != nil {
		return nil, fmt.Errorf("mesh: resource manager: %w", err)
	}
	return rm, nil
}
