//go:build pocketsphinx && libopus

package testnet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"parley/identity"
	"parley/media/client"
	"parley/media/signal"
	"parley/media/transcribe"
	"parley/media/transcribe/agent"
	"parley/node"
)

// TestTranscriberCaptions: a moderator starts the transcriber; it joins as an agent (its
// certificate says so), hears Ada's microphone (espeak-ng's speech, Opus-encoded) and sends
// captions that name Ada and say her words (word error rate under 0.4; it measured 0.12), interim guesses
// first; the node relays them sealed: no word of them crosses it in clear. Someone who is no
// moderator cannot start it; stopping it takes it out of the meeting.
func TestTranscriberCaptions(t *testing.T) {
	n := StartNode(t, "Ministère de la Parole")
	room := n.CreateRoom("Sous-titres")
	var mu sync.Mutex
	var relayed [][]byte
	mod := n.JoinWith(t, client.Config{Room: room.ID, Name: "Claire", Moderator: moderatorToken(t, n, room.ID),
		OnMessage: func(m *signal.Message) {
			if m.Type == signal.TypeCaption {
				mu.Lock()
				relayed = append(relayed, append([]byte(nil), m.Caption.SFrame...))
				mu.Unlock()
			}
		}})
	var speech []int16
	for _, s := range SpeechSentences[:2] {
		speech = append(speech, Speak(t, 1500, s)...)
	}
	ada := n.Join(t, room.ID, "Ada", client.Publish{Audio: true, AudioFrames: OpusSpeech(t, speech)})

	if err := ada.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "Ada's request refused", func() error { return nodeError(ada, signal.CodeNotAllowed) })

	if err := mod.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	agentID := waitAgent(t, mod, room.ID)

	// Two passes of the clip give each sentence twice; the first final caption of each
	// sentence is scored.
	var finals []client.Caption
	interims := 0
	Eventually(t, 90*time.Second, "final captions of both sentences", func() error {
		finals, interims = finals[:0], 0
		for _, c := range mod.Captions() {
			if c.Err != nil {
				return fmt.Errorf("a caption did not decrypt: %v", c.Err)
			}
			if c.From != agentID || c.Speaker != ada.ID() || c.Name != "Ada" {
				return fmt.Errorf("caption %+v is not the agent's caption of Ada", c)
			}
			if c.Final {
				finals = append(finals, c)
			} else {
				interims++
			}
		}
		if len(finals) < 2 {
			return fmt.Errorf("%d final captions", len(finals))
		}
		return nil
	})
	heard := finals[0].Text + " " + finals[1].Text
	wer := transcribe.WER(strings.Join(SpeechSentences[:2], " "), heard)
	t.Logf("heard %q (WER %.2f, %d interim captions before)", heard, wer, interims)
	if wer > 0.4 {
		t.Errorf("word error rate %.2f over Opus, want at most 0.4", wer)
	}
	if interims == 0 {
		t.Error("no interim caption came before the final ones")
	}
	if finals[1].StartMS <= finals[0].EndMS {
		t.Errorf("the second sentence starts at %d ms, before the first ends (%d ms)", finals[1].StartMS, finals[0].EndMS)
	}
	mu.Lock()
	for _, sf := range relayed {
		for _, w := range transcribe.Words(heard) {
			if len(w) > 3 && bytes.Contains(bytes.ToLower(sf), []byte(w)) {
				t.Errorf("the word %q crossed the node in clear", w)
			}
		}
		if json.Valid(sf) {
			t.Error("a relayed caption is readable JSON")
		}
	}
	mu.Unlock()

	if err := mod.Moderate(signal.ActionTranscribeStop, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "the transcriber gone", func() error {
		for _, p := range mod.Participants() {
			if p.ID == agentID {
				return fmt.Errorf("still there")
			}
		}
		return nil
	})

	// The transcript is kept for the moderators, sealed to them: Claire opens it, nobody
	// else gets it, and the node's copy holds none of its words.
	get := func(query string) (int, []byte) {
		resp, err := http.Get(n.URL() + "/api/rooms/" + room.ID + "/transcript" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	var sealed []byte
	Eventually(t, 20*time.Second, "the transcript kept", func() error {
		status, body := get("?mod=" + url.QueryEscape(moderatorToken(t, n, room.ID)))
		if status != http.StatusOK {
			return fmt.Errorf("%d %s", status, body)
		}
		sealed = body
		return nil
	})
	if status, _ := get(""); status != http.StatusForbidden {
		t.Errorf("the transcript without a moderator token: %d, want 403", status)
	}
	if status, _ := get("?mod=forged"); status != http.StatusForbidden {
		t.Errorf("the transcript with a forged token: %d, want 403", status)
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), mod.Identity().AgeIdentity())
	if err != nil {
		t.Fatalf("Claire cannot open the transcript: %v", err)
	}
	plain, _ := io.ReadAll(r)
	var doc agent.Transcript
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Lines) < 2 || doc.Lines[0].Speaker != "Ada" || !strings.Contains(doc.VTT, "<v Ada>") || !strings.Contains(doc.MD, "# Sous-titres") {
		t.Fatalf("transcript %+v", doc)
	}
	for _, w := range transcribe.Words(doc.Text) {
		if len(w) > 3 && bytes.Contains(bytes.ToLower(sealed), []byte(w)) {
			t.Errorf("the word %q is in clear in the node's copy", w)
		}
	}
}

// waitAgent waits until c sees the meeting's transcriber, certified as an agent, and
// returns its participant id.
func waitAgent(t *testing.T, c *client.Client, roomID string) string {
	t.Helper()
	var id string
	Eventually(t, 30*time.Second, "the transcriber in the meeting, certified as an agent", func() error {
		for _, p := range c.Participants() {
			if p.Name != agent.Name || p.Cert == nil {
				continue
			}
			body, err := identity.VerifyCertificate(*p.Cert, func(ed25519.PublicKey) bool { return true }, roomID, time.Now())
			if err != nil || body.Issuer != signal.AgentIssuer {
				return fmt.Errorf("its certificate: %+v %v", body, err)
			}
			id = p.ID
			return nil
		}
		return fmt.Errorf("participants %+v", c.Participants())
	})
	return id
}

// TestTranscriberEngineFailure: when the speech engine fails (an OpenAI-compatible endpoint
// answering 503), the moderators are told what it said, once, and the meeting goes on.
func TestTranscriberEngineFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"model large-v3 is still loading","type":"server_error"}}`)
	}))
	defer srv.Close()
	n := StartNodeWith(t, "Ministère de la Parole", func(c *node.Config) {
		c.Transcription = &transcribe.Config{Engine: "openai", URL: srv.URL}
	})
	room := n.CreateRoom("Panne")
	mod := n.JoinWith(t, client.Config{Room: room.ID, Name: "Claire", Moderator: moderatorToken(t, n, room.ID)})
	ada := n.Join(t, room.ID, "Ada", client.Publish{Audio: true, AudioFrames: OpusSpeech(t, Speak(t, 1000, SpeechSentences[0]))})
	if err := mod.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 60*time.Second, "the moderator told of the engine's failure", func() error {
		for {
			select {
			case err := <-mod.Errors():
				var ne *client.NodeError
				if errors.As(err, &ne) && ne.Code == signal.CodeTranscriber && strings.Contains(ne.Message, "model large-v3 is still loading") {
					return nil
				}
			default:
				return fmt.Errorf("not told yet")
			}
		}
	})
	select {
	case err := <-ada.Errors():
		t.Errorf("Ada, no moderator, was told %v", err)
	default:
	}
}
