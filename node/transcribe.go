package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"parley/media/transcribe"
)

// TranscribeFile transcribes a recording, a WAV file (PCM) or an Ogg Opus file (.ogg,
// .opus: needs a binary built with libopus), with the engine cfg names, in language ("" for
// the engine's default). It returns the transcript's lines, with no speaker.
func TranscribeFile(ctx context.Context, cfg transcribe.Config, path, language string) ([]transcribe.Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pcm []int16
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".wav", ".wave":
		pcm, err = transcribe.ReadWAV(f)
	case ".ogg", ".opus", ".oga":
		pcm, err = transcribe.ReadOggOpus(f)
	default:
		return nil, fmt.Errorf("%s: a .wav (PCM) or .ogg (Opus) file, please, not %q", path, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	e, err := transcribe.Open(cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	segs, err := e.Transcribe(ctx, pcm, language)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return transcribe.LinesOf("", segs), nil
}

// TranscriptionEngines lists the speech engines this binary has.
func TranscriptionEngines() []string { return transcribe.Engines() }

// Summary is what a transcript decided, who does what, and its topics.
type Summary = transcribe.Summary

// TranscriptionConfig is c's speech engine configuration (the zero value: the default).
func TranscriptionConfig(c Config) transcribe.Config {
	if c.Transcription != nil {
		return *c.Transcription
	}
	return transcribe.Config{}
}

// SummarizeTranscript summarises lines with the endpoint c's summary names, or locally.
func SummarizeTranscript(ctx context.Context, c Config, lines []transcribe.Line) (Summary, error) {
	var sc transcribe.SummaryConfig
	if c.Summary != nil {
		sc = *c.Summary
	}
	return transcribe.SummarizeWith(ctx, sc, lines)
}

// FormatTranscript writes lines as "text", "vtt" (WebVTT) or "md" (Markdown, titled), with
// the summary (text and Markdown) when sum is not nil.
func FormatTranscript(format, title string, lines []transcribe.Line, sum *Summary) string {
	switch format {
	case "vtt":
		return transcribe.FormatVTT(lines)
	case "md":
		return transcribe.FormatMarkdown(title, lines, sum)
	default:
		out := transcribe.FormatText(lines)
		if sum != nil {
			out += "\n" + transcribe.FormatSummaryText(*sum)
		}
		return out
	}
}
