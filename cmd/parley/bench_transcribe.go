package main

import (
	"fmt"
	"io"

	"parley/testnet/bench"
)

func runBenchTranscribe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench transcribe", "bench transcribe [--streams N] [--engine E] [--url URL] [--model M]",
		"Feeds N speakers' live audio (espeak-ng's sentences, in real time) to the speech engine, one\n"+
			"stream each as the transcriber does, and prints the real-time factor per stream, how many\n"+
			"streams a core sustains, the caption latency from the end of a sentence to its final\n"+
			"caption (p50, p99) and the word error rate. The embedded engine needs a binary built with\n"+
			"-tags pocketsphinx,libopus.",
		"parley bench transcribe --streams 4", stderr)
	streams := fs.Int("streams", 1, "concurrent speakers")
	engine := fs.String("engine", "", "speech engine: pocketsphinx (embedded) or openai")
	url := fs.String("url", "", "with --engine openai: the server's base URL")
	model := fs.String("model", "", "with --engine openai: the model name")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *streams < 1 || *streams > 64 {
		return usagef("--streams %d: want 1 to 64", *streams)
	}
	ctx, stop, _ := benchContext(stderr, false)
	defer stop()
	cfg := bench.TranscribeConfig{Streams: *streams}
	cfg.Engine.Engine, cfg.Engine.URL, cfg.Engine.Model = *engine, *url, *model
	res, err := bench.Transcribe(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}
