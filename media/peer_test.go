package media

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// testLogger routes slog to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: testLogLevel}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
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

// publish sets up the pub connection with a microphone and, if rids is non-nil, a camera
// sent with those simulcast rids (one layer without rid if rids is empty).
type pubTracks struct {
	audio  *webrtc.TrackLocalStaticRTP
	video  []*webrtc.TrackLocalStaticRTP
	rids   []string
	vidMid string
	audMid string
	midID  uint8
	ridID  uint8
	lvlID  uint8
	ssrcs  map[string]uint32 // rid -> ssrc
}

func (tp *testPeer) publish(audio bool, rids []string) *pubTracks {
	t := tp.t
	pc, err := tp.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	tp.pub = pc
	pt := &pubTracks{rids: rids, ssrcs: map[string]uint32{}}
	tracks := map[string]signal.Track{}
	var aSender, vSender *webrtc.RTPSender
	if audio {
		pt.audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", tp.id)
		if aSender, err = pc.AddTrack(pt.audio); err != nil {
			t.Fatal(err)
		}
	}
	if rids != nil {
		if len(rids) == 0 {
			v, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", tp.id)
			pt.video = append(pt.video, v)
		}
		for _, rid := range rids {
			v, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", tp.id, webrtc.WithRTPStreamID(rid))
			pt.video = append(pt.video, v)
		}
		if vSender, err = pc.AddTrack(pt.video[0]); err != nil {
			t.Fatal(err)
		}
		for _, v := range pt.video[1:] {
			if err := vSender.AddEncoding(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		j := c.ToJSON()
		tp.mu.Lock()
		if !tp.pubSent {
			tp.pendingCand = append(tp.pendingCand, j)
			tp.mu.Unlock()
			return
		}
		tp.mu.Unlock()
		tp.sendPubCandidate(j)
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == aSender && aSender != nil {
			pt.audMid = tr.Mid()
			tracks[tr.Mid()] = signal.Track{Source: signal.SourceMic}
		}
		if tr.Sender() == vSender && vSender != nil {
			pt.vidMid = tr.Mid()
			tracks[tr.Mid()] = signal.Track{Source: signal.SourceCamera}
		}
	}
	if err := tp.part.Handle(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: offer.SDP, Tracks: tracks}); err != nil {
		t.Fatalf("%s: pub offer: %v", tp.id, err)
	}
	tp.mu.Lock()
	tp.pubSent = true
	pending := tp.pendingCand
	tp.pendingCand = nil
	tp.mu.Unlock()
	for _, c := range pending {
		tp.sendPubCandidate(c)
	}
	for _, s := range []*webrtc.RTPSender{aSender, vSender} {
		if s == nil {
			continue
		}
		params := s.GetParameters()
		for _, e := range params.HeaderExtensions {
			switch e.URI {
			case sdp.SDESMidURI:
				pt.midID = uint8(e.ID)
			case sdp.SDESRTPStreamIDURI:
				pt.ridID = uint8(e.ID)
			case audioLevelURI:
				pt.lvlID = uint8(e.ID)
			}
		}
	}
	if vSender != nil {
		for _, enc := range vSender.GetParameters().Encodings {
			pt.ssrcs[enc.RID] = uint32(enc.SSRC)
		}
		tp.readPubRTCP(vSender, pt)
	}
	if aSender != nil {
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			for {
				if _, _, err := aSender.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	return pt
}

func (tp *testPeer) sendPubCandidate(j webrtc.ICECandidateInit) {
	if err := tp.part.Handle(&signal.Message{Type: signal.TypeCandidate, PC: signal.PCPub,
		Candidate: &signal.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}}); err != nil && !isClosed(err) {
		tp.t.Errorf("%s: pub candidate: %v", tp.id, err)
	}
}

// readPubRTCP records the keyframe requests the SFU sends for each layer.
func (tp *testPeer) readPubRTCP(s *webrtc.RTPSender, pt *pubTracks) {
	rids := pt.rids
	if len(rids) == 0 {
		rids = []string{""}
	}
	for _, rid := range rids {
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			for {
				var pkts []rtcp.Packet
				var err error
				if rid == "" {
					pkts, _, err = s.ReadRTCP()
				} else {
					pkts, _, err = s.ReadSimulcastRTCP(rid)
				}
				if err != nil {
					return
				}
				for _, p := range pkts {
					var ssrc uint32
					switch p := p.(type) {
					case *rtcp.PictureLossIndication:
						ssrc = p.MediaSSRC
					case *rtcp.FullIntraRequest:
						ssrc = p.MediaSSRC
					default:
						continue
					}
					tp.mu.Lock()
					tp.keyRequests[ssrc]++
					tp.wantKey[ssrc] = true
					tp.mu.Unlock()
				}
			}
		}()
	}
}

// vp8Frame builds a one-packet VP8 frame: payload descriptor with a 15-bit picture id, VP8
// payload header (keyframe or not), and a tag byte naming the layer at offset 10 after the
// descriptor.
func vp8Frame(pid uint16, key bool, tag byte, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x90 // X, S, PID 0
	b[1] = 0x80 // I
	b[2] = 0x80 | byte(pid>>8)&0x7f
	b[3] = byte(pid)
	h := b[4:]
	if key {
		h[0] = 0x10
		copy(h[3:], []byte{0x9d, 0x01, 0x2a})
	} else {
		h[0] = 0x11
	}
	h[10] = tag
	return b
}

// stream sends 50 packets/s of audio and 25 frames/s per video layer until ctx ends.
// Keyframes go out on the first frame, every keyEvery frames (0: never again), and when the
// SFU asked for one.
func (tp *testPeer) stream(ctx context.Context, pt *pubTracks, level int, keyEvery int) {
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var aseq uint16
		var ats uint32
		vseq := make([]uint16, len(pt.video))
		var vts uint32
		var pid uint16
		frame := 0
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tp.done:
				return
			case <-tick.C:
			}
			if pt.audio != nil {
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: ats, PayloadType: 111}, Payload: make([]byte, 80)}
				if pt.lvlID != 0 && level >= 0 {
					_ = p.Header.SetExtension(pt.lvlID, []byte{byte(level)})
				}
				aseq++
				ats += 960
				_ = pt.audio.WriteRTP(p)
			}
			if i%2 != 0 || len(pt.video) == 0 {
				continue
			}
			vts += 3600
			pid++
			for li, v := range pt.video {
				rid := v.RID()
				key := frame == 0 || (keyEvery > 0 && frame%keyEvery == 0)
				tp.mu.Lock()
				if tp.wantKey[pt.ssrcs[rid]] {
					tp.wantKey[pt.ssrcs[rid]] = false
					key = true
				}
				tp.mu.Unlock()
				tag := byte('x')
				if rid != "" {
					tag = rid[0]
				}
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: vseq[li], Timestamp: vts, PayloadType: 96, Marker: true},
					Payload: vp8Frame(pid+uint16(li)*1000, key, tag, 300+li*200)}
				vseq[li]++
				if rid != "" {
					_ = p.Header.SetExtension(pt.midID, []byte(pt.vidMid))
					_ = p.Header.SetExtension(pt.ridID, []byte(rid))
				}
				_ = v.WriteRTP(p)
			}
			frame++
		}
	}()
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

func webrtcConfig() webrtc.Configuration { return webrtc.Configuration{} }

// pionOfferWithAudio returns an offer sending one audio track.
func pionOfferWithAudio(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// debugCands logs candidates and ICE credentials of every negotiation.
var debugCands = false

// testLogLevel is the level of the SFU's logs in tests (debug includes pion's).
var testLogLevel = slog.LevelInfo

func ufrag(sdp string) string {
	i := strings.Index(sdp, "a=ice-ufrag:")
	if i < 0 {
		return ""
	}
	return strings.Fields(sdp[i+12:])[0]
}
