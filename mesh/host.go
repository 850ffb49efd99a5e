package mesh

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	tcp "github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Errors callers may test with errors.Is.
var (
	// ErrNotTrusted: the peer is not trusted, so mesh will not dial it or send it requests.
	ErrNotTrusted = errors.New("mesh: peer is not trusted")
	// ErrBlocked: the link to the peer is cut by Block.
	ErrBlocked = errors.New("mesh: peer is blocked")
	// ErrTopicNotAllowed: the topic is not in the subscription filter (see AllowTopic).
	ErrTopicNotAllowed = errors.New("mesh: topic not allowed")
	// ErrTooLarge: a message, request or response is over its size bound.
	ErrTooLarge = errors.New("mesh: too large")
	// ErrMalformed: a request or response frame does not follow the wire format.
	ErrMalformed = errors.New("mesh: malformed frame")
	// ErrClosed: the host or topic is closed.
	ErrClosed = errors.New("mesh: closed")
)

// userAgent is what identify tells peers; it names no version or platform.
const userAgent = "parley"

// Host is a node's libp2p host. All methods are safe for concurrent use.
type Host struct {
	cfg  Config
	log  *slog.Logger
	host host.Host
	ps   *pubsub.PubSub
	adm  *admission
	self peer.ID

	filter  *topicFilter
	counter *counters

	ctx    context.Context // cancelled by Close; the parent of every goroutine's context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the host starts, and running request handlers

	// Outgoing dials (a dialer's, a request's stream) are gated: Close ends them and waits
	// for them before it closes the libp2p host, which does not survive a dial in flight
	// while it shuts down.
	dialCtx    context.Context
	dialCancel context.CancelFunc
	dialWG     sync.WaitGroup // guarded by mu for Add

	notifier *notifier
	mdns     *mdnsService // nil unless Config.MDNS

	mu      sync.Mutex // guards the fields below
	closed  bool
	dialers map[peer.ID]*dialer
	topics  map[string]*Topic
}

// PeerIDOf returns the libp2p peer ID of a node's Ed25519 public key.
func PeerIDOf(pub ed25519.PublicKey) (peer.ID, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("mesh: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	k, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("mesh: public key: %w", err)
	}
	id, err := peer.IDFromPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("mesh: peer ID: %w", err)
	}
	return id, nil
}

// New starts a host listening on cfg.ListenAddrs. It trusts nobody until Trust is called.
func New(cfg Config) (*Host, error) {
	cfg, listen, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key.PrivateKey())
	if err != nil {
		return nil, fmt.Errorf("mesh: node key: %w", err)
	}
	rm, err := newResourceManager(cfg.Limits)
	if err != nil {
		return nil, err
	}
	adm := newAdmission()
	// Trusted peers are protected from trimming (see Trust): the watermarks only matter for
	// connections that have not been refused yet. They sit below the resource manager's limit.
	cm, err := connmgr.NewConnManager(cfg.Limits.Conns/2, cfg.Limits.Conns*3/4, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("mesh: connection manager: %w", err)
	}
	lh, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrs(listen...),
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(gater{adm: adm}),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		// Reachability is not probed: AutoNAT would ask peers to dial back, and only matters
		// for relays and hole punching, neither of which mesh uses.
		libp2p.ForceReachabilityPrivate(),
		// Addresses are what we listen on, never what peers say they observed.
		libp2p.DisableIdentifyAddressDiscovery(),
		// Metrics would register with the process-wide Prometheus registry.
		libp2p.DisableMetrics(),
		libp2p.Ping(false),
		libp2p.UserAgent(userAgent),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		// Black-hole detection would stop dialling UDP or IPv6 after a run of failures, which a
		// partition produces; the dialers' backoff is the only throttle wanted here.
		libp2p.UDPBlackHoleSuccessCounter(nil),
		libp2p.IPv6BlackHoleSuccessCounter(nil),
	)
	if err != nil {
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("mesh: start libp2p host: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		cfg:     cfg,
		log:     cfg.Logger.With("peer", shortID(lh.ID())),
		host:    lh,
		adm:     adm,
		self:    lh.ID(),
		filter:  newTopicFilter(cfg.Logger),
		counter: new(counters),
		ctx:     ctx,
		cancel:  cancel,
		dialers: make(map[peer.ID]*dialer),
		topics:  make(map[string]*Topic),
	}
	h.dialCtx, h.dialCancel = context.WithCancel(ctx)
	h.notifier = newNotifier()
	if err := h.startGossip(); err != nil {
		cancel()
		h.dialCancel()
		lh.Close()
		return nil, err
	}
	if err := h.watchConnections(); err != nil {
		cancel()
		lh.Close()
		return nil, err
	}
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		h.notifier.run(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.superviseGossip(ctx, cmp.Or(cfg.gossipCheck, gossipCheckEvery))
	}()
	if cfg.MDNS {
		m, err := startMDNS(h, cfg.mdnsGroup)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.mdns = m
	}
	h.log.Info("mesh host started", "addrs", h.Addrs())
	return h, nil
}

// ID is the host's peer ID.
func (h *Host) ID() peer.ID { return h.self }

// Addrs are the host's listen addresses as full multiaddrs ending in /p2p/<id>, the form
// Trust and invites take. Unspecified listen addresses (0.0.0.0) are expanded to the
// addresses of the machine's interfaces.
func (h *Host) Addrs() []string {
	suffix := "/p2p/" + h.self.String()
	var out []string
	for _, a := range h.host.Addrs() {
		out = append(out, a.String()+suffix)
	}
	return out
}

// Connected reports whether the host has a connection to id.
func (h *Host) Connected(id peer.ID) bool {
	return h.host.Network().Connectedness(id) == network.Connected
}

// Connect dials a trusted peer now, or returns at once if already connected.
func (h *Host) Connect(ctx context.Context, id peer.ID) error {
	if !h.adm.isTrusted(id) {
		return fmt.Errorf("mesh: connect %s: %w", shortID(id), ErrNotTrusted)
	}
	if h.adm.isBlocked(id) {
		return fmt.Errorf("mesh: connect %s: %w", shortID(id), ErrBlocked)
	}
	if err := h.dial(ctx, id); err != nil {
		return fmt.Errorf("mesh: connect %s: %w", shortID(id), err)
	}
	return nil
}

// dial dials id directly, ignoring libp2p's own dial backoff: the dialers keep their own.
func (h *Host) dial(ctx context.Context, id peer.ID) error {
	ctx, done, err := h.startDial(ctx)
	if err != nil {
		return err
	}
	defer done()
	ctx = network.WithForceDirectDial(ctx, "trusted peer")
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DialTimeout)
	defer cancel()
	_, err = h.host.Network().DialPeer(ctx, id)
	return err
}

// startDial registers an outgoing dial and returns its context, ended when ctx or Close
// ends it, and the func to call when the dial is over. Once the host is closing it refuses
// (ErrClosed).
func (h *Host) startDial(ctx context.Context) (context.Context, func(), error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, nil, ErrClosed
	}
	h.dialWG.Add(1)
	h.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(h.dialCtx, cancel)
	return ctx, func() {
		stop()
		cancel()
		h.dialWG.Done()
	}, nil
}

// Close stops the host: it leaves every topic, closes every connection and waits for the
// host's goroutines and running request handlers.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	topics := make([]*Topic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()

	for _, t := range topics {
		t.Close()
	}
	if h.mdns != nil {
		h.mdns.close()
	}
	h.dialCancel()
	h.dialWG.Wait()
	// Connections first, so that peers see this host go away rather than its gossip streams
	// die on live connections; then the goroutines.
	err := h.host.Close()
	h.cancel()
	h.wg.Wait()
	if err != nil {
		return fmt.Errorf("mesh: close libp2p host: %w", err)
	}
	return nil
}

// enter registers a goroutine the host must wait for on Close; it returns false once the host
// is closing.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// shortID is a peer ID shortened for logs.
func shortID(id peer.ID) string {
	s := id.String()
	if len(s) > 12 {
		return s[len(s)-12:]
	}
	return s
}
