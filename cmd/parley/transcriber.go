package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"parley/node"
)

func runTranscriber(args []string, stdout, stderr io.Writer) error {
	return runGroup("transcriber", "Usage: parley transcriber init --key FILE\n"+
		"       parley transcriber run  --node URL --key FILE [--ca FILE] [--engine E --url URL --model M]\n\n"+
		"Runs the meetings' transcriber on another machine than the node (a GPU box of the\n"+
		"organisation). `init` makes the transcriber's key and prints the line to add to the\n"+
		"node's config.json (transcribers); `run` links to the node, which then hands it the\n"+
		"meetings its moderators ask to transcribe. Its agent joins each meeting through the node\n"+
		"like any participant, end-to-end encrypted; the node never hears the meeting.\n\n"+
		"Example:\n  parley transcriber init --key /etc/parley/transcriber.key\n"+
		"  parley transcriber run --node https://visio.ministere.example --key /etc/parley/transcriber.key \\\n"+
		"    --engine openai --url http://127.0.0.1:8000 --model large-v3\n",
		[]subcommand{{"init", runTranscriberInit}, {"run", runTranscriberRun}}, args, stdout, stderr)
}

func runTranscriberInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcriber init", "transcriber init --key FILE",
		"Makes a transcriber key in FILE (readable by its owner only; an existing file is kept\n"+
			"as it is) and prints the entry to add to the node's config.json under transcribers.",
		"parley transcriber init --key /etc/parley/transcriber.key", stderr)
	keyFile := fs.String("key", "", "file to write the key to (required)")
	name := fs.String("name", "", "the transcriber's name in the node's config (default: this machine's host name)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return usagef("--key FILE is required")
	}
	pub, err := node.NewTranscriberKey(*keyFile)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	fmt.Fprintf(stdout, "{\"name\": %q, \"key\": %q}\n", *name, pub)
	fmt.Fprintf(stderr, "add that entry to \"transcribers\" in the node's config.json, restart the node, then run:\n"+
		"  parley transcriber run --node URL --key %s\n", *keyFile)
	return nil
}

func runTranscriberRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcriber run", "transcriber run --node URL --key FILE [--ca FILE] [--name N] [--engine E --url URL --model M] [--language L]",
		"Links to the node at URL and transcribes the meetings it hands over, until stopped\n"+
			"(Ctrl-C or SIGTERM: each meeting's transcript is sealed and sent to the node first).\n"+
			"A link that fails is dialled again. Engines in this binary: "+strings.Join(node.TranscriptionEngines(), ", ")+".",
		"parley transcriber run --node https://visio.ministere.example --key transcriber.key --engine openai --url http://127.0.0.1:8000", stderr)
	nodeURL := fs.String("node", "", "the node's public URL (required)")
	keyFile := fs.String("key", "", "the key `parley transcriber init` made (required)")
	ca := fs.String("ca", "", "PEM certificates to trust for the node's https (its own, or the organisation's CA); default: the system's")
	name := fs.String("name", "", "this transcriber's name in the node's logs (default: this machine's host name)")
	engine := fs.String("engine", "", "speech engine: pocketsphinx (embedded) or openai (an OpenAI-compatible server)")
	endpoint := fs.String("url", "", "with --engine openai: the server's base URL")
	model := fs.String("model", "", "with --engine openai: the model name (default whisper-1)")
	apiKey := fs.String("api-key-file", "", "with --engine openai: a file holding the server's bearer token")
	language := fs.String("language", "", `language of speakers who did not say theirs, e.g. "en" (default: the engine's)`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *nodeURL == "" || *keyFile == "" {
		return usagef("--node URL and --key FILE are required")
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	tc := node.TranscriptionConfig(node.Config{})
	setIf(&tc.Engine, *engine)
	setIf(&tc.URL, *endpoint)
	setIf(&tc.Model, *model)
	setIf(&tc.APIKeyFile, *apiKey)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("transcriber", *name)
	return node.RunTranscriber(ctx, node.TranscriberConfig{NodeURL: *nodeURL, KeyFile: *keyFile, CAFile: *ca, Name: *name,
		Transcription: tc, Language: *language, Logger: log})
}
