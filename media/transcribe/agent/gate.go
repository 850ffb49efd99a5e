package agent

import (
	"math"
	"time"

	"parley/media/transcribe"
)

// A speaker's audio goes to the engine only while it may hold speech: from the first frame
// louder than gateLevel until gateHold of quiet after the last one (the engine ends its
// utterance within that). A muted microphone (frames of zeros) or a long silence costs no
// recognition, which is most of a meeting for most people. The gate remembers what it held
// back, to put the engine's times back on the speaker's clock.

const (
	gateLevel   = 300.0 // RMS of a 16-bit frame that may be speech
	gateHold    = time.Second
	gatePreRoll = 10 // frames (200 ms) before the first loud one, fed with it: the engine hears the onset
)

// gate decides which frames the engine hears. Used by one goroutine.
type gate struct {
	fed, seen int64 // samples given to the engine, and received
	quiet     int64 // samples since the last loud frame
	open      bool
	marks     []mark    // where feeding resumed after a gap
	pre       [][]int16 // the last quiet frames, while closed
}

// mark says that the engine's sample fed is the speaker's sample seen.
type mark struct{ fed, seen int64 }

// admit returns what of pcm (and of the quiet just before it) goes to the engine: nothing
// while the gate is closed.
func (g *gate) admit(pcm []int16) []int16 {
	n := int64(len(pcm))
	g.seen += n
	loud := rms(pcm) > gateLevel
	switch {
	case loud && !g.open:
		var out []int16
		for _, f := range g.pre {
			out = append(out, f...)
		}
		out = append(out, pcm...)
		g.pre = g.pre[:0]
		g.marks = append(g.marks, mark{fed: g.fed, seen: g.seen - int64(len(out))})
		if len(g.marks) > 4096 {
			g.marks = g.marks[len(g.marks)-4096:]
		}
		g.open, g.quiet = true, 0
		g.fed += int64(len(out))
		return out
	case loud:
		g.quiet = 0
	case g.open:
		g.quiet += n
		if g.quiet > int64(gateHold/time.Millisecond)*transcribe.SampleRate/1000 {
			g.open = false
		}
	}
	if !g.open {
		g.pre = append(g.pre, append([]int16(nil), pcm...))
		if len(g.pre) > gatePreRoll {
			g.pre = g.pre[1:]
		}
		return nil
	}
	g.fed += n
	return pcm
}

// real turns a time of the audio fed to the engine into the speaker's time.
func (g *gate) real(d time.Duration) time.Duration {
	fed := int64(d) * transcribe.SampleRate / int64(time.Second)
	seen := fed
	for i := len(g.marks) - 1; i >= 0; i-- {
		if g.marks[i].fed <= fed {
			seen = g.marks[i].seen + (fed - g.marks[i].fed)
			break
		}
	}
	return time.Duration(seen) * time.Second / transcribe.SampleRate
}

func rms(f []int16) float64 {
	if len(f) == 0 {
		return 0
	}
	var sum float64
	for _, s := range f {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(f)))
}
