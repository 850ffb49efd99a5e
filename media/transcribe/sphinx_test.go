//go:build pocketsphinx

package transcribe

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSentences are read by espeak-ng's US English voice at 165 words a minute.
var testSentences = []string{
	"Good morning everyone, thank you for joining the meeting.",
	"We need to decide the budget for next year.",
	"Please send me the report before Friday.",
	"The project is on time and the tests pass.",
	"Let us meet again next week at ten.",
	"I agree with the proposal from the ministry.",
}

// maxSphinxWER is the word error rate the embedded engine must stay under on testSentences:
// it measured 0.52 on them (espeak-ng 1.51, pocketsphinx 5prealpha, Debian 12; 0.46 without
// the search bounds that let captions keep up).
const maxSphinxWER = 0.6

// speak has espeak-ng say text into 16 kHz mono samples.
func speak(t *testing.T, text string) []int16 {
	t.Helper()
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("espeak-ng is not installed (Debian package espeak-ng; scripts/test.sh installs it)")
		}
		t.Skip("espeak-ng is not installed")
	}
	path := filepath.Join(t.TempDir(), "speech.wav")
	if out, err := exec.Command(bin, "-v", "en-us", "-s", "165", "-w", path, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := ReadWAV(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

func openSphinxForTest(t *testing.T) Engine {
	t.Helper()
	e, err := Open(Config{Engine: "pocketsphinx"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// TestSphinxTranscribe: the embedded engine recognises espeak-ng's sentences with a word
// error rate under maxSphinxWER, and its segments lie inside the audio, in order.
func TestSphinxTranscribe(t *testing.T) {
	e := openSphinxForTest(t)
	var refs, hyps []string
	for _, s := range testSentences {
		pcm := speak(t, s)
		segs, err := e.Transcribe(context.Background(), pcm, "en")
		if err != nil {
			t.Fatal(err)
		}
		var words []string
		var last time.Duration
		for _, g := range segs {
			if !g.Final || g.Start < last || g.End < g.Start || g.End > samplesToDuration(int64(len(pcm)))+100*time.Millisecond {
				t.Errorf("%q: segment %+v out of place", s, g)
			}
			last = g.End
			words = append(words, g.Text)
		}
		refs, hyps = append(refs, s), append(hyps, strings.Join(words, " "))
		t.Logf("%q -> %q (WER %.2f)", s, strings.Join(words, " "), WER(s, strings.Join(words, " ")))
	}
	wer := WER(strings.Join(refs, " "), strings.Join(hyps, " "))
	t.Logf("word error rate over %d sentences: %.2f", len(refs), wer)
	if wer > maxSphinxWER {
		t.Errorf("word error rate %.2f, want at most %.2f", wer, maxSphinxWER)
	}
}

// TestSphinxStream: fed live in 20 ms pieces with pauses between sentences, the engine gives
// interim guesses while a sentence goes on and one final segment per sentence, at its place
// in the stream.
func TestSphinxStream(t *testing.T) {
	e := openSphinxForTest(t)
	st, err := e.Stream("en-US")
	if err != nil {
		t.Fatal(err)
	}
	pause := make([]int16, SampleRate)
	var audio []int16
	var starts []time.Duration
	for _, s := range testSentences[:3] {
		audio = append(audio, pause...)
		starts = append(starts, samplesToDuration(int64(len(audio))))
		audio = append(audio, speak(t, s)...)
	}
	audio = append(audio, pause...)
	var finals, interims int
	var got []Segment
	for i := 0; i < len(audio); i += vadFrame {
		segs, err := st.Write(audio[i:min(i+vadFrame, len(audio))])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			if s.Final {
				finals++
				got = append(got, s)
			} else {
				interims++
			}
		}
	}
	rest, err := st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rest {
		finals++
		got = append(got, s)
	}
	if finals != 3 || interims == 0 {
		t.Fatalf("%d final and %d interim segments, want 3 finals and some interims: %+v", finals, interims, got)
	}
	for i, s := range got {
		if d := s.Start - starts[i]; d < -200*time.Millisecond || d > 800*time.Millisecond {
			t.Errorf("sentence %d found at %v, spoken at %v", i, s.Start, starts[i])
		}
	}
}

// TestSphinxLanguages: the embedded model is English; French is refused, not misheard.
func TestSphinxLanguages(t *testing.T) {
	e := openSphinxForTest(t)
	if _, err := e.Stream("fr"); err == nil || !strings.Contains(err.Error(), "US English") {
		t.Fatalf("a French stream: %v", err)
	}
	if _, err := Open(Config{Engine: "pocketsphinx", ModelDir: t.TempDir()}); err == nil {
		t.Fatal("an empty model directory was taken")
	}
}

// BenchmarkSphinxStream measures the embedded engine's real-time factor on espeak-ng's
// sentences fed live in 20 ms pieces, with a second of quiet between them.
func BenchmarkSphinxStream(b *testing.B) {
	t := &testing.T{}
	e, err := Open(Config{Engine: "pocketsphinx"})
	if err != nil {
		b.Fatal(err)
	}
	var audio []int16
	for _, s := range testSentences {
		audio = append(audio, make([]int16, SampleRate)...)
		audio = append(audio, speak(t, s)...)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		st, err := e.Stream("en")
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(audio); i += vadFrame {
			if _, err := st.Write(audio[i:min(i+vadFrame, len(audio))]); err != nil {
				b.Fatal(err)
			}
		}
		_, _ = st.Close()
	}
	rtf := time.Since(start).Seconds() / float64(b.N) / samplesToDuration(int64(len(audio))).Seconds()
	b.ReportMetric(rtf, "rtf")
	b.ReportMetric(1/rtf, "streams/core")
}
