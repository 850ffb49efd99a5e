package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTranscribeCommand: `parley transcribe` sends a WAV file to the engine named on the
// command line and prints its timestamped lines, in text, WebVTT or Markdown; what it cannot
// read or reach it says plainly.
func TestTranscribeCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/transcriptions" || r.ParseMultipartForm(1<<20) != nil || r.FormValue("language") != "fr" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"text": "x", "duration": 3.0, "segments": []map[string]any{
			{"start": 0.5, "end": 1.5, "text": " Nous avons décidé de commencer."},
			{"start": 2.0, "end": 3.0, "text": " Merci de préparer le budget."},
		}})
	}))
	defer srv.Close()
	dir := t.TempDir()
	wav := filepath.Join(dir, "point.wav")
	// A second of 16 kHz silence.
	hdr := "RIFF\x44\x7d\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x7d\x00\x00"
	if err := os.WriteFile(wav, append([]byte(hdr), make([]byte, 32000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"transcribe", "--engine", "openai", "--url", srv.URL, "--language", "fr"}
	code, out, errOut := runCmd(append(base, "--summary", wav)...)
	if code != 0 || !strings.Contains(out, "[00:00:00] Nous avons décidé de commencer.\n[00:00:02] Merci de préparer le budget.\n") ||
		!strings.Contains(out, "Décisions:\n  - Nous avons décidé de commencer.") {
		t.Fatalf("text: %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ = runCmd(append(base, "--format", "vtt", wav)...); code != 0 || !strings.Contains(out, "00:00:00.500 --> 00:00:02.000\nNous avons décidé") {
		t.Fatalf("vtt: %d\n%s", code, out)
	}
	if code, out, _ = runCmd(append(base, "--format", "md", wav)...); code != 0 || !strings.HasPrefix(out, "# point\n") {
		t.Fatalf("md: %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(base, filepath.Join(dir, "missing.wav")), "no such file"},
		{append(base, "--format", "pdf", wav), `--format "pdf"`},
		{append(base, os.Args[0]), "a .wav (PCM) or .ogg (Opus) file"},
		{[]string{"transcribe", "--engine", "whisperx", wav}, "unknown transcription engine"},
		{[]string{"transcribe", "--engine", "openai", "--url", srv.URL + "/nowhere", "--language", "fr", wav}, "transcription endpoint"},
		{[]string{"transcribe"}, "give the recording"},
	} {
		code, _, errOut := runCmd(c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want an error with %q", c.args[1:], code, errOut, c.want)
		}
	}
}
