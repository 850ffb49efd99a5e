package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Summaries by an OpenAI-compatible chat endpoint the operator runs (llama.cpp's server,
// vLLM, Ollama):
//
//	POST {base}/v1/chat/completions
//	  {"model": ..., "temperature": 0, "response_format": {"type": "json_object"},
//	   "messages": [{"role": "system", "content": <instructions>}, {"role": "user", "content": <transcript>}]}
//	200 {"choices": [{"message": {"role": "assistant", "content": "{\"decisions\": [...], ...}"}}]}

// SummaryConfig points at a chat endpoint; with no URL, summaries are made locally.
type SummaryConfig struct {
	URL        string        `json:"url,omitempty"`
	Model      string        `json:"model,omitempty"`
	APIKeyFile string        `json:"api_key_file,omitempty"`
	Timeout    time.Duration `json:"-"` // default 120 s
}

var summaryPrompt = map[string]string{
	"en": `You summarise a meeting transcript. Answer with one JSON object and nothing else: {"decisions": [...], "actions": [...], "topics": [...]}. decisions: what was decided, one sentence each. actions: who does what by when, one sentence each, starting with the person's name. topics: at most five short noun phrases. Write in English. Use only what the transcript says.`,
	"fr": `Vous résumez la transcription d’une réunion. Répondez par un seul objet JSON, sans rien d’autre : {"decisions": [...], "actions": [...], "topics": [...]}. decisions : ce qui a été décidé, une phrase chacune. actions : qui fait quoi et pour quand, une phrase chacune, commençant par le nom de la personne. topics : au plus cinq groupes nominaux courts. Écrivez en français. N’utilisez que ce que dit la transcription.`,
}

// SummarizeWith summarises lines: by cfg's endpoint when it has a URL, else locally
// (Summarize). The endpoint's failures are returned, not replaced by a local summary: the
// moderators are told.
func SummarizeWith(ctx context.Context, cfg SummaryConfig, lines []Line) (Summary, error) {
	if cfg.URL == "" {
		return Summarize(lines), nil
	}
	var transcript strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&transcript, "[%s] %s: %s\n", l.At.Truncate(time.Second), l.Speaker, l.Text)
	}
	lang := DetectLanguage(transcript.String())
	model := cfg.Model
	if model == "" {
		model = "default"
	}
	body, _ := json.Marshal(map[string]any{
		"model": model, "temperature": 0, "response_format": map[string]string{"type": "json_object"},
		"messages": []map[string]string{{"role": "system", "content": summaryPrompt[lang]}, {"role": "user", "content": transcript.String()}},
	})
	base := strings.TrimSuffix(cfg.URL, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	endpoint := base + "/chat/completions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Summary{}, fmt.Errorf("%w %s: %v", ErrEndpoint, cfg.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.APIKeyFile != "" {
		key, err := os.ReadFile(cfg.APIKeyFile)
		if err != nil {
			return Summary{}, fmt.Errorf("summary endpoint: read the API key: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return Summary{}, fmt.Errorf("%w %s: %v", ErrEndpoint, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Summary{}, fmt.Errorf("%w %s: read the answer: %v", ErrEndpoint, endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Summary{}, fmt.Errorf("%w %s: %s: %s", ErrEndpoint, endpoint, resp.Status, clip(strings.TrimSpace(string(data)), 300))
	}
	var chat struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &chat); err != nil || len(chat.Choices) == 0 {
		return Summary{}, fmt.Errorf("%w %s: the answer is not a chat completion: %s", ErrEndpoint, endpoint, clip(string(data), 200))
	}
	content := strings.TrimSpace(chat.Choices[0].Message.Content)
	// Some models wrap JSON in a code fence.
	content = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(content, "```json"), "```"), "```")
	var s Summary
	if err := json.Unmarshal([]byte(content), &s); err != nil {
		return Summary{}, fmt.Errorf("%w %s: the model did not answer with the summary's JSON: %s", ErrEndpoint, endpoint, clip(content, 200))
	}
	s.Language = lang
	for _, list := range []*[]string{&s.Decisions, &s.Actions, &s.Topics} {
		if *list == nil {
			*list = []string{}
		}
		if len(*list) > 50 {
			*list = (*list)[:50]
		}
		for i, item := range *list {
			(*list)[i] = clip(item, 500)
		}
	}
	return s, nil
}
