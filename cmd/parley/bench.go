package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parley/testnet/bench"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: parley bench sfu [--subscribers N] [--duration D]\n"+
			"       parley bench rekey [--participants N] [--leaves L]\n"+
			"       parley bench gossip [--nodes N] [--changes K] [--chats C] [--full]\n"+
			"       parley bench cascade [--subscribers N] [--duration D]\n"+
			"       parley bench transcribe [--streams N]\n"+
			"       parley bench join [--trials N] [--nodes 1|2]\n\n"+
			"Measures a node started in its own process: the SFU's forwarding (sfu), or end-to-end\n"+
			"rekeying when participants leave (rekey); how room state spreads through a federation\n"+
			"of N nodes in this process, and how it heals after a partition (gossip); or one media\n"+
			"cascade hop between two nodes in their own processes (cascade); or live captions: the speech\n"+
			"engine's cost per stream and its caption latency (transcribe); or how soon two Chromium\n"+
			"tabs see each other after joining, on one node or two (join).\n\n"+
			"Example:\n  parley bench sfu --subscribers 50 --duration 30s\n  parley bench rekey --participants 50\n"+
			"  parley bench gossip --nodes 50\n  parley bench cascade --subscribers 10\n")
	}
	if len(args) == 0 {
		help(stderr)
		return usagef("say which benchmark: sfu, rekey, gossip, cascade, transcribe or join")
	}
	switch args[0] {
	case "sfu":
		return runBenchSFU(args[1:], stdout, stderr)
	case "rekey":
		return runBenchRekey(args[1:], stdout, stderr)
	case "gossip":
		return runBenchGossip(args[1:], stdout, stderr)
	case "cascade":
		return runBenchCascade(args[1:], stdout, stderr)
	case "transcribe":
		return runBenchTranscribe(args[1:], stdout, stderr)
	case "join":
		return runBenchJoin(args[1:], stdout, stderr)
	case "-h", "--help", "-help", "help":
		help(stdout)
		return nil
	}
	help(stderr)
	return usagef("unknown benchmark %q (want sfu, rekey, gossip, cascade, transcribe or join)", args[0])
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
	ctx, stop, log := benchContext(stderr, *verbose)
	defer stop()
	// The benchmark runs this binary as the node.
	_, err := bench.BenchRekey(ctx, bench.RekeyBenchOptions{
		Participants: *n, Leaves: *leaves, Log: log, Out: stdout,
	})
	return err
}

func runBenchSFU(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench sfu", "bench sfu [--subscribers N] [--duration D] [--profile FILE] [-v]",
		"Starts a node in its own process (this binary's `init` and `serve` in a temporary\n"+
			"directory), one publisher (Opus and three-layer VP8 simulcast) and N Go subscribers\n"+
			"on loopback taking the top layer, and measures forwarding rate, the node's CPU and\n"+
			"memory, and the latency it adds. It prints progress, then the result as one JSON line:\n"+
			`{"subscribers":N,"forwarded_pps":…,"cpu_cores_used":…,"pps_per_core":…,`+"\n"+
			` "added_latency_p50_ms":…,"added_latency_p99_ms":…,"rss_per_subscriber_mib":…}`+"\n"+
			"With --profile, the node's CPU profile of the measurement goes to FILE and its\n"+
			"allocations to FILE.allocs (read them with `go tool pprof`).",
		"parley bench sfu --subscribers 50 --duration 30s", stderr)
	lf := addLoadFlags(fs, 50, "number of subscribers")
	profile := fs.String("profile", "", "write the node's CPU profile of the measurement to this file")
	if err := lf.parse(fs, args); err != nil {
		return err
	}
	ctx, stop, log := benchContext(stderr, *lf.verbose)
	defer stop()
	// The benchmark runs this binary as the node.
	_, err := bench.BenchSFU(ctx, bench.SFUBenchOptions{
		Subscribers: *lf.subs, Duration: *lf.dur, Log: log, Out: stdout, Profile: *profile,
	})
	return err
}

func runBenchGossip(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench gossip", "bench gossip [--nodes N] [--changes K] [--chats C] [--full] [-v]",
		"Starts N nodes in this process on loopback, each with its own temporary data directory,\n"+
			"federates every pair, creates a room and has one participant on every node. It then\n"+
			"measures, over K changes (a participant joining on a random node), the time until each\n"+
			"other node holds the change (from the source node's record, and from the participant's\n"+
			"join); splits the nodes in halves, makes changes and C chat\n"+
			"messages per node on both sides, heals, and measures the time until every node holds\n"+
			"the same state and log. Each node is the federation part of a node (its libp2p host,\n"+
			"federation and badger store, configured as the node configures them) unless --full\n"+
			"runs full nodes (store, HTTP, signalling, SFU, media cascade), whose participants join\n"+
			"over signalling and whose cascade links every pair sharing the room. It prints progress\n"+
			"and a table, then the result as one JSON line:\n"+
			`{"nodes":N,"converge_p50_ms":…,"converge_p99_ms":…,"heal_ms":…,"action_p50_ms":…,"action_p99_ms":…}`,
		"parley bench gossip --nodes 50", stderr)
	n := fs.Int("nodes", 10, "federated nodes")
	changes := fs.Int("changes", 30, "room-state changes measured")
	chats := fs.Int("chats", 5, "chat messages per node during the partition (at most 10)")
	full := fs.Bool("full", false, "run full nodes (about 20 MiB each; the media cascade between every pair needs more than two cores beyond 30 nodes)")
	verbose := fs.Bool("v", false, "log the nodes' info messages to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 2 || *n > 100 {
		return usagef("--nodes %d: want 2 to 100", *n)
	}
	if *changes < 1 || *changes > 10000 {
		return usagef("--changes %d: want 1 to 10000", *changes)
	}
	if *chats < 1 || *chats > 10 {
		return usagef("--chats %d: want 1 to 10 (a participant's chat burst)", *chats)
	}
	ctx, stop, log := benchContext(stderr, *verbose)
	defer stop()
	if !*verbose {
		// Every node's gossipsub warns about its delivery-tag bookkeeping under load.
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	_, err := bench.BenchGossip(ctx, bench.GossipBenchOptions{
		Nodes: *n, Changes: *changes, Chats: *chats, Full: *full, Log: log, Out: stdout,
	})
	return err
}

func runBenchCascade(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench cascade", "bench cascade [--subscribers N] [--duration D] [-v]",
		"Starts two nodes in their own processes (this binary's `init` and `serve` in temporary\n"+
			"directories) and federates them; joins on the near node a publisher (Opus and\n"+
			"three-layer VP8 simulcast) and N Go subscribers, and N on the far node, all on loopback\n"+
			"and taking the top layer. It measures the latency one cascade hop adds (per packet, the\n"+
			"first far subscriber's receive time minus the first near subscriber's), the far node's\n"+
			"forwarding rate per core of its process's CPU, the latency from the publisher to every\n"+
			"far subscriber, and the copies of each subscribed (track, layer) crossing the link.\n"+
			"It prints progress, then the result as one JSON line:\n"+
			`{"hop_p50_ms":…,"hop_p99_ms":…,"pps_per_core":…,"link_copies_per_track_layer":…,…}`,
		"parley bench cascade --subscribers 10 --duration 30s", stderr)
	lf := addLoadFlags(fs, 10, "subscribers on each node")
	if err := lf.parse(fs, args); err != nil {
		return err
	}
	ctx, stop, log := benchContext(stderr, *lf.verbose)
	defer stop()
	// The benchmark runs this binary as the nodes.
	_, err := bench.BenchCascade(ctx, bench.CascadeBenchOptions{
		Subscribers: *lf.subs, Duration: *lf.dur, Log: log, Out: stdout,
	})
	return err
}

// loadFlags are the flags of the benchmarks that measure subscribers receiving a publisher
// for a while: --subscribers, --duration and -v.
type loadFlags struct {
	subs    *int
	dur     *time.Duration
	verbose *bool
}

func addLoadFlags(fs *flag.FlagSet, subs int, subsUsage string) loadFlags {
	return loadFlags{
		subs:    fs.Int("subscribers", subs, subsUsage),
		dur:     fs.Duration("duration", 20*time.Second, "how long to measure, after warm-up"),
		verbose: fs.Bool("v", false, "log the benchmark's and clients' info messages to stderr"),
	}
}

// parse parses args into fs and checks the load flags' values.
func (l loadFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if *l.subs < 1 || *l.subs > 10000 {
		return usagef("--subscribers %d: want 1 to 10000", *l.subs)
	}
	if *l.dur <= 0 {
		return usagef("--duration %v: want a positive duration such as 30s", *l.dur)
	}
	return nil
}

func runBenchJoin(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench join", "bench join [--trials N] [--nodes 1|2] [-v]",
		"Starts one node, or two federated nodes, in their own processes and Chromium (headless,\n"+
			"fake camera and microphone, $PARLEY_CHROMIUM or chromium on the PATH) with two tabs.\n"+
			"Each trial makes a fresh room; the first tab joins, then the second (on the second node\n"+
			"with --nodes 2), and the trial lasts from the second click on Join until both tabs show\n"+
			"the other's camera. It prints each trial, then one JSON line:\n"+
			`{"nodes":N,"trials":T,"join_to_frame_p50_ms":…,"join_to_frame_p99_ms":…,"join_to_frame_max_ms":…}`,
		"parley bench join --trials 20 --nodes 2", stderr)
	trials := fs.Int("trials", 10, "how many pairs join, one after the other")
	nodes := fs.Int("nodes", 1, "1: both tabs on one node; 2: one on each of two federated nodes")
	verbose := fs.Bool("v", false, "log the nodes' and the benchmark's debug output")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *trials < 1 || *trials > 1000 {
		return usagef("--trials %d: want 1 to 1000", *trials)
	}
	if *nodes != 1 && *nodes != 2 {
		return usagef("--nodes %d: want 1 or 2", *nodes)
	}
	ctx, stop, log := benchContext(stderr, *verbose)
	defer stop()
	_, err := bench.BenchJoin(ctx, bench.JoinBenchOptions{Trials: *trials, Nodes: *nodes, Log: log, Out: stdout})
	return err
}
