package media

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

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
	// Packets written by stream, by kind.
	audioSent, videoSent atomic.Uint64
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
				pt.audioSent.Add(1)
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
				pt.videoSent.Add(1)
			}
			frame++
		}
	}()
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
