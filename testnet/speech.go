//go:build pocketsphinx && libopus

package testnet

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"parley/media/transcribe"
)

// SpeechSentences are what test speakers say (espeak-ng's US English voice at 165 words a
// minute); PocketSphinx reached a word error rate of 0.46 on them read from WAV files.
var SpeechSentences = []string{
	"We need to decide the budget for next year.",
	"I agree with the proposal from the ministry.",
	"Good morning everyone, thank you for joining the meeting.",
}

// Speak has espeak-ng say text and returns it as 48 kHz mono samples, with pause of silence
// before and after.
func Speak(t testing.TB, pauseMS int, text string) []int16 {
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
	pcm, err := transcribe.ReadWAV(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	pause := make([]int16, pauseMS*48)
	out := append(append([]int16(nil), pause...), transcribe.Resample(pcm, transcribe.SampleRate, 48000)...)
	return append(out, pause...)
}

// OpusSpeech encodes 48 kHz samples as 20 ms Opus packets at 32 kbit/s, as a browser's
// microphone sends them.
func OpusSpeech(t testing.TB, pcm []int16) [][]byte {
	t.Helper()
	enc, err := transcribe.NewOpusEncoder(32000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var out [][]byte
	for i := 0; i+transcribe.OpusFrame <= len(pcm); i += transcribe.OpusFrame {
		p, err := enc.Encode(pcm[i : i+transcribe.OpusFrame])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
