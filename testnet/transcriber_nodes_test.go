//go:build pocketsphinx && libopus

package testnet

import (
	"fmt"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/signal"
	"parley/media/transcribe"
)

// TestTranscriberAcrossNodes: the transcriber runs on the node of the moderator who started
// it, and captions everyone in the room, whatever their node: it hears Bob of the other
// node and its captions of him reach Dee there (cast between the nodes, still sealed). It
// listens for the language each person says they speak: Fanny speaks French, which the
// embedded engine does not know, so everyone is told her words get no captions, and so is
// Bob when he says he speaks French too. A moderator who removes the transcriber stops its
// captions; started again, it comes back.
func TestTranscriberAcrossNodes(t *testing.T) {
	env := NewEnv(t, 2)
	home, far := env.Nodes[0], env.Nodes[1]
	room := env.CreateRoom(0, "Sous-titres partout")
	mod := home.JoinWith(t, client.Config{Room: room.ID, Name: "Claire", Moderator: moderatorToken(t, home, room.ID)})
	speech := Speak(t, 1500, SpeechSentences[0])
	bob := far.JoinWith(t, client.Config{Room: room.ID, Name: "Bob", Lang: "en-GB",
		Publish: client.Publish{Audio: true, AudioFrames: OpusSpeech(t, speech)}})
	fanny := home.JoinWith(t, client.Config{Room: room.ID, Name: "Fanny", Lang: "fr",
		Publish: client.Publish{Audio: true, AudioFrames: OpusSpeech(t, Speak(t, 1500, SpeechSentences[1]))}})
	dee := far.JoinWith(t, client.Config{Room: room.ID, Name: "Dee", Lang: "en"})
	for _, c := range []*client.Client{mod, dee} {
		for _, p := range []*client.Client{bob, fanny} {
			Eventually(t, mediaTimeout, fmt.Sprintf("%s hears %s", c.ID(), p.ID()), func() error {
				if tr, ok := FindTrack(c, p.ID(), signal.SourceMic); !ok || tr.Packets == 0 {
					return fmt.Errorf("no audio yet (%s)", DescribeTracks(c))
				}
				return nil
			})
		}
	}

	if err := mod.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	agentID := waitAgent(t, dee, room.ID)

	// Dee, on the far node, reads the transcriber's captions of Bob, of the far node too, and
	// is told Fanny's French gets none.
	var bobFinal client.Caption
	Eventually(t, 90*time.Second, "Dee reads a final caption of Bob and the notice for Fanny", func() error {
		var final, notice bool
		var undecrypted []error
		for _, c := range dee.Captions() {
			switch {
			case c.Err != nil:
				undecrypted = append(undecrypted, c.Err)
				continue
			case c.From != agentID:
				continue
			case c.Speaker == bob.ID() && c.Final && !final:
				bobFinal, final = c, true
			case c.Speaker == fanny.ID() && c.Unavailable == "fr" && c.Text == "":
				notice = true
			case c.Speaker == fanny.ID():
				return fmt.Errorf("Fanny's French was captioned as English: %+v", c)
			}
		}
		if !final || !notice {
			first := error(nil)
			if len(undecrypted) > 0 {
				first = undecrypted[0]
			}
			return fmt.Errorf("final caption of Bob: %v, notice for Fanny: %v (%d captions, %d not decrypted, first: %v)",
				final, notice, len(dee.Captions()), len(undecrypted), first)
		}
		return nil
	})
	wer := transcribe.WER(SpeechSentences[0], bobFinal.Text)
	t.Logf("Dee read Bob's %q (WER %.2f)", bobFinal.Text, wer)
	if bobFinal.Name != "Bob" || wer > 0.45 {
		t.Errorf("caption of Bob across the nodes: %+v, WER %.2f, want Bob and at most 0.45", bobFinal, wer)
	}
	if home.Node.Federation().Stats().Casts == 0 {
		t.Error("the home node cast no caption")
	}

	// Removed, the transcriber is gone from everyone's meeting and captions nobody.
	if err := mod.Remove(agentID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{mod, dee} {
		Eventually(t, 20*time.Second, "the transcriber gone for "+c.ID(), func() error {
			for _, p := range c.Participants() {
				if p.ID == agentID {
					return fmt.Errorf("still there")
				}
			}
			return nil
		})
	}
	seen := len(dee.Captions())
	mic, _ := FindTrack(dee, bob.ID(), signal.SourceMic)
	Eventually(t, 30*time.Second, "six seconds of Bob's voice at Dee after the removal", func() error {
		// 20 ms a packet: Bob's sentence, which loops, comes round at least once.
		if now, _ := FindTrack(dee, bob.ID(), signal.SourceMic); now.Packets < mic.Packets+300 {
			return fmt.Errorf("%d packets", now.Packets-mic.Packets)
		}
		return nil
	})
	if n := len(dee.Captions()); n != seen {
		t.Errorf("%d captions arrived after the transcriber was removed", n-seen)
	}

	// Bob now says he speaks French; the transcriber started again tells everyone so.
	if err := bob.SetLang("fr-FR"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "Bob's language at Claire", func() error {
		for _, p := range mod.Participants() {
			if p.ID == bob.ID() && p.Lang == "fr-FR" {
				return nil
			}
		}
		return fmt.Errorf("participants %+v", mod.Participants())
	})
	if err := mod.Moderate(signal.ActionTranscribe, ""); err != nil {
		t.Fatal(err)
	}
	again := waitAgent(t, dee, room.ID)
	Eventually(t, 60*time.Second, "the notice for Bob's French at Dee", func() error {
		for _, c := range dee.Captions() {
			if c.From == again && c.Speaker == bob.ID() {
				if c.Unavailable == "fr-FR" {
					return nil
				}
				return fmt.Errorf("Bob's French was captioned: %+v", c)
			}
		}
		bad := 0
		for _, c := range dee.Captions() {
			if c.Err != nil {
				bad++
			}
		}
		return fmt.Errorf("no caption of Bob from the new transcriber (%d captions, %d not decrypted)", len(dee.Captions()), bad)
	})
	if err := bob.SetLang("not a language"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "a bad language tag refused", func() error { return nodeError(bob, signal.CodeBadMessage) })
}
