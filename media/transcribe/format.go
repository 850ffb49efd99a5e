package transcribe

import (
	"fmt"
	"strings"
	"time"
)

// The transcript's downloadable forms: plain text, WebVTT (W3C) and Markdown.

// stamp writes d as hh:mm:ss.mmm (WebVTT's timestamp) or, short, as hh:mm:ss.
func stamp(d time.Duration, millis bool) string {
	d = max(d, 0)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if millis {
		return fmt.Sprintf("%02d:%02d:%02d.%03d", h, m, s, int(d/time.Millisecond)%1000)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// FormatText is one line per segment: "[hh:mm:ss] Speaker: text" (no speaker: no colon).
func FormatText(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "[%s] %s\n", stamp(l.At, false), speakerText(l))
	}
	return b.String()
}

// FormatVTT is a WebVTT file with one cue per line, each lasting until the next one (at
// most 10 s), the speaker as a voice span (<v Speaker>).
func FormatVTT(lines []Line) string {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for i, l := range lines {
		end := l.At + 10*time.Second
		if i+1 < len(lines) && lines[i+1].At < end {
			end = max(lines[i+1].At, l.At+time.Second)
		}
		text := vttEscape(l.Text)
		if l.Speaker != "" {
			text = "<v " + vttEscape(l.Speaker) + ">" + text
		}
		fmt.Fprintf(&b, "\n%d\n%s --> %s\n%s\n", i+1, stamp(l.At, true), stamp(end, true), text)
	}
	return b.String()
}

// FormatMarkdown is the transcript under a title, with the summary first when there is one.
// Headings are in the summary's language.
func FormatMarkdown(title string, lines []Line, sum *Summary) string {
	words := map[string][4]string{
		"en": {"Summary", "Decisions", "Actions", "Topics"},
		"fr": {"Synthèse", "Décisions", "Actions", "Sujets"},
	}
	heads := words["en"]
	transcriptWord := "Transcript"
	if sum != nil && sum.Language == "fr" {
		heads, transcriptWord = words["fr"], "Transcription"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", mdEscape(title))
	if sum != nil {
		fmt.Fprintf(&b, "\n## %s\n", heads[0])
		for i, list := range [][]string{sum.Decisions, sum.Actions, sum.Topics} {
			if len(list) == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n### %s\n\n", heads[i+1])
			for _, item := range list {
				fmt.Fprintf(&b, "- %s\n", mdEscape(item))
			}
		}
	}
	fmt.Fprintf(&b, "\n## %s\n\n", transcriptWord)
	for _, l := range lines {
		if l.Speaker != "" {
			fmt.Fprintf(&b, "**%s** %s — %s\n\n", stamp(l.At, false), mdEscape(l.Speaker), mdEscape(l.Text))
		} else {
			fmt.Fprintf(&b, "**%s** %s\n\n", stamp(l.At, false), mdEscape(l.Text))
		}
	}
	return b.String()
}

func speakerText(l Line) string {
	if l.Speaker == "" {
		return l.Text
	}
	return l.Speaker + ": " + l.Text
}

// vttEscape keeps a cue's text from opening tags or ending the cue.
func vttEscape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "-->", "--&gt;").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// mdEscape keeps text from being read as Markdown markup or HTML.
func mdEscape(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "#", `\#`, "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "|", `\|`).Replace(s)
}

// LinesOf turns segments of one speaker into transcript lines (final segments only).
func LinesOf(speaker string, segs []Segment) []Line {
	var out []Line
	for _, s := range segs {
		if s.Final && strings.TrimSpace(s.Text) != "" {
			out = append(out, Line{At: s.Start, Speaker: speaker, Text: strings.TrimSpace(s.Text)})
		}
	}
	return out
}

// FormatSummaryText is a summary as plain text, headed in its language.
func FormatSummaryText(s Summary) string {
	heads := [3]string{"Decisions", "Actions", "Topics"}
	if s.Language == "fr" {
		heads = [3]string{"Décisions", "Actions", "Sujets"}
	}
	var b strings.Builder
	for i, list := range [][]string{s.Decisions, s.Actions, s.Topics} {
		fmt.Fprintf(&b, "%s:\n", heads[i])
		if len(list) == 0 {
			b.WriteString("  -\n")
		}
		for _, item := range list {
			fmt.Fprintf(&b, "  - %s\n", item)
		}
	}
	return b.String()
}
