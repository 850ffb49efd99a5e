package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The OpenAI-compatible transcription API, as served by faster-whisper / WhisperX servers,
// whisper.cpp's server and vLLM:
//
//	POST {base}/v1/audio/transcriptions   multipart/form-data
//	  file=<audio.wav>  model=<name>  language=<ISO 639-1>  response_format=verbose_json
//	  timestamp_granularities[]=segment
//	200 {"text": "...", "language": "...", "duration": 8.4,
//	     "segments": [{"start": 0.0, "end": 3.2, "text": " Hello there", ...}, ...]}
//	4xx/5xx {"error": {"message": "...", "type": "...", "code": ...}}

// maxResponse bounds an endpoint's answer.
const maxResponse = 8 << 20

// ErrEndpoint: the transcription endpoint failed or answered something else than a
// transcription; the error says what it said.
var ErrEndpoint = errors.New("transcription endpoint")

type openAI struct {
	endpoint string
	model    string
	key      string
	client   *http.Client
}

func openOpenAI(cfg Config) (Engine, error) {
	if cfg.URL == "" {
		return nil, errors.New("openai engine: url is required (the server that serves /v1/audio/transcriptions)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai engine: url %q is not an http or https URL", cfg.URL)
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	e := &openAI{endpoint: base + "/audio/transcriptions", model: cfg.Model, client: &http.Client{Timeout: cfg.Timeout}}
	if e.model == "" {
		e.model = "whisper-1"
	}
	if e.client.Timeout == 0 {
		e.client.Timeout = 60 * time.Second
	}
	if cfg.APIKeyFile != "" {
		b, err := os.ReadFile(cfg.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("openai engine: read the API key: %w", err)
		}
		e.key = strings.TrimSpace(string(b))
	}
	return e, nil
}

func (e *openAI) Name() string { return "openai" }
func (e *openAI) Close() error { return nil }

// Transcribe uploads the whole recording and returns the endpoint's segments.
func (e *openAI) Transcribe(ctx context.Context, pcm []int16, language string) ([]Segment, error) {
	return e.request(ctx, pcm, language, 0)
}

// Stream cuts the speaker's audio into utterances and transcribes each as it ends: no
// interim guesses, one final segment per utterance.
func (e *openAI) Stream(language string) (Stream, error) {
	return &openAIStream{e: e, language: language}, nil
}

type openAIStream struct {
	e        *openAI
	language string
	vad      vad
}

func (s *openAIStream) Write(pcm []int16) ([]Segment, error) {
	var out []Segment
	for _, u := range s.vad.write(pcm) {
		segs, err := s.e.request(context.Background(), u.pcm, s.language, samplesToDuration(u.start))
		if err != nil {
			return out, err
		}
		out = append(out, segs...)
	}
	return out, nil
}

func (s *openAIStream) Close() ([]Segment, error) {
	u, ok := s.vad.flush()
	if !ok {
		return nil, nil
	}
	return s.e.request(context.Background(), u.pcm, s.language, samplesToDuration(u.start))
}

// request sends pcm and returns its segments, shifted by offset.
func (e *openAI) request(ctx context.Context, pcm []int16, language string, offset time.Duration) ([]Segment, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "audio.wav")
	if err != nil {
		return nil, err
	}
	if err := WriteWAV(fw, pcm, SampleRate); err != nil {
		return nil, err
	}
	fields := [][2]string{{"model", e.model}, {"response_format", "verbose_json"}, {"timestamp_granularities[]", "segment"}}
	if language != "" {
		base, _, _ := strings.Cut(language, "-")
		fields = append(fields, [2]string{"language", strings.ToLower(base)})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrEndpoint, e.endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: read the answer: %v", ErrEndpoint, e.endpoint, err)
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("%w %s: answer over %d bytes", ErrEndpoint, e.endpoint, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &apiErr) == nil && apiErr.Error.Message != "" {
			msg = apiErr.Error.Message
		}
		return nil, fmt.Errorf("%w %s: %s: %s", ErrEndpoint, e.endpoint, resp.Status, clip(msg, 300))
	}
	return parseVerbose(data, offset)
}

// parseVerbose reads a verbose_json answer; one without segments becomes one segment
// spanning its duration.
func parseVerbose(data []byte, offset time.Duration) ([]Segment, error) {
	var v struct {
		Text     *string `json:"text"`
		Duration float64 `json:"duration"`
		Segments []struct {
			Start float64 `json:"start"`
			End   float64 `json:"end"`
			Text  string  `json:"text"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Text == nil {
		return nil, fmt.Errorf("%w: the answer is not a verbose_json transcription: %s", ErrEndpoint, clip(string(data), 200))
	}
	sec := func(f float64) time.Duration {
		if f < 0 || f > 1e6 {
			return 0
		}
		return time.Duration(f * float64(time.Second))
	}
	var out []Segment
	for _, s := range v.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" {
			continue
		}
		start := sec(s.Start)
		out = append(out, Segment{Start: offset + start, End: offset + max(sec(s.End), start), Text: text, Final: true})
	}
	if len(v.Segments) == 0 && strings.TrimSpace(*v.Text) != "" {
		out = append(out, Segment{Start: offset, End: offset + sec(v.Duration), Text: strings.TrimSpace(*v.Text), Final: true})
	}
	return out, nil
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
