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
		fmt.Fprintf(w, "Usage: parley bench sfu [--subscribers N] [--duration D]\n\n"+
			"Measures the SFU of a node started in its own process.\n\n"+
			"Example:\n  parley bench sfu --subscribers 50 --duration 30s\n")
	}
	if len(args) == 0 {
		help(stderr)
		return usagef("say which benchmark: sfu")
	}
	switch args[0] {
	case "sfu":
		return runBenchSFU(args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		help(stdout)
		return nil
	}
	help(stderr)
	return usagef("unknown benchmark %q (want sfu)", args[0])
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
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = testnet.BenchSFU(ctx, testnet.SFUBenchOptions{
		Subscribers: *subs, Duration: *dur, Binary: exe,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Out: stdout,
	})
	return err
}
