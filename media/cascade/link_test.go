package cascade

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestSubscribeBothWays connects two nodes, subscribes each to the other's tracks, and checks
// that packets cross untouched, only for the subscribed layers, and that the counters of
// both ends agree.
func TestSubscribeBothWays(t *testing.T) {
	lo, hi := newKeyPair(t)
	// The burst below is 200 datagrams at once; on a busy machine (or under the race
	// detector) some would wait longer than the default 100 ms in the send queue and be
	// dropped by design. This test is about what crosses, not about that policy: let them
	// wait.
	patient := func(c *Config) { c.MaxQueueDelay = 30 * time.Second }
	a := newTestNode(t, lo, patient)
	b := newTestNode(t, hi, patient)
	federate(a, b, "room1")
	b.src.add("room1", "cam", vp8Info)
	b.src.add("room1", "mic", opusInfo)
	a.src.add("room1", "screen", vp8Info)
	ab, ba := link(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	camRx := newTestReceiver()
	cam, err := ab.Subscribe(ctx, "room1", "cam", Layers(0, 2), camRx)
	if err != nil {
		t.Fatal(err)
	}
	if info := cam.Info(); info != vp8Info {
		t.Errorf("cam info %+v", info)
	}
	camOut := b.src.outbound(t, "cam")
	micRx := newTestReceiver()
	if _, err := ab.Subscribe(ctx, "room1", "mic", Layers(0), micRx); err != nil {
		t.Fatal(err)
	}
	micOut := b.src.outbound(t, "mic")
	screenRx := newTestReceiver()
	if _, err := ba.Subscribe(ctx, "room1", "screen", AllLayers, screenRx); err != nil {
		t.Fatal(err)
	}
	screenOut := a.src.outbound(t, "screen")

	// A video subscription starts with a keyframe request for each layer.
	waitKeyframe(t, b.src, "cam", 0)
	if got := camOut.Layers(); got != Layers(0, 2) {
		t.Errorf("upstream sees layers %v", got)
	}
	if !bytes.Equal(camOut.Peer(), a.key.PublicKey()) || camOut.Room() != "room1" {
		t.Errorf("outbound names peer %x room %s", camOut.Peer()[:4], camOut.Room())
	}

	const n = 50
	for i := range uint16(n) {
		for layer := range MaxLayers {
			ok := camOut.WriteRTP(layer, testRTP(1000+i, 400+layer*300))
			if ok != (layer != 1) {
				t.Fatalf("WriteRTP layer %d = %v", layer, ok)
			}
		}
		micOut.WriteRTP(0, testRTP(i, 80))
		screenOut.WriteRTP(1, testRTP(5000+i, 1100))
	}
	eventually(t, 20*time.Second, "all packets arrive", func() bool {
		return camRx.count(0) == n && camRx.count(2) == n && micRx.count(0) == n && screenRx.count(1) == n
	})
	for i := range uint16(n) {
		for _, layer := range []int{0, 2} {
			if got := camRx.find(layer, 1000+i); !bytes.Equal(got, testRTP(1000+i, 400+layer*300)) {
				t.Fatalf("cam layer %d packet %d differs", layer, i)
			}
		}
		if got := screenRx.find(1, 5000+i); !bytes.Equal(got, testRTP(5000+i, 1100)) {
			t.Fatalf("screen packet %d differs", i)
		}
	}
	if camRx.count(1) != 0 {
		t.Errorf("an unsubscribed layer arrived")
	}

	// Stats exchanged once per interval: each side's view of the other agrees.
	eventually(t, 5*time.Second, "stats exchanged", func() bool {
		sa, sb := ab.Stats(), ba.Stats()
		return sb.Out.Datagrams == sa.In.Datagrams && sa.Out.Datagrams == sb.In.Datagrams &&
			sa.In.Datagrams >= 3*n && sb.In.Datagrams >= n && sb.Out.Lost == 0 && sa.Out.Lost == 0 &&
			sa.RTT > 0 && len(sb.Outbound) == 2
	})
	sa := ab.Stats()
	if !sa.Connected || !sa.Dialer || sa.Connects != 1 || sa.In.Lost != 0 || sa.Discarded != 0 {
		t.Errorf("a's stats: %+v", sa)
	}
	if len(sa.Inbound) != 2 || sa.Inbound[0].Track != "cam" || sa.Inbound[0].Packets[2] != n || sa.Inbound[0].Layers != Layers(0, 2) {
		t.Errorf("a's inbound stats: %+v", sa.Inbound)
	}
	if sa.CapacityIn <= 0 {
		t.Errorf("no capacity estimate")
	}
	if got := len(a.ep.Stats()); got != 1 {
		t.Errorf("endpoint lists %d links", got)
	}

	// Layer change: the upstream sees it, and a keyframe is asked for the new layer.
	cam.SetLayers(Layers(1))
	waitKeyframe(t, b.src, "cam", 1)
	if got := camOut.Layers(); got != Layers(1) {
		t.Errorf("after SetLayers, upstream sees %v", got)
	}
	cam.RequestKeyframe(1)

	// Unsubscribe: the upstream handler is closed.
	cam.Close()
	select {
	case o := <-b.src.closed:
		if o != camOut {
			t.Errorf("closed %s, want cam", o.Track())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream not told of the unsubscribe")
	}
	if camOut.WriteRTP(1, testRTP(1, 10)) {
		t.Errorf("write after unsubscribe accepted")
	}

	// The upstream ends a track: the subscriber is told why.
	micOut.End("unpublished")
	select {
	case err := <-micRx.ended:
		if !errors.Is(err, ErrTrackEnded) || !strings.Contains(err.Error(), "unpublished") {
			t.Errorf("ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not told the track ended")
	}
}

func TestSubscribeRefusals(t *testing.T) {
	lo, hi := newKeyPair(t)
	a := newTestNode(t, lo, nil)
	b := newTestNode(t, hi, nil)
	federate(a, b, "shared")
	b.src.add("shared", "cam", vp8Info)
	b.src.add("secret", "cam", vp8Info)
	ab, _ := link(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A room b does not share with a.
	_, err := ab.Subscribe(ctx, "secret", "cam", Layers(0), newTestReceiver())
	if !errors.Is(err, ErrRoomNotShared) {
		t.Fatalf("subscribe to a room not shared: %v", err)
	}
	if !strings.Contains(err.Error(), "takes no part in room secret") {
		t.Errorf("refusal does not say why: %v", err)
	}
	t.Logf("refusal reads: %v", err)
	// A track that does not exist.
	if _, err := ab.Subscribe(ctx, "shared", "nope", Layers(0), newTestReceiver()); !errors.Is(err, ErrNoTrack) {
		t.Errorf("subscribe to a missing track: %v", err)
	}
	// Twice the same track.
	if _, err := ab.Subscribe(ctx, "shared", "cam", Layers(0), newTestReceiver()); err != nil {
		t.Fatal(err)
	}
	if _, err := ab.Subscribe(ctx, "shared", "cam", Layers(1), newTestReceiver()); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second subscribe to a track: %v", err)
	}
	// Malformed ids never reach the wire.
	if _, err := ab.Subscribe(ctx, "shared", "bad id", Layers(0), newTestReceiver()); err == nil {
		t.Errorf("subscribe with a space in the track id accepted")
	}
	if len(ab.Stats().Inbound) != 1 {
		t.Errorf("refused subscriptions linger: %+v", ab.Stats().Inbound)
	}
	// Linking to itself, or dialing without an address.
	if _, err := a.ep.Link(lo.PublicKey(), b.ep.Addr()); err == nil {
		t.Errorf("a node linked to itself")
	}
	c := newTestNode(t, hi, nil) // same key as b, so a dials it
	if _, err := a.ep.Link(c.key.PublicKey(), nil); err == nil {
		t.Errorf("link without the address to dial accepted")
	}
}

// TestUnauthorizedNodeRefused: a node the Authorizer does not admit fails the TLS handshake,
// whichever side refuses, and never gets a link.
func TestUnauthorizedNodeRefused(t *testing.T) {
	for _, refuser := range []string{"acceptor", "dialer"} {
		t.Run(refuser, func(t *testing.T) {
			lo, hi := newKeyPair(t)
			a := newTestNode(t, lo, func(c *Config) { c.MaxBackoff = 100 * time.Millisecond })
			b := newTestNode(t, hi, nil)
			b.src.add("r", "cam", vp8Info)
			if refuser == "acceptor" {
				a.auth.allow(hi.PublicKey(), "r") // b does not know a
			} else {
				b.auth.allow(lo.PublicKey(), "r") // a does not trust b
			}
			ab, err := a.ep.Link(hi.PublicKey(), b.ep.Addr())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err = ab.Subscribe(ctx, "r", "cam", Layers(0), newTestReceiver())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("subscribe over a refused link: %v", err)
			}
			st := ab.Stats()
			t.Logf("link error: %s", st.LastError)
			// The acceptor refuses the client certificate with a bad_certificate alert; the
			// dialer refuses the server's before its handshake completes.
			want := map[string]string{"acceptor": "(remote): tls: bad certificate", "dialer": "(local): cascade: node not authorized"}[refuser]
			if st.Connected || st.Connects != 0 || !strings.Contains(st.LastError, want) {
				t.Errorf("stats of a refused link: %+v, want error %q", st, want)
			}
			if links := b.ep.Links(); len(links) != 0 {
				t.Errorf("the acceptor made a link for a refused node")
			}
		})
	}
}

// TestClientWithoutCertificateRefused: a QUIC client that presents no certificate does not
// get past the handshake.
func TestClientWithoutCertificateRefused(t *testing.T) {
	_, hi := newKeyPair(t)
	b := newTestNode(t, hi, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tr := &quic.Transport{Conn: conn}
	defer tr.Close()
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpnV1}, MinVersion: tls.VersionTLS13}
	c, err := tr.Dial(ctx, b.ep.Addr(), tlsConf, &quic.Config{EnableDatagrams: true})
	if err == nil {
		// TLS 1.3 clients learn of a refused certificate after their side completed.
		_, err = c.AcceptStream(ctx)
	}
	if err == nil {
		t.Fatal("a client without a certificate got a connection")
	}
	t.Logf("refused: %v", err)
	if len(b.ep.Links()) != 0 {
		t.Errorf("the refused client got a link")
	}
}

// TestVersionMismatch: a node of another wire version is refused at the TLS handshake
// (ALPN) or, if it claims the same ALPN but another hello version, closed with CodeVersion
// and a reason; a malformed control frame closes with CodeProtocol.
func TestVersionMismatch(t *testing.T) {
	lo, hi := newKeyPair(t)
	b := newTestNode(t, hi, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	a2 := newTestNode(t, lo, func(c *Config) { c.alpn = []string{"parley-cascade/2"} })
	federate(a2, b, "r")
	_, _, err := a2.ep.dial(ctx, hi.PublicKey(), b.ep.Addr(), a2.ep.cfg.DialTimeout)
	if err == nil || !strings.Contains(err.Error(), "no application protocol") {
		t.Errorf("dial with another ALPN: %v", err)
	}

	lo2, _ := newKeyPair(t)
	a3 := newTestNode(t, lo2, func(c *Config) { c.helloVersion = 2 })
	federate(a3, b, "r")
	_, _, err = a3.ep.dial(ctx, hi.PublicKey(), b.ep.Addr(), a3.ep.cfg.DialTimeout)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "wire version 2 not supported") {
		t.Errorf("dial with hello version 2: %v", err)
	}
	t.Logf("version refusal reads: %v", err)

	// Same version, then a frame of an unknown type.
	lo3, _ := newKeyPair(t)
	a4 := newTestNode(t, lo3, nil)
	federate(a4, b, "r")
	conn, stream, err := a4.ep.dial(ctx, hi.PublicKey(), b.ep.Addr(), a4.ep.cfg.DialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Write([]byte{0x42, 0, 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Context().Done():
		if err := context.Cause(conn.Context()); !appCode(err, CodeProtocol) {
			t.Errorf("closed with %v, want CodeProtocol", err)
		}
	case <-ctx.Done():
		t.Fatal("a bad control frame did not close the connection")
	}
	// The link b made for the connection, which nobody asked for, goes with it.
	eventually(t, 5*time.Second, "b forgets the bad peer's link", func() bool {
		for _, l := range b.ep.Links() {
			if l.Peer().Equal(lo3.PublicKey()) {
				return false
			}
		}
		return true
	})
}

// TestRepairAndKeyframes: a packet lost on the link is asked for and resent from the
// upstream cache; one the cache no longer has ends in a keyframe request.
func TestRepairAndKeyframes(t *testing.T) {
	lo, hi := newKeyPair(t)
	a := newTestNode(t, lo, nil)
	b := newTestNode(t, hi, nil)
	federate(a, b, "r")
	b.src.add("r", "cam", vp8Info)
	ab, _ := link(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rx := newTestReceiver()
	if _, err := ab.Subscribe(ctx, "r", "cam", Layers(0), rx); err != nil {
		t.Fatal(err)
	}
	out := b.src.outbound(t, "cam")
	waitKeyframe(t, b.src, "cam", 0)

	// Seq 12 goes into the cache but not on the link, as if the link had lost it.
	for seq := uint16(10); seq < 20; seq++ {
		if seq == 12 {
			out.layerCache(0).put(seq, testRTP(seq, 500))
			continue
		}
		out.WriteRTP(0, testRTP(seq, 500))
	}
	eventually(t, 5*time.Second, "the lost packet is repaired", func() bool { return rx.find(0, 12) != nil })
	if !bytes.Equal(rx.find(0, 12), testRTP(12, 500)) {
		t.Errorf("repaired packet differs")
	}
	// Seq 22 was never sent nor cached: after the retries, a keyframe request.
	for seq := uint16(20); seq < 30; seq++ {
		if seq != 22 {
			out.WriteRTP(0, testRTP(seq, 500))
		}
	}
	waitKeyframe(t, b.src, "cam", 0)
	eventually(t, 5*time.Second, "stats show the repair", func() bool {
		st := ab.Stats()
		return st.In.Retransmits >= 1 && st.In.Nacks >= 1+nackMaxTries
	})
	if m := b.ep.Links()[0].Stats().RetransmitMisses; m < nackMaxTries {
		t.Errorf("upstream counted %d misses", m)
	}
	// Explicit NACK of a cached packet.
	rtx := ab.Stats().In.Retransmits
	ab.inbounds[trackKey{"r", "cam"}].Nack(0, 15)
	eventually(t, 5*time.Second, "explicit NACK answered", func() bool { return ab.Stats().In.Retransmits > rtx })
}

// TestCloseEndsEverything: closing ends subscriptions on both sides, stops every goroutine,
// and further calls report ErrClosed.
func TestCloseEndsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	lo, hi := newKeyPair(t)
	a := newTestNode(t, lo, nil)
	b := newTestNode(t, hi, nil)
	federate(a, b, "r")
	b.src.add("r", "cam", vp8Info)
	// Only a asks for the link: b's is made by the incoming connection.
	ab, err := a.ep.Link(hi.PublicKey(), b.ep.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rx := newTestReceiver()
	if _, err := ab.Subscribe(ctx, "r", "cam", Layers(0), rx); err != nil {
		t.Fatal(err)
	}
	out := b.src.outbound(t, "cam")
	out.WriteRTP(0, testRTP(1, 100))
	<-rx.got
	if len(b.ep.Links()) != 1 {
		t.Fatalf("b has %d links", len(b.ep.Links()))
	}

	if err := a.ep.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rx.ended:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("subscription ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription not ended by Close")
	}
	select {
	case <-out.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's outbound did not end")
	}
	if _, err := a.ep.Link(hi.PublicKey(), b.ep.Addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Link after Close: %v", err)
	}
	if _, err := ab.Subscribe(ctx, "r", "cam", Layers(0), newTestReceiver()); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := a.ep.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// b's link, which nobody asked for, goes with its connection.
	eventually(t, 5*time.Second, "b forgets the link", func() bool { return len(b.ep.Links()) == 0 })
	if err := b.ep.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}
