package media

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// testLogger routes slog to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: testLogLevel}))
}

type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool // set when the test ends: pion callbacks may still log after that
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() }) // runs after later cleanups
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// newTestSFU starts an SFU on a loopback UDP port.
func newTestSFU(t *testing.T) *SFU {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{UDP: conn, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testPeer is a headless participant built directly on pion: it publishes synthetic Opus
// and VP8, answers the SFU's sub offers, and counts what it receives per remote track.
type testPeer struct {
	t    *testing.T
	id   string
	sfu  *SFU
	part *Participant
	api  *webrtc.API
	msgs chan *signal.Message

	pub *webrtc.PeerConnection

	mu          sync.Mutex
	sub         *webrtc.PeerConnection
	subTracks   map[string]signal.Track // mid -> track, from the latest sub offer
	recv        map[string]*recvTrack   // track id -> stats
	speakers    [][]string
	offers      int
	pubSent     bool
	pendingCand []webrtc.ICECandidateInit
	keyRequests map[uint32]int // ssrc -> PLIs received
	wantKey     map[uint32]bool

	done chan struct{}
	wg   sync.WaitGroup
}

type recvTrack struct {
	info      signal.Track
	mid       string
	ssrc      uint32
	packets   int
	keyframes int
	lastLayer byte // layer tag of the last video packet ('q','h','f' or 0)
	layers    map[byte]int
	seqs      []uint16
	pids      []uint16
	tss       []uint32
	lastTS    uint32
}

func newTestAPI(t *testing.T, opts ...func(*webrtc.SettingEngine)) *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		uri  string
		kind webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{audioLevelURI, webrtc.RTPCodecTypeAudio},
	} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	for _, o := range opts {
		o(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// join adds a test peer to room on s.
func join(t *testing.T, s *SFU, room, id string, opts ...func(*webrtc.SettingEngine)) *testPeer {
	t.Helper()
	tp := &testPeer{
		t: t, id: id, sfu: s, api: newTestAPI(t, opts...),
		msgs:        make(chan *signal.Message, 4096),
		subTracks:   map[string]signal.Track{},
		recv:        map[string]*recvTrack{},
		keyRequests: map[uint32]int{},
		wantKey:     map[uint32]bool{},
		done:        make(chan struct{}),
	}
	p, err := s.Join(room, id, func(m *signal.Message) {
		if m.Type == signal.TypeCandidate && debugCands {
			t.Logf("%s <- %s candidate %s", id, m.PC, m.Candidate.Candidate)
		}
		select {
		case tp.msgs <- m:
		default:
			t.Errorf("%s: signalling queue full", id)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tp.part = p
	tp.wg.Add(1)
	go tp.loop()
	t.Cleanup(tp.close)
	return tp
}

func (tp *testPeer) close() {
	select {
	case <-tp.done:
		return
	default:
	}
	close(tp.done)
	_ = tp.part.Close()
	tp.wg.Wait()
	tp.mu.Lock()
	sub := tp.sub
	tp.mu.Unlock()
	if tp.pub != nil {
		_ = tp.pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}

// loop plays the client side of the signalling.
func (tp *testPeer) loop() {
	defer tp.wg.Done()
	for {
		var m *signal.Message
		select {
		case <-tp.done:
			return
		case m = <-tp.msgs:
		}
		switch m.Type {
		case signal.TypeAnswer:
			if err := tp.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				tp.t.Errorf("%s: set pub answer: %v", tp.id, err)
			}
		case signal.TypeOffer:
			tp.handleSubOffer(m)
		case signal.TypeCandidate:
			tp.mu.Lock()
			pc := tp.sub
			tp.mu.Unlock()
			if m.PC == signal.PCPub {
				pc = tp.pub
			}
			c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex}
			if err := pc.AddICECandidate(c); err != nil {
				tp.t.Errorf("%s: add %s candidate: %v", tp.id, m.PC, err)
			}
		case signal.TypeSpeakers:
			tp.mu.Lock()
			tp.speakers = append(tp.speakers, m.Speakers)
			tp.mu.Unlock()
		default:
			tp.t.Errorf("%s: unexpected message %+v", tp.id, m)
		}
	}
}

func (tp *testPeer) handleSubOffer(m *signal.Message) {
	tp.mu.Lock()
	pc := tp.sub
	tp.subTracks = m.Tracks
	tp.offers++
	tp.mu.Unlock()
	if pc == nil {
		var err error
		pc, err = tp.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			tp.t.Errorf("%s: new sub pc: %v", tp.id, err)
			return
		}
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			j := c.ToJSON()
			if err := tp.part.Handle(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCSub,
				Candidate: &signal.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}}); err != nil && !isClosed(err) {
				tp.t.Errorf("%s: send sub candidate: %v", tp.id, err)
			}
		})
		pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) { tp.receive(pc, tr, r) })
		tp.mu.Lock()
		tp.sub = pc
		tp.mu.Unlock()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		tp.t.Errorf("%s: set sub offer: %v", tp.id, err)
		return
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		tp.t.Errorf("%s: sub answer: %v", tp.id, err)
		return
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		tp.t.Errorf("%s: set sub answer: %v", tp.id, err)
		return
	}
	if debugCands {
		tp.t.Logf("%s: offer ufrag %s answer ufrag %s local %s", tp.id, ufrag(m.SDP), ufrag(ans.SDP), ufrag(pc.LocalDescription().SDP))
	}
	if err := tp.part.Handle(&signal.Message{Type: signal.TypeAnswer, PC: signal.PCSub, SDP: ans.SDP}); err != nil && !isClosed(err) {
		tp.t.Errorf("%s: handle sub answer: %v", tp.id, err)
	}
}

func isClosed(err error) bool { return err != nil && strings.Contains(err.Error(), ErrClosed.Error()) }

// receive counts one remote track's packets.
func (tp *testPeer) receive(pc *webrtc.PeerConnection, tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mid := ""
	for _, x := range pc.GetTransceivers() {
		if x.Receiver() == r {
			mid = x.Mid()
		}
	}
	buf := make([]byte, 1500)
	var cur *recvTrack
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		tp.mu.Lock()
		info, ok := tp.subTracks[mid]
		if ok && (cur == nil || cur.info.ID != info.ID) {
			cur = tp.recv[info.ID]
			if cur == nil {
				cur = &recvTrack{info: info, mid: mid, layers: map[byte]int{}}
				tp.recv[info.ID] = cur
			}
		}
		if cur != nil {
			cur.ssrc = pkt.SSRC
			cur.packets++
			cur.seqs = append(cur.seqs, pkt.SequenceNumber)
			cur.lastTS = pkt.Timestamp
			cur.tss = append(cur.tss, pkt.Timestamp)
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				var d vp8Desc
				if parseVP8(pkt.Payload, &d) == nil {
					if d.keyframe {
						cur.keyframes++
					}
					cur.pids = append(cur.pids, d.pid)
					if len(pkt.Payload) > int(d.descLength)+10 {
						cur.lastLayer = pkt.Payload[int(d.descLength)+10]
						cur.layers[cur.lastLayer]++
					}
				}
			}
		}
		tp.mu.Unlock()
	}
}

// received returns a copy of what tp received on tracks published by participant from.
func (tp *testPeer) received(from, kind string) (recvTrack, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, r := range tp.recv {
		if r.info.Participant == from && r.info.Kind == kind {
			c := *r
			c.seqs = append([]uint16(nil), r.seqs...)
			c.pids = append([]uint16(nil), r.pids...)
			c.tss = append([]uint32(nil), r.tss...)
			c.layers = map[byte]int{}
			for k, v := range r.layers {
				c.layers[k] = v
			}
			return c, true
		}
	}
	return recvTrack{}, false
}

// offeredTracks returns the latest sub offer's tracks.
func (tp *testPeer) offeredTracks() map[string]signal.Track {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := map[string]signal.Track{}
	for k, v := range tp.subTracks {
		out[k] = v
	}
	return out
}

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ufrag(sdp string) string {
	i := strings.Index(sdp, "a=ice-ufrag:")
	if i < 0 {
		return ""
	}
	return strings.Fields(sdp[i+12:])[0]
}

// debugCands logs candidates and ICE credentials of every negotiation.
var debugCands = false

// testLogLevel is the level of the SFU's logs in tests (debug includes pion's).
var testLogLevel = slog.LevelInfo
