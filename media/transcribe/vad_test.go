package transcribe

import (
	"testing"
	"time"
)

// TestVADCutsUtterances: two tones separated by a second of near silence come out as two
// utterances, each starting up to 200 ms before its tone and ending after 600 ms of quiet.
func TestVADCutsUtterances(t *testing.T) {
	quiet := func(d time.Duration) []int16 {
		out := make([]int16, int(d.Seconds()*SampleRate))
		for i := range out {
			out[i] = int16(i%7 - 3) // a faint hiss, far below speech
		}
		return out
	}
	tone := func(d time.Duration) []int16 { return sine(int(d.Seconds()*SampleRate), SampleRate, 300) }
	var audio []int16
	audio = append(audio, quiet(time.Second)...)
	audio = append(audio, tone(800*time.Millisecond)...)
	audio = append(audio, quiet(time.Second)...)
	audio = append(audio, tone(500*time.Millisecond)...)
	audio = append(audio, quiet(300*time.Millisecond)...)

	var v vad
	var got []utterance
	for i := 0; i < len(audio); i += 1000 { // fed in uneven pieces
		got = append(got, v.write(audio[i:min(i+1000, len(audio))])...)
	}
	if u, ok := v.flush(); ok {
		got = append(got, u)
	}
	if len(got) != 2 {
		t.Fatalf("%d utterances, want 2", len(got))
	}
	for i, want := range []time.Duration{time.Second, 2800 * time.Millisecond} {
		start := samplesToDuration(got[i].start)
		if start > want || start < want-220*time.Millisecond {
			t.Errorf("utterance %d starts at %v, want just before %v", i, start, want)
		}
	}
}
