package cascade

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"parley/identity"
)

// testLogLevel is the level of the logs tests print.
const testLogLevel = slog.LevelDebug

// testLogger routes slog to t.Log until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: testLogLevel}))
}

type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool // set when the test ends: goroutines may still log after that
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testAuth is an Authorizer with explicit sets of nodes and of (node, room) pairs.
type testAuth struct {
	mu    sync.Mutex
	nodes map[string]bool
	rooms map[string]bool // string(key) + "/" + room
}

func newTestAuth() *testAuth {
	return &testAuth{nodes: map[string]bool{}, rooms: map[string]bool{}}
}

func (a *testAuth) allow(pub ed25519.PublicKey, rooms ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nodes[string(pub)] = true
	for _, r := range rooms {
		a.rooms[string(pub)+"/"+r] = true
	}
}

func (a *testAuth) AllowNode(pub ed25519.PublicKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[string(pub)]
}

func (a *testAuth) AllowRoom(pub ed25519.PublicKey, room string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[string(pub)] && a.rooms[string(pub)+"/"+room]
}

// testSource is a TrackSource with a fixed set of tracks; it keeps the Outbounds peers open.
type testSource struct {
	mu     sync.Mutex
	tracks map[trackKey]TrackInfo
	open   map[trackKey]*Outbound
	opened chan *Outbound
	kf     chan keyframeReq
	closed chan *Outbound
}

type keyframeReq struct {
	track string
	layer int
}

func newTestSource() *testSource {
	return &testSource{
		tracks: map[trackKey]TrackInfo{}, open: map[trackKey]*Outbound{},
		opened: make(chan *Outbound, 100), kf: make(chan keyframeReq, 1000), closed: make(chan *Outbound, 100),
	}
}

var (
	vp8Info  = TrackInfo{Kind: KindVideo, MimeType: "video/VP8", ClockRate: 90000, Layers: AllLayers}
	opusInfo = TrackInfo{Kind: KindAudio, MimeType: "audio/opus", ClockRate: 48000, Channels: 2, Layers: Layers(0)}
)

func (s *testSource) add(room, track string, info TrackInfo) {
	s.mu.Lock()
	s.tracks[trackKey{room, track}] = info
	s.mu.Unlock()
}

func (s *testSource) OpenTrack(out *Outbound) (TrackInfo, OutboundHandler, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tracks[trackKey{out.Room(), out.Track()}]
	if !ok {
		return TrackInfo{}, nil, fmt.Errorf("%w: %s", ErrNoTrack, out.Track())
	}
	s.open[trackKey{out.Room(), out.Track()}] = out
	s.opened <- out
	return info, &testHandler{src: s, out: out}, nil
}

// outbound waits for the Outbound of a track to be opened (again, if it was before).
func (s *testSource) outbound(t testing.TB, track string) *Outbound {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case o := <-s.opened:
			if o.Track() == track {
				return o
			}
		case <-deadline:
			t.Fatalf("track %s never opened", track)
		}
	}
}

type testHandler struct {
	src *testSource
	out *Outbound
}

func (h *testHandler) Keyframe(layer int) {
	select {
	case h.src.kf <- keyframeReq{h.out.Track(), layer}:
	default:
	}
}

func (h *testHandler) Closed() { h.src.closed <- h.out }

// testReceiver records what a subscription receives.
type testReceiver struct {
	mu      sync.Mutex
	packets [MaxLayers][][]byte
	got     chan struct{} // a packet arrived
	ended   chan error
}

func newTestReceiver() *testReceiver {
	return &testReceiver{got: make(chan struct{}, 1), ended: make(chan error, 1)}
}

func (r *testReceiver) RTP(layer int, pkt []byte) {
	r.mu.Lock()
	r.packets[layer] = append(r.packets[layer], bytes.Clone(pkt))
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
}

func (r *testReceiver) Ended(err error) { r.ended <- err }

func (r *testReceiver) count(layer int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.packets[layer])
}

// find returns the received packet of layer with RTP sequence number seq.
func (r *testReceiver) find(layer int, seq uint16) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.packets[layer] {
		if rtpSeq(p) == seq {
			return p
		}
	}
	return nil
}

// testNode is a key, an authorizer, a track source and an endpoint on loopback.
type testNode struct {
	key  *identity.NodeKey
	auth *testAuth
	src  *testSource
	ep   *Endpoint
}

// newKeyPair makes two node keys, the first sorting lower (so its node dials).
func newKeyPair(t testing.TB) (lo, hi *identity.NodeKey) {
	t.Helper()
	a, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Compare(a.PublicKey(), b.PublicKey()) > 0 {
		a, b = b, a
	}
	return a, b
}

func newTestNode(t testing.TB, key *identity.NodeKey, tweak func(*Config)) *testNode {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return newTestNodeOn(t, conn, key, tweak)
}

// newTestNodeOn makes a test node whose endpoint uses conn.
func newTestNodeOn(t testing.TB, conn net.PacketConn, key *identity.NodeKey, tweak func(*Config)) *testNode {
	t.Helper()
	n := &testNode{key: key, auth: newTestAuth(), src: newTestSource()}
	cfg := Config{Key: key, Auth: n.auth, Tracks: n.src, Logger: testLogger(t).With("node", key.ID()[:6])}
	if tweak != nil {
		tweak(&cfg)
	}
	ep, err := New(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.ep = ep
	t.Cleanup(func() { _ = ep.Close() })
	return n
}

// federate makes two nodes trust each other and share rooms.
func federate(a, b *testNode, rooms ...string) {
	a.auth.allow(b.key.PublicKey(), rooms...)
	b.auth.allow(a.key.PublicKey(), rooms...)
}

// link makes the links between a and b, both ways.
func link(t testing.TB, a, b *testNode) (ab, ba *Link) {
	t.Helper()
	ab, err := a.ep.Link(b.key.PublicKey(), b.ep.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ba, err = b.ep.Link(a.key.PublicKey(), a.ep.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return ab, ba
}

// eventually retries cond until it is true or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitKeyframe waits for a keyframe request for track on layer.
func waitKeyframe(t testing.TB, src *testSource, track string, layer int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case k := <-src.kf:
			if k.track == track && k.layer == layer {
				return
			}
		case <-deadline:
			t.Fatalf("no keyframe request for %s layer %d", track, layer)
		}
	}
}

// appCode reports whether err is a QUIC application error with code.
func appCode(err error, code quic.ApplicationErrorCode) bool {
	var app *quic.ApplicationError
	return errors.As(err, &app) && app.ErrorCode == code
}

func mustKey(t testing.TB) *identity.NodeKey {
	t.Helper()
	k, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sessNow is the link's current session, or nil.
func (l *Link) sessNow() *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}
