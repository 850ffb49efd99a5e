package cascade

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// Endpoint is one node's cascade: a QUIC transport on the node's cascade UDP socket that
// accepts connections from peer nodes and dials them, and the links to those peers. It is
// safe for concurrent use.
type Endpoint struct {
	cfg   Config
	log   *slog.Logger
	pub   ed25519.PublicKey
	conn  net.PacketConn
	tr    *quic.Transport
	ln    *quic.Listener
	cert  tls.Certificate
	epoch time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and incoming handshakes

	mu     sync.Mutex
	links  map[string]*Link // by string(peer key)
	closed bool
}

// New starts an endpoint on conn, which it takes ownership of: Close closes it. It accepts
// connections from the nodes cfg.Auth admits.
func New(conn net.PacketConn, cfg Config) (*Endpoint, error) {
	if conn == nil {
		return nil, errors.New("cascade: New needs a packet conn")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cert, err := nodeCertificate(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("cascade: %w", err)
	}
	// A stateless reset key derived from the node key survives restarts, so that a peer
	// still holding a connection from before learns at once that it is gone.
	resetKey := quic.StatelessResetKey(sha256.Sum256(append([]byte("parley cascade stateless reset\x00"), cfg.Key.PrivateKey().Seed()...)))
	tr := &quic.Transport{Conn: conn, StatelessResetKey: &resetKey}
	e := &Endpoint{
		cfg: cfg, log: cfg.Logger, pub: cfg.Key.PublicKey(), conn: conn, tr: tr, cert: cert,
		epoch: time.Now(), links: map[string]*Link{},
	}
	ln, err := tr.Listen(serverTLS(cert, cfg.Auth, cfg.alpn), e.quicConfig(true, e.maxDialTimeout()))
	if err != nil {
		_ = tr.Close()
		return nil, fmt.Errorf("cascade: listen: %w", err)
	}
	e.ln = ln
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.acceptLoop()
	return e, nil
}

// maxDialTimeout is the longest a dial attempt may take, and the time an accepting node
// allows an incoming connection's handshake and hello.
func (e *Endpoint) maxDialTimeout() time.Duration { return dialTimeoutGrowth * e.cfg.DialTimeout }

// quicConfig is the QUIC configuration of a connection; accepting says whether the peer
// dialed (and so opens the one control stream); handshake bounds its handshake.
func (e *Endpoint) quicConfig(accepting bool, handshake time.Duration) *quic.Config {
	qc := &quic.Config{
		HandshakeIdleTimeout:           handshake,
		MaxIdleTimeout:                 2 * e.cfg.BreakTimeout,
		KeepAlivePeriod:                e.cfg.BreakTimeout / 4,
		EnableDatagrams:                true,
		MaxIncomingStreams:             -1,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     64 << 10,
		MaxStreamReceiveWindow:         256 << 10,
		InitialConnectionReceiveWindow: 64 << 10,
		MaxConnectionReceiveWindow:     256 << 10,
	}
	if accepting {
		qc.MaxIncomingStreams = 1
	}
	return qc
}

// now is the endpoint's monotonic clock in nanoseconds; never 0.
func (e *Endpoint) now() int64 { return int64(time.Since(e.epoch)) + 1 }

// Addr is the local address of the endpoint's socket.
func (e *Endpoint) Addr() net.Addr { return e.conn.LocalAddr() }

// Link returns the link with the node holding peer, creating it if needed. addr is where the
// peer's cascade listens; it is used if this node is the one that dials (its key sorts
// below the peer's) and may be nil otherwise. Calling Link again with another address
// changes the address for the next dial.
func (e *Endpoint) Link(peer ed25519.PublicKey, addr net.Addr) (*Link, error) {
	if len(peer) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("cascade: peer key is %d bytes", len(peer))
	}
	if peer.Equal(e.pub) {
		return nil, errors.New("cascade: a node cannot link to itself")
	}
	dialer := bytes.Compare(e.pub, peer) < 0
	if dialer && addr == nil {
		return nil, fmt.Errorf("cascade: node %s dials %s but has no address for it", nodeID(e.pub), nodeID(peer))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	l := e.links[string(peer)]
	if l == nil {
		l = newLink(e, peer, dialer, addr)
		e.links[string(peer)] = l
		l.start()
	} else if addr != nil {
		l.setAddr(addr)
	}
	l.claimed = true
	return l, nil
}

// Links lists the current links.
func (e *Endpoint) Links() []*Link {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Link, 0, len(e.links))
	for _, l := range e.links {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Link) int { return bytes.Compare(a.peer, b.peer) })
	return out
}

// Stats describes every link, ordered by peer key.
func (e *Endpoint) Stats() []LinkStats {
	links := e.Links()
	out := make([]LinkStats, len(links))
	for i, l := range links {
		out[i] = l.Stats()
	}
	return out
}

// forget removes l from the endpoint.
func (e *Endpoint) forget(l *Link) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.links[string(l.peer)] == l {
		delete(e.links, string(l.peer))
	}
}

// forgetIdle removes and closes l if an incoming connection made it, nobody asked for it with
// Link, and nothing waits on it; it reports whether it did.
func (e *Endpoint) forgetIdle(l *Link) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.links[string(l.peer)] != l || l.claimed {
		return false
	}
	l.mu.Lock()
	closed := l.closeIfIdleLocked()
	l.mu.Unlock()
	if closed {
		delete(e.links, string(l.peer))
	}
	return closed
}

// Close closes every link (their subscriptions end with ErrClosed), stops accepting, waits for
// every goroutine and closes the socket.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	links := make([]*Link, 0, len(e.links))
	for _, l := range e.links {
		links = append(links, l)
	}
	e.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	e.cancel()
	_ = e.ln.Close()
	e.wg.Wait() // accept makes no link once closed is set
	err := e.tr.Close()
	if cerr := e.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *Endpoint) acceptLoop() {
	defer e.wg.Done()
	for {
		conn, err := e.ln.Accept(e.ctx)
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.accept(conn)
		}()
	}
}

// accept completes an incoming connection: it checks the version, exchanges hellos and hands
// the connection to the peer's link.
func (e *Endpoint) accept(conn *quic.Conn) {
	st := conn.ConnectionState()
	pub, err := connPeerKey(st.TLS)
	if err != nil {
		_ = conn.CloseWithError(CodeProtocol, err.Error())
		return
	}
	log := e.log.With("peer", nodeID(pub), "addr", conn.RemoteAddr().String())
	if st.TLS.NegotiatedProtocol != alpnV1 {
		// Only possible if this build offers other versions; refuse what it does not speak.
		_ = conn.CloseWithError(CodeVersion, fmt.Sprintf("protocol %q not supported; this node speaks %s", st.TLS.NegotiatedProtocol, alpnV1))
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.maxDialTimeout())
	defer cancel()
	stream, err := conn.AcceptStream(ctx)
	if err != nil {
		log.Debug("incoming cascade connection opened no control stream", "err", err)
		_ = conn.CloseWithError(CodeProtocol, "no control stream")
		return
	}
	if err := e.exchangeHello(ctx, conn, stream, false); err != nil {
		log.Info("incoming cascade connection refused", "err", err)
		_ = conn.CloseWithError(CodeProtocol, "no valid hello")
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = conn.CloseWithError(CodeClosed, "node closing")
		return
	}
	l := e.links[string(pub)]
	if l == nil {
		l = newLink(e, pub, bytes.Compare(e.pub, pub) < 0, nil)
		e.links[string(pub)] = l
		l.start()
	}
	e.mu.Unlock()
	l.offer(newSession(l, conn, stream))
}

// exchangeHello sends this node's hello and checks the peer's, in the order of the role: the
// dialer speaks first. On failure it closes the connection with a code and reason the peer
// sees.
func (e *Endpoint) exchangeHello(ctx context.Context, conn *quic.Conn, stream *quic.Stream, dialer bool) error {
	deadline, _ := ctx.Deadline()
	_ = stream.SetDeadline(deadline)
	defer func() { _ = stream.SetDeadline(time.Time{}) }()
	hello, err := appendMessage(nil, &message{typ: msgHello, version: e.cfg.helloVersion})
	if err != nil {
		return err
	}
	if dialer {
		if _, err := stream.Write(hello); err != nil {
			return fmt.Errorf("send hello: %w", closeError(err))
		}
	}
	var buf [controlHeaderLen + maxControlBody]byte
	m, err := readMessage(stream, &buf)
	if err != nil {
		if errors.Is(err, errBadControl) {
			_ = conn.CloseWithError(CodeProtocol, err.Error())
		}
		return fmt.Errorf("read hello: %w", closeError(err))
	}
	if m.typ != msgHello {
		_ = conn.CloseWithError(CodeProtocol, "first frame is "+m.typ.String()+", want hello")
		return fmt.Errorf("peer's first frame is %s, want hello", m.typ)
	}
	if m.version != wireVersion {
		reason := fmt.Sprintf("wire version %d not supported; this node speaks %d", m.version, wireVersion)
		_ = conn.CloseWithError(CodeVersion, reason)
		return fmt.Errorf("%w: %s", ErrVersion, reason)
	}
	if !dialer {
		if _, err := stream.Write(hello); err != nil {
			return fmt.Errorf("send hello: %w", closeError(err))
		}
	}
	return nil
}

// dial connects to peer at addr and exchanges hellos, within timeout.
func (e *Endpoint) dial(ctx context.Context, peer ed25519.PublicKey, addr net.Addr, timeout time.Duration) (*quic.Conn, *quic.Stream, error) {
	if addr == nil {
		return nil, nil, errors.New("no address to dial")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := e.tr.Dial(ctx, addr, clientTLS(e.cert, e.cfg.Auth, peer, e.cfg.alpn), e.quicConfig(false, timeout))
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, closeError(err))
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		_ = conn.CloseWithError(CodeClosed, "")
		return nil, nil, fmt.Errorf("open control stream: %w", closeError(err))
	}
	if err := e.exchangeHello(ctx, conn, stream, true); err != nil {
		_ = conn.CloseWithError(CodeClosed, "")
		return nil, nil, err
	}
	return conn, stream, nil
}
