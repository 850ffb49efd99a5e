package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"parley/media/transcribe"
)

// The caption benchmark (parley bench transcribe): N speakers' live audio fed in real time,
// 20 ms at a time, each to its own stream of the speech engine, as the transcriber agent
// does. It reports the engine's real-time factor (CPU seconds per second of audio and
// stream), how many such streams a core sustains, the caption latency (from the end of a
// sentence to its final caption, p50 and p99) and the word error rate.

// TranscribeSentences are what the benchmark's speakers say (espeak-ng, US English).
var TranscribeSentences = []string{
	"Good morning everyone, thank you for joining the meeting.",
	"We need to decide the budget for next year.",
	"Please send me the report before Friday.",
	"The project is on time and the tests pass.",
	"Let us meet again next week at ten.",
	"I agree with the proposal from the ministry.",
}

// TranscribeConfig sets up the caption benchmark.
type TranscribeConfig struct {
	Streams int               // concurrent speakers; default 1
	Engine  transcribe.Config // the engine; default the embedded one
}

// TranscribeResult is what the caption benchmark measured.
type TranscribeResult struct {
	Streams        int
	Engine         string
	AudioSeconds   float64 // of one stream
	CPUSeconds     float64 // of this process while the streams ran
	RTF            float64 // CPU seconds per second of audio, per stream
	StreamsPerCore float64 // 1 / RTF
	Finals         int     // final captions, every stream
	LatencyP50     time.Duration
	LatencyP99     time.Duration
	WER            float64 // stream 0's captions against the sentences
}

func (r TranscribeResult) String() string {
	return fmt.Sprintf("engine %s, %d streams of %.1f s: real-time factor %.3f per stream (%.1f streams per core); "+
		"caption latency from end of speech p50 %v, p99 %v (%d final captions); word error rate %.2f",
		r.Engine, r.Streams, r.AudioSeconds, r.RTF, r.StreamsPerCore, r.LatencyP50.Round(time.Millisecond),
		r.LatencyP99.Round(time.Millisecond), r.Finals, r.WER)
}

// speechAudio has espeak-ng say the sentences, a second and a half of quiet before each, and
// returns the 16 kHz audio and where each sentence ends in it.
func speechAudio(sentences []string) ([]int16, []time.Duration, error) {
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		return nil, nil, errors.New("the caption benchmark speaks with espeak-ng: install it (Debian package espeak-ng)")
	}
	dir, err := os.MkdirTemp("", "parley-bench-speech")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	var audio []int16
	var ends []time.Duration
	for i, s := range sentences {
		path := filepath.Join(dir, fmt.Sprintf("s%d.wav", i))
		if out, err := exec.Command(bin, "-v", "en-us", "-s", "165", "-w", path, s).CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("espeak-ng: %v: %s", err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		pcm, err := transcribe.ReadWAV(bytes.NewReader(data))
		if err != nil {
			return nil, nil, err
		}
		audio = append(audio, make([]int16, transcribe.SampleRate*3/2)...)
		audio = append(audio, pcm...)
		ends = append(ends, time.Duration(len(audio))*time.Second/transcribe.SampleRate)
	}
	audio = append(audio, make([]int16, transcribe.SampleRate*3/2)...)
	return audio, ends, nil
}

// Transcribe runs the caption benchmark.
func Transcribe(ctx context.Context, cfg TranscribeConfig) (TranscribeResult, error) {
	n := max(cfg.Streams, 1)
	audio, ends, err := speechAudio(TranscribeSentences)
	if err != nil {
		return TranscribeResult{}, err
	}
	engine, err := transcribe.Open(cfg.Engine)
	if err != nil {
		return TranscribeResult{}, err
	}
	defer engine.Close()
	res := TranscribeResult{Streams: n, Engine: engine.Name(), AudioSeconds: float64(len(audio)) / transcribe.SampleRate}

	const chunk = transcribe.SampleRate / 50 // 20 ms
	var mu sync.Mutex
	var latencies []time.Duration
	var heard []string
	var firstErr error
	cpu0, err := procCPU(os.Getpid())
	if err != nil {
		return res, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for s := range n {
		st, err := engine.Stream("en")
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each stream starts a little later than the last, as speakers do.
			begin := start.Add(time.Duration(s) * 37 * time.Millisecond)
			take := func(segs []transcribe.Segment, at time.Time) {
				mu.Lock()
				defer mu.Unlock()
				for _, g := range segs {
					if !g.Final {
						continue
					}
					res.Finals++
					// The sentence this caption ends: the last whose end it is past.
					i, _ := slices.BinarySearch(ends, g.End)
					i = min(i, len(ends)-1)
					if i > 0 && ends[i]-g.End > g.End-ends[i-1] {
						i--
					}
					latencies = append(latencies, at.Sub(begin.Add(ends[i])))
					if s == 0 {
						heard = append(heard, g.Text)
					}
				}
			}
			for i := 0; i < len(audio); i += chunk {
				due := begin.Add(time.Duration(i+chunk) * time.Second / transcribe.SampleRate)
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				segs, err := st.Write(audio[i:min(i+chunk, len(audio))])
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				take(segs, time.Now())
			}
			segs, err := st.Close()
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
			take(segs, time.Now())
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if firstErr != nil {
		return res, firstErr
	}
	cpu1, err := procCPU(os.Getpid())
	if err != nil {
		return res, err
	}
	res.CPUSeconds = (cpu1 - cpu0).Seconds()
	res.RTF = res.CPUSeconds / (res.AudioSeconds * float64(n))
	if res.RTF > 0 {
		res.StreamsPerCore = 1 / res.RTF
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		res.LatencyP50 = latencies[len(latencies)/2]
		res.LatencyP99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	}
	res.WER = transcribe.WER(strings.Join(TranscribeSentences, " "), strings.Join(heard, " "))
	return res, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
