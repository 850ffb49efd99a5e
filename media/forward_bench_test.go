package media

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// countingWriter stands in for a subscriber's SRTP writer: it checks and counts packets.
type countingWriter struct {
	packets atomic.Uint64
	lastSeq uint16
}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets.Add(1)
	w.lastSeq = h.SequenceNumber
	return 12 + len(payload), nil
}
func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

// forwardRig is an SFU track with n bound subscribers and no sockets.
type forwardRig struct {
	s       *SFU
	up      *upTrack
	layers  []*upLayer
	writers []*countingWriter
}

func newForwardRig(tb testing.TB, video bool, n int) *forwardRig {
	s := &SFU{epoch: time.Now(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	owner := &Participant{sfu: s, id: "pub", done: make(chan struct{}), log: s.log}
	up := &upTrack{sfu: s, owner: owner, id: "t1", video: video, clock: clockAudio, log: s.log,
		kfKick: make(chan struct{}, 1), done: make(chan struct{})}
	up.kind = webrtc.RTPCodecTypeAudio
	if video {
		up.clock = clockVideo
		up.kind = webrtc.RTPCodecTypeVideo
	}
	up.initLists()
	r := &forwardRig{s: s, up: up}
	nl := 1
	if video {
		nl = maxLayers
	}
	for i := range nl {
		l := &upLayer{up: up, idx: i, ssrc: uint32(1000 + i)}
		if video {
			l.cache = newPacketCache()
		}
		up.layers[i].Store(l)
		r.layers = append(r.layers, l)
	}
	for i := range n {
		sub := &Participant{sfu: s, id: "sub"}
		sub.subConnected.Store(true)
		d := newDownTrack(up, sub)
		w := &countingWriter{}
		d.writer, d.ssrc, d.pt, d.bound = w, uint32(5000+i), 96, true
		up.addSub(d)
		r.writers = append(r.writers, w)
	}
	return r
}

// packet marshals one received RTP packet like a browser sends it: mid and rid (or audio
// level) header extensions, then the payload.
func benchPacket(tb testing.TB, video bool, seq uint16, ts uint32, key bool, layer int) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: uint32(1000 + layer), Marker: true}
	var payload []byte
	if video {
		_ = h.SetExtension(4, []byte("1"))
		_ = h.SetExtension(10, []byte{"qhf"[layer]})
		payload = vp8Frame(seq, key, 'f', 1100)
	} else {
		_ = h.SetExtension(1, []byte{0x80 | 30})
		payload = make([]byte, 80)
	}
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestForwardRigSteadyState(t *testing.T) {
	r := newForwardRig(t, true, 5)
	l := r.layers[layerHigh]
	var p rtpPacket
	var ema uint32
	for i := range 100 {
		l.handle(benchPacket(t, true, uint16(i), uint32(i*3000), i == 0, layerHigh), &p, &ema)
	}
	for i, w := range r.writers {
		if w.packets.Load() != 100 || w.lastSeq != 99 {
			t.Errorf("subscriber %d: %d packets, last seq %d", i, w.packets.Load(), w.lastSeq)
		}
	}
	b := benchPacket(t, true, 100, 300000, false, layerHigh)
	seq := uint16(100)
	allocs := testing.AllocsPerRun(200, func() {
		b[2], b[3] = byte(seq>>8), byte(seq)
		seq++
		l.handle(b, &p, &ema)
	})
	if allocs != 0 {
		t.Errorf("forwarding one packet to 5 subscribers allocates %v times", allocs)
	}
	if got := r.s.Stats().ForwardedPackets; got < 500 {
		t.Errorf("ForwardedPackets = %d", got)
	}
}

// BenchmarkForward measures the SFU's own per-packet work for one received video packet
// forwarded to 50 subscribers (parse, keyframe detection, cache, layer selection, munging,
// header build), with SRTP and the socket replaced by a counting writer. ns/op is per
// received packet; ns/pkt is per forwarded packet.
func BenchmarkForward(b *testing.B) {
	for _, video := range []bool{true, false} {
		name := "audio"
		if video {
			name = "video"
		}
		b.Run(name+"/50subs", func(b *testing.B) {
			r := newForwardRig(b, video, 50)
			layer := 0
			if video {
				layer = layerHigh
			}
			l := r.layers[layer]
			var p rtpPacket
			var ema uint32
			l.handle(benchPacket(b, video, 0, 0, true, layer), &p, &ema)
			pkt := benchPacket(b, video, 1, 3000, false, layer)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq := uint16(i + 1)
				pkt[2], pkt[3] = byte(seq>>8), byte(seq)
				l.handle(pkt, &p, &ema)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*50), "ns/pkt")
			if got := r.writers[0].packets.Load(); got < uint64(b.N) {
				b.Fatalf("subscriber got %d of %d packets", got, b.N)
			}
		})
	}
}
