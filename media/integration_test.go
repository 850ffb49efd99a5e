package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

func TestThreePeersReceiveEachOther(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ids := []string{"ada", "bob", "cyd"}
	peers := make([]*testPeer, len(ids))
	for i, id := range ids {
		peers[i] = join(t, s, "room1", id)
		pt := peers[i].publish(true, []string{})
		peers[i].stream(ctx, pt, 30+10*i, 25)
	}
	for _, rx := range peers {
		for _, tx := range peers {
			if rx == tx {
				continue
			}
			for _, kind := range []string{"audio", "video"} {
				eventually(t, 15*time.Second, fmt.Sprintf("%s to receive %s's %s", rx.id, tx.id, kind), func() bool {
					r, ok := rx.received(tx.id, kind)
					return ok && r.packets >= 20 && (kind == "audio" || r.keyframes >= 1)
				})
			}
		}
		if _, ok := rx.received(rx.id, "audio"); ok {
			t.Errorf("%s received its own audio", rx.id)
		}
	}
	// Sequence numbers arrive without jumps: every forwarded stream starts on a keyframe and
	// the munger keeps it contiguous.
	r, _ := peers[0].received("bob", "video")
	for i := 1; i < len(r.seqs); i++ {
		if d := int16(r.seqs[i] - r.seqs[i-1]); d > 5 || d < -5 {
			t.Errorf("sequence jump %d -> %d", r.seqs[i-1], r.seqs[i])
		}
	}
	st := s.Stats()
	if st.Participants != 3 || st.Tracks != 6 {
		t.Errorf("stats = %+v, want 3 participants and 6 tracks", st)
	}
	if st.ForwardedPackets == 0 || st.ForwardedBytes == 0 || st.KeyframeRequests == 0 {
		t.Errorf("stats = %+v, want forwarded packets, bytes and keyframe requests", st)
	}
	// Each participant is told who speaks: cyd is quietest (50 dBov), ada loudest (30 dBov).
	eventually(t, 5*time.Second, "speakers message", func() bool {
		peers[1].mu.Lock()
		defer peers[1].mu.Unlock()
		for _, sp := range peers[1].speakers {
			if len(sp) == 3 && sp[0] == "ada" && sp[1] == "bob" && sp[2] == "cyd" {
				return true
			}
		}
		return false
	})
	// A newcomer is told who is speaking without waiting for a change.
	d := join(t, s, "room1", "dan")
	eventually(t, 5*time.Second, "speakers message to the newcomer", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.speakers) > 0 && len(d.speakers[0]) == 3 && d.speakers[0][0] == "ada"
	})
}

func TestLeaveRenegotiatesOthers(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := join(t, s, "r", "a")
	b := join(t, s, "r", "b")
	pa := a.publish(true, []string{})
	a.stream(ctx, pa, 40, 25)
	pb := b.publish(true, []string{})
	b.stream(ctx, pb, 40, 25)
	eventually(t, 15*time.Second, "b receives a's video", func() bool {
		r, ok := b.received("a", "video")
		return ok && r.packets > 10
	})
	before := len(b.offeredTracks())
	if before != 2 {
		t.Fatalf("b was offered %d tracks, want 2", before)
	}
	a.close()
	eventually(t, 10*time.Second, "b's sub pc renegotiated without a's tracks", func() bool {
		return len(b.offeredTracks()) == 0
	})
	eventually(t, 5*time.Second, "stats to drop a", func() bool {
		st := s.Stats()
		return st.Participants == 1 && st.Tracks == 2
	})
	// b's own session keeps working: a newcomer receives b.
	c := join(t, s, "r", "c")
	eventually(t, 15*time.Second, "c receives b's audio", func() bool {
		r, ok := c.received("b", "audio")
		return ok && r.packets > 10
	})
}

func TestUnpublishOnReoffer(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := join(t, s, "r", "a")
	b := join(t, s, "r", "b")
	pa := a.publish(true, []string{})
	a.stream(ctx, pa, -1, 25)
	eventually(t, 15*time.Second, "b offered a's two tracks", func() bool { return len(b.offeredTracks()) == 2 })

	// a stops its camera: the transceiver goes inactive and a re-offers without it.
	for _, tr := range a.pub.GetTransceivers() {
		if tr.Mid() == pa.vidMid {
			if err := a.pub.RemoveTrack(tr.Sender()); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := a.pub.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.pub.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	err = a.part.Handle(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: offer.SDP,
		Tracks: map[string]signal.Track{pa.audMid: {Source: signal.SourceMic}}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "b's offer without a's camera", func() bool {
		tr := b.offeredTracks()
		if len(tr) != 1 {
			return false
		}
		for _, x := range tr {
			return x.Kind == "audio" && x.Participant == "a"
		}
		return false
	})
	if st := s.Stats(); st.Tracks != 1 {
		t.Errorf("tracks = %d, want 1", st.Tracks)
	}
}

func TestBadInput(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := join(t, s, "r", "a")
	b := join(t, s, "r", "b")

	cases := []struct {
		name   string
		m      *signal.Message
		badSDP bool
	}{
		{"garbage offer", &signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: "this is not sdp", Tracks: map[string]signal.Track{}}, true},
		{"offer on sub", &signal.Message{Type: signal.TypeOffer, PC: signal.PCSub, SDP: "v=0\r\n"}, true},
		{"answer without offer", &signal.Message{Type: signal.TypeAnswer, PC: signal.PCSub, SDP: "v=0\r\n"}, true},
		{"candidate for pc without session", &signal.Message{Type: signal.TypeCandidate, PC: signal.PCSub, Candidate: &signal.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}, true},
		{"candidate for unknown pc", &signal.Message{Type: signal.TypeCandidate, PC: "xyz", Candidate: &signal.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}, true},
		{"candidate without candidate", &signal.Message{Type: signal.TypeCandidate, PC: signal.PCPub}, true},
		{"layer for unknown track", &signal.Message{Type: signal.TypeLayer, Track: "nope", Quality: signal.QualityLow}, false},
		{"chat is not for the sfu", &signal.Message{Type: signal.TypeChat, SFrame: []byte("hi")}, false},
	}
	for _, c := range cases {
		err := a.part.Handle(c.m)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if got := errors.Is(err, ErrBadSDP); got != c.badSDP {
			t.Errorf("%s: errors.Is(%v, ErrBadSDP) = %v, want %v", c.name, err, got, c.badSDP)
		}
	}

	// An offer whose sending mid has no source is refused, as is a garbage candidate once
	// the pc exists; the participant can still publish afterwards.
	pc, err := a.api.NewPeerConnection(webrtcConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	offer := pionOfferWithAudio(t, pc)
	if err := a.part.Handle(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: offer, Tracks: map[string]signal.Track{}}); !errors.Is(err, ErrBadSDP) {
		t.Errorf("offer with unknown mid: %v, want ErrBadSDP", err)
	}

	pa := a.publish(true, nil)
	a.stream(ctx, pa, -1, 0)
	if err := a.part.Handle(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCPub, Candidate: &signal.Candidate{Candidate: "candidate:garbage"}}); !errors.Is(err, ErrBadSDP) {
		t.Errorf("garbage candidate: %v, want ErrBadSDP", err)
	}
	if err := a.part.Handle(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCPub, Candidate: &signal.Candidate{Candidate: ""}}); err != nil {
		t.Errorf("end of candidates: %v", err)
	}
	eventually(t, 15*time.Second, "b receives a's audio after the bad input", func() bool {
		r, ok := b.received("a", "audio")
		return ok && r.packets > 10
	})

	// A client that vanishes mid-negotiation (never answers its sub offer) does not hold up
	// the others, and closing it is clean.
	v := join(t, s, "r", "vanisher")
	v.close()
	if err := v.part.Handle(&signal.Message{Type: signal.TypeLayer, Track: "t1", Quality: "low"}); !errors.Is(err, ErrClosed) {
		t.Errorf("handle after close: %v, want ErrClosed", err)
	}
	if _, err := s.Join("r", "a", func(*signal.Message) {}); err == nil {
		t.Errorf("second join with the same id accepted")
	}
}

func TestPublicIPAdvertised(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{UDP: conn, PublicIPs: []string{"203.0.113.7"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var mu sync.Mutex
	var cands []string
	p, err := s.Join("r", "a", func(m *signal.Message) {
		if m.Type == signal.TypeCandidate {
			mu.Lock()
			cands = append(cands, m.Candidate.Candidate)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := newTestAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	offer := pionOfferWithAudio(t, pc)
	mid := "0"
	if err := p.Handle(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: offer, Tracks: map[string]signal.Track{mid: {Source: signal.SourceMic}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a host candidate", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(cands) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	for _, c := range cands {
		if !strings.Contains(c, fmt.Sprintf("203.0.113.7 %d typ host", port)) {
			t.Errorf("candidate %q does not advertise the public ip on the media port", c)
		}
	}
	if _, err := New(Config{UDP: conn, PublicIPs: []string{"not-an-ip"}}); err == nil {
		t.Errorf("bad public ip accepted")
	}
}

func TestICETCP(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{UDP: conn, TCP: ln, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tcpOnly := func(se *webrtc.SettingEngine) {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	a := join(t, s, "r", "a", tcpOnly)
	b := join(t, s, "r", "b", tcpOnly)
	pa := a.publish(true, []string{})
	a.stream(ctx, pa, -1, 25)
	eventually(t, 20*time.Second, "b receives a's audio and video over ICE-TCP", func() bool {
		ra, ok1 := b.received("a", "audio")
		rv, ok2 := b.received("a", "video")
		return ok1 && ok2 && ra.packets > 10 && rv.keyframes > 0
	})
}

func TestCloseStopsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{UDP: conn, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := join(t, s, "r", "a")
	b := join(t, s, "r", "b")
	pa := a.publish(true, []string{signal.RIDLow, signal.RIDHigh})
	a.stream(ctx, pa, 20, 10)
	eventually(t, 15*time.Second, "b receives a's video", func() bool {
		r, ok := b.received("a", "video")
		return ok && r.packets > 10
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Join("r", "c", func(*signal.Message) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("join after close: %v, want ErrClosed", err)
	}
	if err := a.part.Handle(&signal.Message{Type: signal.TypeLayer, Track: "t1", Quality: "low"}); !errors.Is(err, ErrClosed) {
		t.Errorf("handle after close: %v", err)
	}
	if st := s.Stats(); st.Participants != 0 || st.Tracks != 0 {
		t.Errorf("stats after close: %+v", st)
	}
	cancel()
	a.close()
	b.close()
	eventually(t, 10*time.Second, "goroutines to end", func() bool {
		return runtime.NumGoroutine() <= base
	})
}
