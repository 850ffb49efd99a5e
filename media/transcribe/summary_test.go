package transcribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestSummarizeEnglish(t *testing.T) {
	s := Summarize([]Line{
		{Speaker: "Ada", Text: "Good morning everyone. Today we look at the training budget and the new office."},
		{Speaker: "Bob", Text: "The training budget is too small for the regional teams."},
		{Speaker: "Ada", Text: "We agreed to double the training budget next year."},
		{Speaker: "Bob", Text: "I will send the office plans to the regional teams by Friday."},
		{Speaker: "Ada", Text: "Thank you."},
	})
	if s.Language != "en" {
		t.Errorf("language %q", s.Language)
	}
	if len(s.Decisions) != 1 || !strings.HasPrefix(s.Decisions[0], "Ada: We agreed") {
		t.Errorf("decisions %q", s.Decisions)
	}
	if len(s.Actions) != 1 || !strings.HasPrefix(s.Actions[0], "Bob: I will send") {
		t.Errorf("actions %q", s.Actions)
	}
	for _, want := range []string{"training budget", "regional teams"} {
		if !slices.Contains(s.Topics, want) {
			t.Errorf("topics %q lack %q", s.Topics, want)
		}
	}
}

func TestSummarizeFrench(t *testing.T) {
	s := Summarize([]Line{
		{Speaker: "Claire", Text: "Bonjour à tous. Nous parlons aujourd’hui du plan de formation et du déménagement."},
		{Speaker: "Paul", Text: "Le plan de formation doit couvrir les agents des préfectures."},
		{Speaker: "Claire", Text: "Nous avons décidé de lancer le plan de formation en mars."},
		{Speaker: "Paul", Text: "Merci de préparer le calendrier du déménagement d’ici vendredi."},
	})
	if s.Language != "fr" {
		t.Errorf("language %q", s.Language)
	}
	if len(s.Decisions) != 1 || !strings.Contains(s.Decisions[0], "Nous avons décidé") {
		t.Errorf("decisions %q", s.Decisions)
	}
	if len(s.Actions) != 1 || !strings.HasPrefix(s.Actions[0], "Paul: Merci de préparer") {
		t.Errorf("actions %q", s.Actions)
	}
	if !slices.Contains(s.Topics, "formation") && !slices.ContainsFunc(s.Topics, func(t string) bool { return strings.Contains(t, "formation") }) {
		t.Errorf("topics %q lack formation", s.Topics)
	}
	if !slices.ContainsFunc(s.Topics, func(t string) bool { return strings.Contains(t, "déménagement") }) {
		t.Errorf("topics %q lack déménagement", s.Topics)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := Summarize(nil)
	if len(s.Decisions)+len(s.Actions)+len(s.Topics) != 0 || s.Decisions == nil {
		t.Fatalf("%+v", s)
	}
}

// TestSummarizeWithEndpoint: with an endpoint configured the transcript goes to its chat
// completions in the transcript's language, and the model's JSON is the summary; a failing
// endpoint is an error, not a silent local summary.
func TestSummarizeWithEndpoint(t *testing.T) {
	var got struct {
		Model    string `json:"model"`
		Messages []struct{ Role, Content string }
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"{\"decisions\":[\"Lancer le plan en mars\"],\"actions\":[\"Paul : préparer le calendrier\"],\"topics\":[\"formation\"]}"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	lines := []Line{{Speaker: "Claire", Text: "Nous avons décidé de lancer le plan de formation en mars."}}
	s, err := SummarizeWith(context.Background(), SummaryConfig{URL: srv.URL, Model: "mistral"}, lines)
	if err != nil {
		t.Fatal(err)
	}
	if s.Language != "fr" || len(s.Decisions) != 1 || s.Actions[0] != "Paul : préparer le calendrier" || got.Model != "mistral" {
		t.Fatalf("summary %+v, request %+v", s, got)
	}
	if len(got.Messages) != 2 || !strings.Contains(got.Messages[0].Content, "français") || !strings.Contains(got.Messages[1].Content, "Claire: Nous avons décidé") {
		t.Fatalf("messages %+v", got.Messages)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"model loading"}}`, http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if _, err := SummarizeWith(context.Background(), SummaryConfig{URL: down.URL}, lines); !errors.Is(err, ErrEndpoint) || !strings.Contains(err.Error(), "model loading") {
		t.Fatalf("a failing endpoint: %v", err)
	}
}
