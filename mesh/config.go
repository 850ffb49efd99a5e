package mesh

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"parley/identity"
)

// Defaults for Config fields left at zero.
const (
	DefaultMaxMessageSize = 1 << 20          // gossip message payload
	DefaultRequestTimeout = 30 * time.Second // one request/response exchange
	DefaultDialTimeout    = 10 * time.Second // one dial attempt to a trusted peer
	DefaultRedialMin      = 250 * time.Millisecond
	DefaultRedialMax      = 30 * time.Second
	DefaultMaxRequest     = 64 << 10 // Handle with maxRequest <= 0
	DefaultMaxResponse    = 1 << 20  // Request with maxResponse <= 0

	// maxFrame bounds every request and response body whatever the caller asks for, so that a
	// length prefix can never make a reader reserve more than this.
	maxFrame = 64 << 20
)

// Config configures a Host. The zero value of every field except Key and ListenAddrs is a
// documented default.
type Config struct {
	// Key is the node's identity key; the libp2p identity (and peer ID) is this Ed25519 key.
	// Required.
	Key *identity.NodeKey

	// ListenAddrs are the multiaddrs to listen on, for example "/ip4/0.0.0.0/udp/4001/quic-v1"
	// and "/ip4/0.0.0.0/tcp/4001"; port 0 lets the kernel choose. Only QUIC (quic-v1) and TCP
	// addresses are accepted. Required: mesh never picks sockets on its own.
	ListenAddrs []string

	// MDNS turns on mDNS discovery on the LAN, for islands with no configured addresses. Peers
	// it finds are dialled only if they are trusted. Off by default. mDNS binds the multicast
	// port fixed by RFC 6762 (5353), the one socket mesh opens that is not in ListenAddrs.
	MDNS bool

	// MaxMessageSize caps the payload of a gossip message, published or received; zero means
	// DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int

	// RequestTimeout bounds one request/response exchange when the caller's context has no
	// earlier deadline, and the time a handler may take; zero means 30 s.
	RequestTimeout time.Duration

	// DialTimeout bounds one dial attempt; zero means 10 s.
	DialTimeout time.Duration

	// RedialMin and RedialMax bound the backoff between dial attempts to a trusted peer that is
	// not connected; zero means 250 ms and 30 s.
	RedialMin, RedialMax time.Duration

	// Limits are the resource manager's limits; zero fields take the defaults in resources.go.
	Limits Limits

	// Logger receives the host's logs; nil discards them.
	Logger *slog.Logger

	// mdnsGroup overrides the mDNS multicast group address (tests use a free port).
	mdnsGroup string
	// gossipCheck overrides gossipCheckEvery (tests).
	gossipCheck time.Duration
}

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, []ma.Multiaddr, error) {
	if cfg.Key == nil {
		return cfg, nil, errors.New("mesh: config has no node key")
	}
	if len(cfg.ListenAddrs) == 0 {
		return cfg, nil, errors.New("mesh: config has no listen addresses")
	}
	addrs := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return cfg, nil, fmt.Errorf("mesh: listen address %q: %w", s, err)
		}
		if !isQUIC(a) && !isTCP(a) {
			return cfg, nil, fmt.Errorf("mesh: listen address %q is neither QUIC (quic-v1) nor TCP", s)
		}
		addrs = append(addrs, a)
	}
	if cfg.MaxMessageSize < 0 || cfg.MaxMessageSize > maxFrame {
		return cfg, nil, fmt.Errorf("mesh: MaxMessageSize %d out of range", cfg.MaxMessageSize)
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RedialMin <= 0 {
		cfg.RedialMin = DefaultRedialMin
	}
	if cfg.RedialMax <= 0 {
		cfg.RedialMax = DefaultRedialMax
	}
	if cfg.RedialMax < cfg.RedialMin {
		cfg.RedialMax = cfg.RedialMin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lim, err := cfg.Limits.withDefaults()
	if err != nil {
		return cfg, nil, err
	}
	cfg.Limits = lim
	return cfg, addrs, nil
}

// isQUIC reports whether a is a QUIC v1 address (/ip…/udp/…/quic-v1).
func isQUIC(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_QUIC_V1)
	if err != nil {
		return false
	}
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_WEBTRANSPORT, ma.P_WEBRTC_DIRECT, ma.P_CIRCUIT:
			return false
		}
	}
	return true
}

// isTCP reports whether a is a plain TCP address (no websocket or other layer on top).
func isTCP(a ma.Multiaddr) bool {
	if _, err := a.ValueForProtocol(ma.P_TCP); err != nil {
		return false
	}
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_WS, ma.P_WSS, ma.P_TLS, ma.P_CIRCUIT, ma.P_HTTP, ma.P_HTTPS:
			return false
		}
	}
	return true
}
