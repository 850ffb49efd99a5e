package media

import (
	"context"
	"crypto/ed25519"
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"parley/identity"
	"parley/media/cascade"
	"parley/media/signal"
)

// allowKeys is a cascade.Authorizer admitting a fixed set of nodes to every room.
type allowKeys []ed25519.PublicKey

func (a allowKeys) AllowNode(pub ed25519.PublicKey) bool {
	for _, k := range a {
		if k.Equal(pub) {
			return true
		}
	}
	return false
}

func (a allowKeys) AllowRoom(pub ed25519.PublicKey, _ string) bool { return a.AllowNode(pub) }

// cascadePair is two SFUs, A and B, whose nodes are linked by a cascade on loopback.
type cascadePair struct {
	a, b     *SFU
	epA, epB *cascade.Endpoint
	ab, ba   *cascade.Link // A's link to B, B's link to A
}

func newCascadePair(t *testing.T) *cascadePair {
	return newCascadePairWith(t, cascade.Config{})
}

// newCascadePairWith is newCascadePair with B's endpoint configured by cfgB (Key, Auth,
// Tracks and Logger are filled in).
func newCascadePairWith(t *testing.T, cfgB cascade.Config) *cascadePair {
	t.Helper()
	kA, kB := mustNodeKey(t), mustNodeKey(t)
	auth := allowKeys{kA.PublicKey(), kB.PublicKey()}
	c := &cascadePair{a: newTestSFU(t), b: newTestSFU(t)}
	c.epA = newTestEndpoint(t, cascade.Config{Key: kA, Auth: auth}, c.a, "A")
	cfgB.Key, cfgB.Auth = kB, auth
	c.epB = newTestEndpoint(t, cfgB, c.b, "B")
	var err error
	if c.ab, err = c.epA.Link(kB.PublicKey(), c.epB.Addr()); err != nil {
		t.Fatal(err)
	}
	if c.ba, err = c.epB.Link(kA.PublicKey(), c.epA.Addr()); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNodeKey(t *testing.T) *identity.NodeKey {
	t.Helper()
	k, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestEndpoint starts a cascade endpoint on loopback serving s's tracks; it closes before
// the SFU when the test ends.
func newTestEndpoint(t *testing.T, cfg cascade.Config, s *SFU, name string) *cascade.Endpoint {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracks, cfg.Logger = s, testLogger(t).With("cascade", name)
	ep, err := cascade.New(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep
}

// mirror waits until A publishes n tracks in room and tells B about them, as a node does
// with what it learns from the federation.
func (c *cascadePair) mirror(t *testing.T, room string, n int) []PublishedTrack {
	t.Helper()
	var tracks []PublishedTrack
	eventually(t, 15*time.Second, "A's tracks published", func() bool {
		tracks = c.a.PublishedTracks(room)
		return len(tracks) == n
	})
	c.b.SetRemoteTracks(room, c.ba, tracks)
	return tracks
}

// linkStats returns the one link's statistics of an endpoint.
func linkStats(t *testing.T, ep *cascade.Endpoint) cascade.LinkStats {
	t.Helper()
	st := ep.Stats()
	if len(st) != 1 {
		t.Fatalf("%d links, want 1", len(st))
	}
	return st[0]
}

// crossed sums what crossed the link in subscriptions: packets and RTP bytes per kind, and
// the datagram bytes they make (8-byte cascade header each).
func crossed(ts []cascade.TrackStats) (audio, video, datagramBytes uint64) {
	for _, s := range ts {
		for l := range cascade.MaxLayers {
			if s.Kind == cascade.KindVideo {
				video += s.Packets[l]
			} else {
				audio += s.Packets[l]
			}
			datagramBytes += s.Bytes[l] + 8*s.Packets[l]
		}
	}
	return audio, video, datagramBytes
}

// TestCascadeTwoSFUs: a publisher on SFU A, two subscribers on SFU B. B subscribes once per
// track over the cascade and fans out: both receive audio and video, exactly one copy of
// each (track, layer) crosses the link, a subscriber's PLI reaches the publisher, and
// unpublishing takes the tracks away on B.
func TestCascadeTwoSFUs(t *testing.T) {
	c := newCascadePair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const room = "room1"
	ada := join(t, c.a, room, "ada")
	pt := ada.publish(true, []string{})
	streamCtx, stopStream := context.WithCancel(ctx)
	ada.stream(streamCtx, pt, 40, 0) // keyframes only on request
	bo := join(t, c.b, room, "bo")
	cy := join(t, c.b, room, "cy")
	tracks := c.mirror(t, room, 2)
	for _, tr := range tracks {
		if tr.Participant != "ada" || tr.Layers != 1 || (tr.Kind == "audio") != (tr.AudioLevelID != 0) {
			t.Errorf("published %+v, want ada's, one layer, an audio level id on audio", tr)
		}
	}
	for _, rx := range []*testPeer{bo, cy} {
		for _, kind := range []string{"audio", "video"} {
			eventually(t, 15*time.Second, rx.id+" receives ada's "+kind+" over the cascade", func() bool {
				r, ok := rx.received("ada", kind)
				return ok && r.packets >= 25 && (kind == "audio" || r.keyframes >= 1)
			})
		}
	}
	if st := c.b.Stats(); st.RemoteTracks != 2 || st.Tracks != 0 {
		t.Errorf("B's stats %+v, want 2 remote tracks and no local one", st)
	}

	// One copy: over a window, the link carries each packet the publisher sent once, and B
	// forwards it twice.
	sentA, sentV := pt.audioSent.Load(), pt.videoSent.Load()
	a0, v0, _ := crossed(linkStats(t, c.epA).Outbound)
	fwd0 := c.b.Stats().ForwardedPackets
	time.Sleep(2 * time.Second)
	sentA, sentV = pt.audioSent.Load()-sentA, pt.videoSent.Load()-sentV
	a1, v1, _ := crossed(linkStats(t, c.epA).Outbound)
	fwd := c.b.Stats().ForwardedPackets - fwd0
	dA, dV := a1-a0, v1-v0
	t.Logf("in 2 s: publisher sent %d audio and %d video packets; %d and %d crossed; B forwarded %d", sentA, sentV, dA, dV, fwd)
	if dA > sentA+5 || dA+5 < sentA || dV > sentV+5 || dV+5 < sentV {
		t.Errorf("crossed %d audio / %d video packets for %d / %d sent: want one copy", dA, dV, sentA, sentV)
	}
	if fwd+10 < 2*(dA+dV) || fwd > 2*(dA+dV)+10 {
		t.Errorf("B forwarded %d packets for %d crossed, want two per packet (two subscribers)", fwd, dA+dV)
	}

	// A subscriber's PLI reaches the publisher.
	ssrc := pt.ssrcs[""]
	requests := func() int { ada.mu.Lock(); defer ada.mu.Unlock(); return ada.keyRequests[ssrc] }
	quiet := requests()
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(time.Second)
		n := requests()
		if n == quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the publisher keeps being asked for keyframes (%d)", n)
		}
		quiet = n
	}
	r, _ := bo.received("ada", "video")
	bo.mu.Lock()
	sub := bo.sub
	bo.mu.Unlock()
	if err := sub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: r.ssrc}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "bo's PLI to reach ada", func() bool { return requests() > quiet })
	if st := linkStats(t, c.epA); st.Out.Keyframes == 0 {
		t.Errorf("A's link counted no keyframe request: %+v", st.Out)
	}

	// Counters agree: the link's bytes are the subscriptions' datagrams, one per (track, layer).
	stopStream()
	time.Sleep(300 * time.Millisecond)
	stA, stB := linkStats(t, c.epA), linkStats(t, c.epB)
	if len(stA.Outbound) != 2 || len(stB.Inbound) != 2 {
		t.Fatalf("A sends %d subscriptions, B holds %d, want 2 each (one per track)", len(stA.Outbound), len(stB.Inbound))
	}
	for _, s := range stA.Outbound {
		if s.Layers != cascade.Layers(0) {
			t.Errorf("track %s subscribed with layers %s, want 0", s.Track, s.Layers)
		}
	}
	_, _, bytes := crossed(stA.Outbound)
	if stA.Out.Retransmits == 0 && stA.Out.Bytes != bytes {
		t.Errorf("link carried %d bytes, the subscriptions %d", stA.Out.Bytes, bytes)
	}
	if stB.In.Bytes != stA.Out.Bytes {
		t.Errorf("B received %d bytes, A sent %d", stB.In.Bytes, stA.Out.Bytes)
	}
	t.Logf("link: %d datagrams, %d bytes, rtt %v, %d keyframe requests", stA.Out.Datagrams, stA.Out.Bytes, stA.RTT, stA.Out.Keyframes)

	// Unpublishing ends the subscriptions: the tracks leave B's subscribers.
	ada.close()
	for _, rx := range []*testPeer{bo, cy} {
		eventually(t, 10*time.Second, rx.id+" renegotiated without ada's tracks", func() bool { return len(rx.offeredTracks()) == 0 })
	}
	eventually(t, 5*time.Second, "B's remote tracks gone", func() bool { return c.b.Stats().RemoteTracks == 0 })
}

// TestCascadeSimulcastLayer: B asks A for the one layer its subscriber wants, and moves to
// another when the subscriber asks for it.
func TestCascadeSimulcastLayer(t *testing.T) {
	c := newCascadePair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const room = "room1"
	ada := join(t, c.a, room, "ada")
	pt := ada.publish(false, []string{"q", "h", "f"})
	ada.stream(ctx, pt, -1, 0)
	bo := join(t, c.b, room, "bo")
	eventually(t, 15*time.Second, "A's three layers", func() bool {
		ts := c.a.PublishedTracks(room)
		return len(ts) == 1 && ts[0].Layers == 7
	})
	c.mirror(t, room, 1)
	outLayers := func() cascade.LayerSet {
		st := c.epA.Stats()
		if len(st) != 1 || len(st[0].Outbound) != 1 {
			return 0
		}
		return st[0].Outbound[0].Layers
	}
	eventually(t, 15*time.Second, "bo receives the high layer", func() bool {
		r, ok := bo.received("ada", "video")
		return ok && r.lastLayer == 'f' && r.packets > 20
	})
	if l := outLayers(); l != cascade.Layers(2) {
		t.Fatalf("A sends layers %s, want 2 only", l)
	}
	if err := bo.part.Handle(&signal.Message{Type: signal.TypeLayer, Track: videoTrackID(t, bo, "ada"), Quality: signal.QualityLow}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bo on the low layer, and only it crossing", func() bool {
		r, _ := bo.received("ada", "video")
		return r.lastLayer == 'q' && outLayers() == cascade.Layers(0)
	})
	r, _ := bo.received("ada", "video")
	for i := 1; i < len(r.seqs); i++ {
		if d := int16(r.seqs[i] - r.seqs[i-1]); d > 5 || d < -5 {
			t.Errorf("sequence jump %d -> %d across the switch", r.seqs[i-1], r.seqs[i])
		}
	}
}

// TestCascadeCapacityLowersLayer: when what B subscribes to exceeds the link's capacity
// estimate, B asks for a lower layer.
func TestCascadeCapacityLowersLayer(t *testing.T) {
	// The high layer of the test stream is about 150 kbit/s.
	c := newCascadePairWith(t, cascade.Config{InitialCapacity: 100_000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const room = "room1"
	ada := join(t, c.a, room, "ada")
	pt := ada.publish(false, []string{"q", "h", "f"})
	ada.stream(ctx, pt, -1, 0)
	bo := join(t, c.b, room, "bo")
	eventually(t, 15*time.Second, "A's three layers", func() bool {
		ts := c.a.PublishedTracks(room)
		return len(ts) == 1 && ts[0].Layers == 7
	})
	c.mirror(t, room, 1)
	eventually(t, 15*time.Second, "bo receives ada's video", func() bool {
		r, ok := bo.received("ada", "video")
		return ok && r.packets > 20
	})
	eventually(t, 15*time.Second, "a lower layer than the highest crossing", func() bool {
		st := c.epA.Stats()
		return len(st) == 1 && len(st[0].Outbound) == 1 && st[0].Outbound[0].Layers.Highest() < 2
	})
	eventually(t, 5*time.Second, "bo served the lower layer", func() bool {
		r, _ := bo.received("ada", "video")
		return r.lastLayer != 'f'
	})
}
