//go:build pocketsphinx && libopus

package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"parley/media/client"
	"parley/media/signal"
	"parley/media/transcribe"
	"parley/media/transcribe/agent"
	"parley/node"
	"parley/testnet/bench"
)

// TestTranscriberOnAnotherMachine: a transcriber run apart from the node (`parley transcriber
// run`, here in-process with its own engine) links to the node with a key its config
// trusts, and transcribes the meeting a moderator asks for, the node's own engine (an
// endpoint that only fails) left unused. A key the node does not trust is refused and told
// so. Stopped, the transcriber seals the transcript to the moderators and the node keeps it.
func TestTranscriberOnAnotherMachine(t *testing.T) {
	dir := t.TempDir()
	keyFile, strangerFile := filepath.Join(dir, "transcriber.key"), filepath.Join(dir, "stranger.key")
	pub, err := node.NewTranscriberKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.NewTranscriberKey(strangerFile); err != nil {
		t.Fatal(err)
	}
	if _, err := node.NewTranscriberKey(keyFile); err == nil {
		t.Fatal("init replaced an existing key")
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the node's own engine must not be used", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	n := StartNodeWith(t, "Ministère de la Parole", func(c *node.Config) {
		c.Transcription = &transcribe.Config{Engine: "openai", URL: broken.URL}
		c.Transcribers = []node.TrustedTranscriber{{Name: "gpu-1", Key: pub}}
	})
	engine := transcribe.Config{Engine: "pocketsphinx"}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err = node.RunTranscriber(ctx, node.TranscriberConfig{NodeURL: n.URL(), KeyFile: strangerFile, Transcription: engine})
	cancel()
	if !errors.Is(err, agent.ErrNotTrusted) {
		t.Fatalf("a stranger's transcriber: %v, want ErrNotTrusted", err)
	}

	linked := make(chan struct{}, 4)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- node.RunTranscriber(ctx, node.TranscriberConfig{NodeURL: n.URL(), KeyFile: keyFile, Name: "gpu-1",
			Transcription: engine, OnLinked: func() { linked <- struct{}{} }})
	}()
	defer func() {
		stop()
		<-done
	}()
	select {
	case <-linked:
	case err := <-done:
		t.Fatalf("the transcriber stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the transcriber did not link")
	}
	if got := scrape(t, n, "parley_transcribers_linked"); got != 1 {
		t.Errorf("parley_transcribers_linked = %v, want 1", got)
	}

	room := n.CreateRoom("Ailleurs")
	mod := n.JoinWith(t, client.Config{Room: room.ID, Name: "Claire", Moderator: moderatorToken(t, n, room.ID)})
	ada := n.Join(t, room.ID, "Ada", client.Publish{Audio: true, AudioFrames: OpusSpeech(t, Speak(t, 1500, SpeechSentences[0]))})
	if err := mod.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	agentID := waitAgent(t, mod, room.ID)
	var final client.Caption
	Eventually(t, 90*time.Second, "a final caption of Ada", func() error {
		select {
		case err := <-mod.Errors():
			return fmt.Errorf("the moderator was told %v", err)
		default:
		}
		for _, c := range mod.Captions() {
			if c.Err == nil && c.From == agentID && c.Speaker == ada.ID() && c.Final {
				final = c
				return nil
			}
		}
		return fmt.Errorf("%d captions", len(mod.Captions()))
	})
	wer := transcribe.WER(SpeechSentences[0], final.Text)
	t.Logf("the transcriber on another machine heard %q (WER %.2f)", final.Text, wer)
	if wer > 0.45 {
		t.Errorf("WER %.2f, want at most 0.45", wer)
	}

	if err := mod.Moderate(signal.ActionTranscribeStop, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 30*time.Second, "the transcript kept by the node", func() error {
		resp, err := http.Get(n.URL() + "/api/rooms/" + room.ID + "/transcript?mod=" + url.QueryEscape(moderatorToken(t, n, room.ID)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		r, err := age.Decrypt(bytes.NewReader(body), mod.Identity().AgeIdentity())
		if err != nil {
			return fmt.Errorf("Claire cannot open it: %v", err)
		}
		plain, _ := io.ReadAll(r)
		if !strings.Contains(string(plain), "Ada") {
			return fmt.Errorf("transcript without Ada: %.200s", plain)
		}
		return nil
	})

	// Stopped, the transcriber unlinks and the node counts it gone.
	stop()
	if err := <-done; err != nil {
		t.Errorf("the transcriber stopped with %v", err)
	}
	done <- nil
	Eventually(t, 10*time.Second, "the link gone at the node", func() error {
		if got := scrape(t, n, "parley_transcribers_linked"); got != 0 {
			return fmt.Errorf("parley_transcribers_linked = %v", got)
		}
		return nil
	})
}

// scrape reads one metric of n, summed over its series.
func scrape(t *testing.T, n *TestNode, name string) float64 {
	t.Helper()
	m, err := bench.ScrapeMetrics(n.Node.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	return m.Sum(name)
}
