package agent

import (
	"math"
	"testing"
	"time"

	"parley/media/transcribe"
)

// TestGate: a muted microphone and long silences are held back from the engine; speech and
// the second after it go through; the engine's times map back to the speaker's.
func TestGate(t *testing.T) {
	frame := transcribe.SampleRate / 50
	quiet := make([]int16, frame)
	loud := make([]int16, frame)
	for i := range loud {
		loud[i] = int16(5000 * math.Sin(float64(i)/3))
	}
	var g gate
	fed := 0
	feed := func(f []int16, n int) {
		for range n {
			fed += len(g.admit(f)) / frame
		}
	}
	feed(quiet, 150) // 3 s muted
	if fed != 0 {
		t.Fatalf("%d quiet frames went to the engine", fed)
	}
	feed(loud, 50)   // 1 s of speech at 3 s
	feed(quiet, 150) // 3 s of quiet: about a second goes through
	if fed < 105 || fed > 115 {
		t.Fatalf("%d frames fed for 1 s of speech, the 200 ms before and 3 s of quiet, want about 110", fed)
	}
	feed(loud, 10) // speech again at 7 s, 200 ms of quiet before it fed too
	// The engine's 0 s is the speaker's 2.8 s (the onset before the speech at 3 s); the
	// start of its second stretch is 6.8 s.
	if got := g.real(0); got != 2800*time.Millisecond {
		t.Errorf("engine 0 s is the speaker's %v, want 2.8s", got)
	}
	second := time.Duration(fed-20) * 20 * time.Millisecond
	if got := g.real(second + 100*time.Millisecond); got != 6900*time.Millisecond {
		t.Errorf("engine %v is the speaker's %v, want 6.9s", second+100*time.Millisecond, got)
	}
}
