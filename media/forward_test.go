package media

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// videoTrackID returns the id of from's camera in tp's latest sub offer.
func videoTrackID(t *testing.T, tp *testPeer, from string) string {
	t.Helper()
	var id string
	eventually(t, 15*time.Second, "a video track in the sub offer", func() bool {
		for _, tr := range tp.offeredTracks() {
			if tr.Participant == from && tr.Kind == "video" {
				id = tr.ID
				return true
			}
		}
		return false
	})
	return id
}

func TestSimulcastLayerSwitch(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := join(t, s, "r", "a")
	b := join(t, s, "r", "b")
	pa := a.publish(false, []string{signal.RIDLow, signal.RIDMedium, signal.RIDHigh})
	// Keyframes only when the SFU asks: switching must go through its keyframe requests.
	a.stream(ctx, pa, -1, 0)
	id := videoTrackID(t, b, "a")

	if err := b.part.Handle(&signal.Message{Type: signal.TypeLayer, Track: id, Quality: signal.QualityLow}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "b on the low layer", func() bool {
		r, ok := b.received("a", "video")
		return ok && r.lastLayer == 'q' && r.layers['q'] > 20
	})
	if err := b.part.Handle(&signal.Message{Type: signal.TypeLayer, Track: id, Quality: signal.QualityHigh}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "b on the high layer", func() bool {
		r, ok := b.received("a", "video")
		return ok && r.lastLayer == 'f' && r.layers['f'] > 20
	})
	r, _ := b.received("a", "video")
	if r.layers['q'] == 0 || r.layers['f'] == 0 {
		t.Errorf("layers received: %v", r.layers)
	}
	// One packet per frame: sequence numbers and picture ids step by one across switches,
	// and timestamps keep increasing.
	for i := 1; i < len(r.seqs); i++ {
		if r.seqs[i] != r.seqs[i-1]+1 {
			t.Errorf("packet %d: sequence %d after %d", i, r.seqs[i], r.seqs[i-1])
		}
		if (r.pids[i]-r.pids[i-1])&0x7fff != 1 {
			t.Errorf("packet %d: picture id %d after %d", i, r.pids[i], r.pids[i-1])
		}
		if d := int32(r.tss[i] - r.tss[i-1]); d <= 0 {
			t.Errorf("packet %d: timestamp %d after %d", i, r.tss[i], r.tss[i-1])
		}
	}
	if r.keyframes < 2 {
		t.Errorf("keyframes = %d, want at least one per layer switched to", r.keyframes)
	}
	a.mu.Lock()
	lowReq, highReq := a.keyRequests[pa.ssrcs["q"]], a.keyRequests[pa.ssrcs["f"]]
	a.mu.Unlock()
	if lowReq == 0 || highReq == 0 {
		t.Errorf("keyframe requests low %d high %d, want both", lowReq, highReq)
	}
	if s.Stats().KeyframeRequests < 2 {
		t.Errorf("KeyframeRequests = %d", s.Stats().KeyframeRequests)
	}
}

func TestNACKRetransmission(t *testing.T) {
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := join(t, s, "r", "a")
	// b accepts a repeated packet, so that a retransmission of one it already has counts.
	b := join(t, s, "r", "b", func(se *webrtc.SettingEngine) { se.DisableSRTPReplayProtection(true) })
	pa := a.publish(false, []string{})
	a.stream(ctx, pa, -1, 25)
	var r recvTrack
	eventually(t, 15*time.Second, "b receives a's video", func() bool {
		var ok bool
		r, ok = b.received("a", "video")
		return ok && r.packets > 10
	})
	seq := r.seqs[len(r.seqs)-3]
	b.mu.Lock()
	sub := b.sub
	b.mu.Unlock()
	nack := &rtcp.TransportLayerNack{MediaSSRC: r.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}
	if err := sub.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the retransmission", func() bool {
		r, _ := b.received("a", "video")
		n := 0
		for _, x := range r.seqs {
			if x == seq {
				n++
			}
		}
		return n >= 2
	})
	if got := s.Stats().NACKsAnswered; got < 1 {
		t.Errorf("NACKsAnswered = %d", got)
	}
	// A NACK for a sequence number never sent is ignored.
	before := s.Stats().NACKsAnswered
	nack = &rtcp.TransportLayerNack{MediaSSRC: r.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq + 30000})}
	if err := sub.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := s.Stats().NACKsAnswered; got != before {
		t.Errorf("NACKsAnswered went from %d to %d for an unknown sequence number", before, got)
	}
}
