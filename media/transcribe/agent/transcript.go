package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"filippo.io/age"

	"parley/media/transcribe"
)

// The transcript the agent keeps for the moderators, sealed with age to the X25519
// recipients of the moderators' verified certificates (whoever is a moderator when it is
// sealed): the node stores it and cannot read it. Its plaintext is one JSON object:
//
//	{"v":1,"room":"<id>","title":"…","updated_ms":…,
//	 "lines":[{"at_ms":1500,"speaker":"Ada","text":"…"},…],
//	 "summary":{"language":"en","decisions":[…],"actions":[…],"topics":[…]},
//	 "text":"…","vtt":"WEBVTT…","md":"# …"}
//
// text, vtt and md are the transcript as plain text, WebVTT and Markdown, ready to download.

// ErrNoModerator: nobody the transcript could be sealed to (no moderator with a verified
// certificate) is in the meeting.
var ErrNoModerator = errors.New("agent: no moderator with a verified certificate to seal the transcript to")

// Transcript is the transcript's plaintext.
type Transcript struct {
	V         int                `json:"v"`
	Room      string             `json:"room"`
	Title     string             `json:"title"`
	UpdatedMS int64              `json:"updated_ms"`
	Lines     []TranscriptLine   `json:"lines"`
	Summary   transcribe.Summary `json:"summary"`
	Text      string             `json:"text"`
	VTT       string             `json:"vtt"`
	MD        string             `json:"md"`
}

// TranscriptLine is one final line of the transcript.
type TranscriptLine struct {
	AtMS    int64  `json:"at_ms"`
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
}

// SealTranscript seals the transcript so far to the moderators in the meeting now, with its
// summary (made on this machine). It returns the age file and how many lines it holds.
func (a *Agent) SealTranscript() ([]byte, int, error) {
	lines := a.Lines()
	room := a.c.Room()
	var recipients []age.Recipient
	for _, p := range a.c.Participants() {
		if !p.Moderator {
			continue
		}
		cert := a.c.Certificate(p.ID)
		if cert == nil {
			continue
		}
		r, err := age.ParseX25519Recipient(cert.Age)
		if err != nil {
			continue
		}
		recipients = append(recipients, r)
	}
	if len(recipients) == 0 {
		return nil, len(lines), ErrNoModerator
	}
	sum := transcribe.Summarize(lines)
	t := Transcript{V: 1, Room: room.ID, Title: room.Title, UpdatedMS: time.Now().UnixMilli(), Summary: sum,
		Text: transcribe.FormatText(lines), VTT: transcribe.FormatVTT(lines), MD: transcribe.FormatMarkdown(room.Title, lines, &sum),
		Lines: make([]TranscriptLine, 0, len(lines))}
	for _, l := range lines {
		t.Lines = append(t.Lines, TranscriptLine{AtMS: l.At.Milliseconds(), Speaker: l.Speaker, Text: l.Text})
	}
	plain, err := json.Marshal(t)
	if err != nil {
		return nil, 0, err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipients...)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: seal the transcript: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, 0, err
	}
	return out.Bytes(), len(lines), nil
}
