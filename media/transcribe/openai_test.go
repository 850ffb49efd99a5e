package transcribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// whisperServer answers /v1/audio/transcriptions as faster-whisper and whisper.cpp servers
// do: a multipart upload in, verbose_json with segments out. It cannot hear, so it says
// how long each upload is: "heard N ms".
type whisperServer struct {
	t       *testing.T
	key     string
	fail    string // when set, answer 503 with this error message
	mu      sync.Mutex
	uploads []upload
}

type upload struct {
	model, language, format string
	samples                 int
}

func (s *whisperServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/audio/transcriptions" || r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if s.key != "" && r.Header.Get("Authorization") != "Bearer "+s.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`)
		return
	}
	if s.fail != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error"}}`, s.fail)
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		http.Error(w, `{"error":{"message":"not multipart"}}`, http.StatusBadRequest)
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, `{"error":{"message":"no file"}}`, http.StatusBadRequest)
		return
	}
	pcm, err := ReadWAV(f)
	if err != nil {
		http.Error(w, `{"error":{"message":"unreadable audio"}}`, http.StatusBadRequest)
		return
	}
	u := upload{model: r.FormValue("model"), language: r.FormValue("language"), format: r.FormValue("response_format"), samples: len(pcm)}
	s.mu.Lock()
	s.uploads = append(s.uploads, u)
	s.mu.Unlock()
	dur := float64(len(pcm)) / SampleRate
	half := dur / 2
	_ = json.NewEncoder(w).Encode(map[string]any{
		"task": "transcribe", "language": "english", "duration": dur,
		"text": fmt.Sprintf(" heard %d ms", len(pcm)/16),
		"segments": []map[string]any{
			{"id": 0, "seek": 0, "start": 0.0, "end": half, "text": fmt.Sprintf(" heard %d ms", len(pcm)/16), "no_speech_prob": 0.01},
			{"id": 1, "seek": 0, "start": half, "end": dur, "text": "  ", "no_speech_prob": 0.9},
		},
	})
}

func startWhisper(t *testing.T, s *whisperServer) string {
	t.Helper()
	s.t = t
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOpenAITranscribe: a recording is uploaded as WAV with the model, the language and
// verbose_json; the answer's segments come back, empty ones dropped.
func TestOpenAITranscribe(t *testing.T) {
	s := &whisperServer{key: "k-123"}
	url := startWhisper(t, s)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("k-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := Open(Config{Engine: "openai", URL: url, Model: "large-v3", APIKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	segs, err := e.Transcribe(context.Background(), sine(2*SampleRate, SampleRate, 300), "fr-FR")
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 1 || segs[0].Text != "heard 2000 ms" || segs[0].End != time.Second || !segs[0].Final {
		t.Fatalf("segments %+v", segs)
	}
	if u := s.uploads[0]; u.model != "large-v3" || u.language != "fr" || u.format != "verbose_json" || u.samples != 2*SampleRate {
		t.Fatalf("upload %+v", u)
	}
}

// TestOpenAIStream: live audio is cut at pauses and each utterance transcribed with its
// place in the stream.
func TestOpenAIStream(t *testing.T) {
	s := &whisperServer{}
	e, err := Open(Config{Engine: "openai", URL: startWhisper(t, s) + "/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := e.Stream("en")
	silence := make([]int16, SampleRate)
	var segs []Segment
	for _, part := range [][]int16{silence, sine(SampleRate, SampleRate, 300), silence, sine(SampleRate/2, SampleRate, 300)} {
		got, err := st.Write(part)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, got...)
	}
	rest, err := st.Close()
	if err != nil {
		t.Fatal(err)
	}
	segs = append(segs, rest...)
	if len(segs) != 2 {
		t.Fatalf("%d segments, want one per utterance: %+v", len(segs), segs)
	}
	if segs[0].Start < 780*time.Millisecond || segs[0].Start > time.Second || segs[1].Start < 2780*time.Millisecond || segs[1].Start > 3*time.Second {
		t.Fatalf("segments at %v and %v, want just before 1 s and 3 s", segs[0].Start, segs[1].Start)
	}
}

// TestOpenAIFailures: what goes wrong at the endpoint comes back as ErrEndpoint with what
// it said, so it can be shown to moderators.
func TestOpenAIFailures(t *testing.T) {
	s := &whisperServer{fail: "model large-v3 is not loaded"}
	url := startWhisper(t, s)
	e, _ := Open(Config{Engine: "openai", URL: url})
	_, err := e.Transcribe(context.Background(), sine(SampleRate, SampleRate, 300), "")
	if !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), "model large-v3 is not loaded") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a failing endpoint: %v", err)
	}
	s.fail, s.key = "", "secret"
	if _, err = e.Transcribe(context.Background(), sine(SampleRate, SampleRate, 300), ""); !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), "Incorrect API key") {
		t.Fatalf("a refused key: %v", err)
	}
	notAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>proxy login</html>") }))
	defer notAPI.Close()
	e2, _ := Open(Config{Engine: "openai", URL: notAPI.URL})
	if _, err = e2.Transcribe(context.Background(), sine(SampleRate, SampleRate, 300), ""); !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), "not a verbose_json") {
		t.Fatalf("an answer that is no transcription: %v", err)
	}
	if _, err := Open(Config{Engine: "openai", URL: "ftp://x"}); err == nil {
		t.Fatal("an ftp URL was taken")
	}
	if _, err := Open(Config{Engine: "whisperx"}); !errors.Is(err, ErrUnknownEngine) {
		t.Fatalf("an unknown engine: %v", err)
	}
}

func FuzzParseVerbose(f *testing.F) {
	f.Add([]byte(`{"text":" hi","duration":1.5,"segments":[{"start":0,"end":1.5,"text":" hi"}]}`))
	f.Add([]byte(`{"text":"x","segments":[{"start":-5,"end":1e300,"text":"y"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := parseVerbose(data, time.Second)
		for _, s := range segs {
			if err != nil || s.Start < time.Second || s.End < s.Start || s.Text == "" {
				t.Fatalf("segment %+v (err %v)", s, err)
			}
		}
	})
}
