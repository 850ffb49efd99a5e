package transcribe

import (
	"strings"
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	lines := []Line{
		{At: 1500 * time.Millisecond, Speaker: "Ada", Text: "We agreed."},
		{At: 4 * time.Second, Speaker: "Bob <admin>", Text: "Send it --> now"},
		{At: 3723 * time.Second, Text: "*late*"},
	}
	if got := FormatText(lines); got != "[00:00:01] Ada: We agreed.\n[00:00:04] Bob <admin>: Send it --> now\n[01:02:03] *late*\n" {
		t.Errorf("text:\n%s", got)
	}
	vtt := FormatVTT(lines)
	for _, want := range []string{"WEBVTT\n", "\n1\n00:00:01.500 --> 00:00:04.000\n<v Ada>We agreed.\n",
		"<v Bob &lt;admin&gt;>Send it --&gt; now", "01:02:03.000 --> 01:02:13.000\n*late*"} {
		if !strings.Contains(vtt, want) {
			t.Errorf("WebVTT lacks %q:\n%s", want, vtt)
		}
	}
	md := FormatMarkdown("Point #3", lines, &Summary{Language: "fr", Decisions: []string{"Ada: We agreed."}})
	for _, want := range []string{"# Point \\#3\n", "## Synthèse", "### Décisions\n\n- Ada: We agreed.\n", "## Transcription",
		"**00:00:04** Bob &lt;admin&gt; — Send it --&gt; now", "**01:02:03** \\*late\\*"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}
