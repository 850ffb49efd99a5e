package transcribe

import (
	"math"
	"time"
)

// Voice activity detection by energy, for engines that take whole utterances: a 20 ms frame
// is speech when its level stands well above the noise floor the detector keeps learning.

const (
	vadFrame    = SampleRate / 50 // 20 ms
	vadHangover = 30              // frames of quiet (600 ms) that end an utterance
	vadPreRoll  = 10              // frames (200 ms) kept before speech starts
	vadMinLevel = 300.0           // RMS below which nothing is speech, whatever the floor
	vadRatio    = 3.0             // speech is this many times the noise floor
	vadMaxUtter = 15 * time.Second
)

// vad cuts a stream of samples into utterances.
type vad struct {
	floor   float64 // running noise RMS
	pending []int16 // samples not yet a whole frame
	pre     []int16 // the last frames of quiet, kept to start an utterance with
	utter   []int16 // the utterance going on
	start   int64   // sample offset of utter's first sample
	pos     int64   // samples consumed
	quiet   int     // frames of quiet since the last speech in utter
	inside  bool
}

// utterance is a stretch of speech and where it starts in the stream.
type utterance struct {
	pcm   []int16
	start int64 // sample offset
}

// write consumes samples and returns the utterances they ended.
func (v *vad) write(pcm []int16) []utterance {
	var out []utterance
	v.pending = append(v.pending, pcm...)
	for len(v.pending) >= vadFrame {
		frame := v.pending[:vadFrame]
		if u, ok := v.frame(frame); ok {
			out = append(out, u)
		}
		v.pending = v.pending[vadFrame:]
	}
	v.pending = append([]int16(nil), v.pending...)
	return out
}

// flush ends the utterance going on, if any.
func (v *vad) flush() (utterance, bool) {
	if !v.inside || len(v.utter) == 0 {
		return utterance{}, false
	}
	u := utterance{pcm: v.utter, start: v.start}
	v.utter, v.inside, v.quiet = nil, false, 0
	return u, true
}

func (v *vad) frame(f []int16) (utterance, bool) {
	level := rms(f)
	speech := level > vadMinLevel && (v.floor == 0 || level > v.floor*vadRatio)
	if !speech {
		// The floor follows quiet quickly down and slowly up.
		if v.floor == 0 || level < v.floor {
			v.floor = level
		} else {
			v.floor += (level - v.floor) * 0.02
		}
	}
	v.pos += int64(len(f))
	if !v.inside {
		v.pre = append(v.pre, f...)
		if len(v.pre) > vadPreRoll*vadFrame {
			v.pre = v.pre[len(v.pre)-vadPreRoll*vadFrame:]
		}
		if speech {
			v.inside, v.quiet = true, 0
			v.utter = append([]int16(nil), v.pre...)
			v.start = v.pos - int64(len(v.pre))
			v.pre = v.pre[:0]
		}
		return utterance{}, false
	}
	v.utter = append(v.utter, f...)
	if speech {
		v.quiet = 0
	} else {
		v.quiet++
	}
	if v.quiet >= vadHangover || len(v.utter) >= int(vadMaxUtter/time.Second)*SampleRate {
		return v.flush()
	}
	return utterance{}, false
}

func rms(f []int16) float64 {
	var sum float64
	for _, s := range f {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(f)))
}

// samplesToDuration is the duration of n samples at SampleRate.
func samplesToDuration(n int64) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}
