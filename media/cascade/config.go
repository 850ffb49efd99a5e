package cascade

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"time"

	"parley/identity"
)

// Authorizer says which nodes and rooms the cascade serves; the node implements it from its
// federation state. Its methods are called from the cascade's goroutines (AllowNode during
// TLS handshakes, AllowRoom for each subscribe) and must answer quickly without blocking.
type Authorizer interface {
	// AllowNode reports whether the node with this key is a federated peer. A connection
	// with a node it refuses fails the TLS handshake, both ways.
	AllowNode(pub ed25519.PublicKey) bool
	// AllowRoom reports whether the node with this key takes part in room, so that it may
	// subscribe to the room's local tracks.
	AllowRoom(pub ed25519.PublicKey, room string) bool
}

// Config configures an Endpoint. Zero values mean the documented defaults.
type Config struct {
	// Key is the node's identity; the cascade's TLS certificate is made from it. Required.
	Key *identity.NodeKey
	// Auth decides which peers may connect and subscribe. Required.
	Auth Authorizer
	// Tracks gives peers the local tracks they subscribe to. Default: none (every subscribe
	// is refused with ErrNoTrack).
	Tracks TrackSource
	// Logger receives the cascade's logs. Default: discard.
	Logger *slog.Logger

	// StatsInterval is how often a link exchanges statistics with its peer and updates its
	// loss, bitrates and capacity estimate. Default 1s.
	StatsInterval time.Duration
	// BreakTimeout: a connection from which nothing (not even a keep-alive) was received for
	// this long is closed, and the dialer redials. Default 2s.
	BreakTimeout time.Duration
	// DialTimeout bounds the first attempt to connect and exchange hellos (two round trips).
	// Each failed attempt in a row doubles the bound, up to 8 times DialTimeout, so that a
	// long link (a geostationary satellite hop has round trips of 600 ms and more) still
	// connects while a near one reconnects fast after a break. An accepting node allows
	// incoming handshakes and hellos the longest bound. Default 1s.
	DialTimeout time.Duration
	// MaxBackoff bounds the wait between failed dial attempts, which starts at 50ms and
	// doubles. Default 1s.
	MaxBackoff time.Duration
	// SendQueue is the number of datagrams a connection queues for sending before it drops
	// new ones (counted in DirectionStats.Dropped). Default 512.
	SendQueue int
	// MaxQueueDelay: a datagram that waited this long in the send queue (the link carries
	// less than it is given) is dropped rather than sent late. Default 100ms.
	MaxQueueDelay time.Duration
	// RetransmitBytes is the size of the cache that answers NACKs, per layer of each local
	// video track a peer subscribes to, allocated when the layer is first sent. Default
	// 256 KiB (about a second of a 2 Mbit/s layer).
	RetransmitBytes int
	// MaxSubscriptions bounds the subscriptions per link and direction. Default 1024.
	MaxSubscriptions int
	// InitialCapacity is the capacity estimate of a new link in bits/s, before loss or delay
	// says otherwise. Default 20 Mbit/s.
	InitialCapacity float64

	// Test hooks: the ALPN protocols offered and the version sent in hello. Zero: this
	// build's version.
	alpn         []string
	helloVersion uint16
}

// Defaults.
const (
	defaultStatsInterval    = time.Second
	defaultBreakTimeout     = 2 * time.Second
	defaultDialTimeout      = time.Second
	dialTimeoutGrowth       = 8 // the longest dial attempt, in DialTimeouts
	defaultMaxBackoff       = time.Second
	minBackoff              = 50 * time.Millisecond
	defaultSendQueue        = 512
	defaultMaxQueueDelay    = 100 * time.Millisecond
	defaultRetransmitBytes  = 256 << 10
	defaultMaxSubscriptions = 1024
	defaultInitialCapacity  = 20e6
)

// withDefaults checks cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Key == nil {
		return cfg, errors.New("cascade: Config.Key is required")
	}
	if cfg.Auth == nil {
		return cfg, errors.New("cascade: Config.Auth is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = defaultStatsInterval
	}
	if cfg.BreakTimeout <= 0 {
		cfg.BreakTimeout = defaultBreakTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	if cfg.MaxBackoff < minBackoff {
		cfg.MaxBackoff = minBackoff
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = defaultSendQueue
	}
	if cfg.MaxQueueDelay <= 0 {
		cfg.MaxQueueDelay = defaultMaxQueueDelay
	}
	if cfg.RetransmitBytes <= 0 {
		cfg.RetransmitBytes = defaultRetransmitBytes
	}
	if cfg.RetransmitBytes < MaxRTPSize {
		cfg.RetransmitBytes = MaxRTPSize
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = defaultMaxSubscriptions
	}
	if cfg.MaxSubscriptions > 65535 {
		cfg.MaxSubscriptions = 65535
	}
	if cfg.InitialCapacity <= 0 {
		cfg.InitialCapacity = defaultInitialCapacity
	}
	if len(cfg.alpn) == 0 {
		cfg.alpn = []string{alpnV1}
	}
	if cfg.helloVersion == 0 {
		cfg.helloVersion = wireVersion
	}
	return cfg, nil
}
