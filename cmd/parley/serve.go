package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"parley/node"
)

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve --data DIR [--repair]",
		"Runs the node configured in DIR until SIGINT or SIGTERM, then stops it gracefully.\n"+
			"When it is ready it prints a line \"serving NAME at URL\", then \"metrics at URL\"\n"+
			"(the private metrics listener, metrics_addr).\n\n"+
			"Before it opens the store it checks every table and write-ahead log; a damaged store\n"+
			"is refused with what is damaged and what it held. --repair starts anyway: the damaged\n"+
			"files are moved into DIR/damaged/TIME/ (nothing is deleted), what still reads is kept,\n"+
			"a federated node asks its peers for every room again, and the audit log (parley audit)\n"+
			"records what was lost and what came back.",
		"parley serve --data /var/lib/parley", stderr)
	dir := fs.String("data", "", "data directory made by `parley init` (required)")
	repair := fs.Bool("repair", false, "start on a damaged store, keeping what still reads (see above)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireFlag(fs, "data", *dir); err != nil {
		return err
	}
	cfg, err := node.LoadConfig(*dir)
	if err != nil {
		return err
	}
	cfg.Repair = *repair
	level, _ := node.ParseLogLevel(cfg.LogLevel) // validated by LoadConfig
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %s at %s\n", cfg.Name, n.URL())
	if m := n.MetricsURL(); m != "" {
		fmt.Fprintf(stdout, "metrics at %s/metrics\n", m)
	}
	fmt.Fprintf(stdout, "create a room with: parley room create --data %s --title TITLE\n", *dir)
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "stopping…")
	if err := n.Close(); err != nil {
		return fmt.Errorf("stop the node: %w", err)
	}
	return nil
}
