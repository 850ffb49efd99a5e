package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parley/testnet"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: parley bench sfu [--subscribers N] [--duration D]\n"+
			"       parley bench rekey [--participants N] [--leaves L]\n\n"+
			"Measures a node started in its own process: the SFU's forwarding (sfu), or end-to-end\n"+
			"rekeying when participants leave (rekey).\n\n"+
			"Example:\n  parley bench sfu --subscribers 50 --duration 30s\n  parley bench rekey --participants 50\n")
	}
	if len(args) == 0 {
		help(stderr)
		return usagef("say which benchmark: sfu or rekey")
	}
	switch args[0] {
	case "sfu":
		return runBenchSFU(args[1:], stdout, stderr)
	case "rekey":
		return runBenchRekey(args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		help(stdout)
		return nil
	}
	help(stderr)
	return usagef("unknown benchmark %q (want sfu or rekey)", args[0])
}

// benchContext is a context cancelled by Ctrl-C or SIGTERM, and the benchmark's logger.
func benchContext(stderr io.Writer, verbose bool) (context.Context, context.CancelFunc, *slog.Logger) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, stop, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func runBenchRekey(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench rekey", "bench rekey [--participants N] [--leaves L] [-v]",
		"Starts a node in its own process (this binary's `init` and `serve` in a temporary\n"+
			"directory) and N Go participants in one room, all holding and announcing end-to-end\n"+
			"keys, then makes L of them leave one at a time and measures, for each leave, the time\n"+
			"until every remaining sender encrypts with its new key, and the bytes of the key\n"+
			"envelopes sent for it. It prints progress, then the result as one JSON line:\n"+
			`{"participants":N,"rekey_p50_ms":…,"rekey_p99_ms":…,"envelope_bytes":…}`,
		"parley bench rekey --participants 50", stderr)
	n := fs.Int("participants", 50, "participants in the room at the start")
	leaves := fs.Int("leaves", 10, "how many leave, one after the other")
	verbose := fs.Bool("v", false, "log the benchmark's and clients' info messages to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 2 || *n > 1000 {
		return usagef("--participants %d: want 2 to 1000", *n)
	}
	if *leaves < 1 || *leaves >= *n {
		return usagef("--leaves %d: want 1 to %d (fewer than the participants)", *leaves, *n-1)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary, which the benchmark runs as the node: %w", err)
	}
	ctx, stop, log := benchContext(stderr, *verbose)
	defer stop()
	_, err = testnet.BenchRekey(ctx, testnet.RekeyBenchOptions{
		Participants: *n, Leaves: *leaves, Binary: exe, Log: log, Out: stdout,
	})
	return err
}

func runBenchSFU(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench sfu", "bench sfu [--subscribers N] [--duration D] [-v]",
		"Starts a node in its own process (this binary's `init` and `serve` in a temporary\n"+
			"directory), one publisher (Opus and three-layer VP8 simulcast) and N Go subscribers\n"+
			"on loopback taking the top layer, and measures forwarding rate, the node's CPU and\n"+
			"memory, and the latency it adds. It prints progress, then the result as one JSON line:\n"+
			`{"subscribers":N,"forwarded_pps":…,"cpu_cores_used":…,"pps_per_core":…,`+"\n"+
			` "added_latency_p50_ms":…,"added_latency_p99_ms":…,"rss_per_subscriber_mib":…}`,
		"parley bench sfu --subscribers 50 --duration 30s", stderr)
	subs := fs.Int("subscribers", 50, "number of subscribers")
	dur := fs.Duration("duration", 20*time.Second, "how long to measure, after warm-up")
	verbose := fs.Bool("v", false, "log the benchmark's and clients' info messages to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *subs < 1 || *subs > 10000 {
		return usagef("--subscribers %d: want 1 to 10000", *subs)
	}
	if *dur <= 0 {
		return usagef("--duration %v: want a positive duration such as 30s", *dur)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary, which the benchmark runs as the node: %w", err)
	}
	ctx, stop, log := benchContext(stderr, *verbose)
	defer stop()
	_, err = testnet.BenchSFU(ctx, testnet.SFUBenchOptions{
		Subscribers: *subs, Duration: *dur, Binary: exe, Log: log, Out: stdout,
	})
	return err
}
