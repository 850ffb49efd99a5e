package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"parley/node"
)

func runTranscribe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcribe", "transcribe [--engine E] [--language L] [--format text|vtt|md] [--summary] [--data DIR | --url URL --model M] FILE.wav|FILE.ogg",
		"Prints the transcript of a recording, timestamped: to test the speech engine a node\n"+
			"uses for captions and transcripts, or to transcribe a meeting's recording. With\n"+
			"--data the engine is the one the node's config.json names (transcription, summary);\n"+
			"otherwise --engine, --url and --model choose it. Engines in this binary: "+strings.Join(node.TranscriptionEngines(), ", ")+".\n"+
			"The embedded engine (pocketsphinx) understands US English only.",
		"parley transcribe --engine openai --url http://gpu.example:8000 --language fr interview.wav", stderr)
	engine := fs.String("engine", "", "speech engine: pocketsphinx (embedded) or openai (an OpenAI-compatible server)")
	language := fs.String("language", "", `language of the speech, e.g. "en" or "fr" (default: the engine's)`)
	format := fs.String("format", "text", "output: text, vtt (WebVTT) or md (Markdown)")
	withSummary := fs.Bool("summary", false, "also print a summary (decisions, actions, topics)")
	dir := fs.String("data", "", "a node's data directory: use the engines its config.json names")
	endpoint := fs.String("url", "", "with --engine openai: the server's base URL")
	model := fs.String("model", "", "with --engine openai: the model name (default whisper-1)")
	path, err := parseArgs(fs, args, "recording to transcribe (a .wav or .ogg file)")
	if err != nil {
		return err
	}
	switch *format {
	case "text", "vtt", "md":
	default:
		return usagef(`--format %q: want text, vtt or md`, *format)
	}
	var cfg node.Config
	if *dir != "" {
		c, err := node.LoadConfig(*dir)
		if err != nil {
			return err
		}
		cfg = c
	}
	tc := node.TranscriptionConfig(cfg)
	setIf(&tc.Engine, *engine)
	setIf(&tc.URL, *endpoint)
	setIf(&tc.Model, *model)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	lines, err := node.TranscribeFile(ctx, tc, path, *language)
	if err != nil {
		return err
	}
	var sum *node.Summary
	if *withSummary {
		s, err := node.SummarizeTranscript(ctx, cfg, lines)
		if err != nil {
			return err
		}
		sum = &s
	}
	title := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	fmt.Fprint(stdout, node.FormatTranscript(*format, title, lines, sum))
	return nil
}

// setIf sets *dst to v unless v is empty (a flag left unset keeps the config's value).
func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}
