package testnet

import (
	"fmt"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// TestSimulcastLayerSwitch publishes a three-layer camera and has a subscriber ask for the low
// layer, then the high one: each switch brings a keyframe of that layer's size, and the
// received bitrate follows.
func TestSimulcastLayerSwitch(t *testing.T) {
	n := StartNode(t, "simulcast")
	room := n.CreateRoom("Layers")
	pub := n.Join(t, room.ID, "Publisher", client.Publish{Video: true, Simulcast: true})
	sub := n.Join(t, room.ID, "Subscriber", client.Publish{})
	pid := pub.ID()

	var trackID string
	Eventually(t, mediaTimeout, "subscriber receives the camera", func() error {
		tr, ok := FindTrack(sub, pid, signal.SourceCamera)
		if !ok || tr.Keyframes == 0 {
			return fmt.Errorf("no keyframe yet (%s)", DescribeTracks(sub))
		}
		trackID = tr.ID
		return nil
	})

	// switchTo asks for quality and waits for a new keyframe of the wanted width, then measures
	// the bitrate over two seconds.
	switchTo := func(quality string, width, height int) (kbps float64) {
		t.Helper()
		before, _ := FindTrack(sub, pid, signal.SourceCamera)
		if err := sub.SetQuality(trackID, quality); err != nil {
			t.Fatalf("ask for %s: %v", quality, err)
		}
		Eventually(t, 10*time.Second, "a "+quality+" keyframe", func() error {
			tr, ok := FindTrack(sub, pid, signal.SourceCamera)
			if !ok {
				return fmt.Errorf("camera track gone (%s)", DescribeTracks(sub))
			}
			if tr.Keyframes <= before.Keyframes || tr.Width != width || tr.Height != height {
				return fmt.Errorf("keyframes %d (were %d), last %dx%d", tr.Keyframes, before.Keyframes, tr.Width, tr.Height)
			}
			return nil
		})
		// Let the switch settle, then measure.
		time.Sleep(500 * time.Millisecond)
		a, _ := FindTrack(sub, pid, signal.SourceCamera)
		const window = 2 * time.Second
		time.Sleep(window)
		b, _ := FindTrack(sub, pid, signal.SourceCamera)
		if b.Width != width {
			t.Fatalf("after asking for %s the layer changed to %dx%d", quality, b.Width, b.Height)
		}
		kbps = float64(b.Bytes-a.Bytes) * 8 / 1000 / b.LastPacket.Sub(a.LastPacket).Seconds()
		t.Logf("%s layer: %dx%d, %.0f kbit/s, %d keyframes so far", quality, b.Width, b.Height, kbps, b.Keyframes)
		return kbps
	}

	low := switchTo(signal.QualityLow, 320, 180)
	high := switchTo(signal.QualityHigh, 1280, 720)
	// The clips are encoded at 150 and 2000 kbit/s.
	if low < 50 || low > 400 {
		t.Errorf("low layer at %.0f kbit/s, want about 150", low)
	}
	if high < 4*low {
		t.Errorf("high layer at %.0f kbit/s is not well above the low layer's %.0f", high, low)
	}
	mid := switchTo(signal.QualityMedium, 640, 360)
	if mid <= low || mid >= high {
		t.Errorf("medium layer at %.0f kbit/s, want between %.0f and %.0f", mid, low, high)
	}
}
