//go:build pocketsphinx && libopus

package testnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/transcribe"
)

// TestBrowserCaptions: Ada speaks in Chromium (its fake microphone plays espeak-ng's
// sentences); Claire, a moderator, in Chromium and in Firefox, starts the transcriber from
// the People panel. Both see the banner and the agent, marked as such; Claire turns captions
// on and reads "Ada: …" and "Bob: …" with their words (word error rates under 0.8 for the voice
// through Chromium, 0.45 for Bob, a Go participant), bigger when she picks
// a larger size; stopping the transcriber takes the captions away, and Claire opens the
// transcript sealed to her.
func TestBrowserCaptions(t *testing.T) {
	n := StartNode(t, "Ministère des Sous-titres")
	room := n.CreateRoom("Point sous-titré")
	var speech []int16
	for _, s := range SpeechSentences[:2] {
		speech = append(speech, Speak(t, 1500, s)...)
	}
	wav := filepath.Join(t.TempDir(), "ada.wav")
	f, err := os.Create(wav)
	if err != nil {
		t.Fatal(err)
	}
	if err := transcribe.WriteWAV(f, speech, 48000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Bob is a Go participant: his microphone sends the third sentence, encoded by libopus.
	n.Join(t, room.ID, "Bob", client.Publish{Audio: true, AudioFrames: OpusSpeech(t, Speak(t, 1500, SpeechSentences[2]))})
	forEachBrowser(t, func(t *testing.T, kind string) {
		mod := NewBrowserOf(t, kind, "Claire")
		// Cameras stay off: the test is about sound, and two browsers encoding and decoding
		// video on two cores would starve the speech engine.
		mod.Open(n.Node.ModeratorURL(room.ID) + "&name=Claire")
		mod.Click(`#pre-camera`)
		mod.Click(`[data-testid=join]`)
		mod.WaitVisible(`[data-testid=leave]`, 20*time.Second)
		speaker := NewChromiumSpeaking(t, "Ada", wav)
		speaker.Open(n.URL() + "/r/" + room.ID + "?name=Ada")
		speaker.Click(`#pre-camera`)
		speaker.Click(`[data-testid=join]`)
		mod.WaitVisible(`.tile[aria-label="Ada"]`, 20*time.Second)
		// Claire listens: her microphone is off (the transcriber skips a muted one).
		mod.Click(`[data-testid=mic]`)
		mod.waitJS("Claire's microphone off", `document.querySelector('[data-testid=mic]').getAttribute('aria-pressed') === 'false'`, 10*time.Second)

		openPeoplePanel(t, mod)
		mod.Click(`[data-testid=transcribe]`)
		for _, b := range []*Browser{mod, speaker} {
			b.WaitVisible(`[data-testid=transcribing]`, 30*time.Second)
			b.WaitVisible(`.tile[data-agent="true"]`, 10*time.Second)
		}
		mod.WaitText(`#people .ptag.agent`, "Agent", 10*time.Second)
		mod.WaitText(`[data-testid=transcribe]`, "Stop transcription", 10*time.Second)

		mod.Click(`[data-testid=captions-toggle]`)
		mod.WaitVisible(`[data-testid=captions]`, 10*time.Second)
		// The captions area keeps what its lines setting says; show more for the count.
		if _, err := Eval[bool](mod, `(() => { const s = document.querySelector('[data-testid=caption-lines]');
			s.value = '8'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		// The clips were playing before the transcriber came: a first caption may begin
		// mid-sentence.
		final := `[...document.querySelectorAll('[data-testid=captions] li:not(.interim)')].map((li) => li.textContent)`
		// The area shows its last lines only: what it showed is gathered while it runs.
		heard := map[string][]string{}
		seen := map[string]bool{}
		Eventually(t, 120*time.Second, "Ada's captions of both sentences and Bob's of his", func() error {
			got, err := Eval[[]string](mod, final)
			if err != nil {
				return err
			}
			for _, l := range got {
				if name, text, ok := strings.Cut(l, ": "); ok && !seen[l] {
					seen[l] = true
					heard[name] = append(heard[name], text)
				}
			}
			if len(heard["Ada"]) < 6 || len(heard["Bob"]) < 2 {
				return fmt.Errorf("captions so far %q", heard)
			}
			return nil
		})
		// Each sentence is scored against the closest caption of its speaker.
		score := func(speaker string, sentences []string) float64 {
			var total float64
			for _, s := range sentences {
				best := 1.0
				for _, h := range heard[speaker] {
					best = min(best, transcribe.WER(s, h))
				}
				total += best / float64(len(sentences))
			}
			return total
		}
		ada, bob := score("Ada", SpeechSentences[:2]), score("Bob", SpeechSentences[2:])
		t.Logf("%s shows Ada %q (WER %.2f), Bob %q (WER %.2f)", kind, heard["Ada"], ada, heard["Bob"], bob)
		// Thresholds from what was measured over runs: Ada's synthetic voice goes through
		// Chromium's microphone processing (0.00 to 0.65), Bob's straight from libopus (0.00
		// to 0.33 on that sentence). Text unrelated to the sentences scores about 1.
		if ada > 0.8 || bob > 0.45 {
			t.Errorf("word error rates Ada %.2f (want at most 0.8), Bob %.2f (want at most 0.45)", ada, bob)
		}

		axeCheck(t, mod, kind+" captions on")

		size := `parseFloat(getComputedStyle(document.querySelector('[data-testid=captions]')).fontSize)`
		before, _ := Eval[float64](mod, size)
		if _, err := Eval[bool](mod, `(() => { const s = document.querySelector('[data-testid=caption-size]');
			s.value = 'huge'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		if after, _ := Eval[float64](mod, size); after <= before*1.4 {
			t.Errorf("captions at %.0f px after choosing very large, %.0f px before", after, before)
		}

		mod.Click(`[data-testid=transcribe]`)
		for _, b := range []*Browser{mod, speaker} {
			b.waitJS("the banner gone", `document.querySelector('[data-testid=transcribing]').hidden`, 30*time.Second)
			b.WaitGone(`.tile[data-agent="true"]`, 10*time.Second)
		}
		mod.waitJS("the captions gone", `document.querySelector('[data-testid=captions]').hidden`, 10*time.Second)

		// Claire opens the transcript: sealed to her, opened in her browser. The last seal is
		// made as the transcriber stops, so the first ask may find none yet.
		open := `document.getElementById('transcript-dialog').open`
		for i := 0; ; i++ {
			// A toast ("Transcriber left") may lie over the panel's top: let it go first.
			mod.waitJS("no toast over the panel", `document.querySelectorAll('.toast').length === 0`, 20*time.Second)
			mod.Click(`[data-testid=transcript]`)
			mod.waitJS("the transcript or word that there is none", open+` || [...document.querySelectorAll('.toast')].length > 0`, 10*time.Second)
			if ok, _ := Eval[bool](mod, open); ok {
				break
			}
			if i == 20 {
				t.Fatal("the transcript never came")
			}
			if _, err := Eval[bool](mod, `(document.querySelectorAll('.toast').forEach((e) => e.remove()), true)`); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		mod.waitJS("Ada's lines in the transcript", `[...document.querySelectorAll('[data-testid=transcript-lines] li')].some((li) => li.textContent.includes('Ada:'))`, 10*time.Second)
		if href, err := Eval[string](mod, `document.querySelector('[data-testid=transcript-md]').href`); err != nil || !strings.HasPrefix(href, "blob:") {
			t.Errorf("the Markdown download is %q (%v)", href, err)
		}
		axeCheck(t, mod, kind+" transcript dialog")
		mod.Press("Escape")
	})
}
