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
	fs := newFlags("serve", "serve --data DIR",
		"Runs the node configured in DIR until SIGINT or SIGTERM, then stops it gracefully.\n"+
			"When it is ready it prints a line \"serving NAME at URL\", then \"metrics at URL\"\n"+
			"(the private metrics listener, metrics_addr).",
		"parley serve --data /var/lib/parley", stderr)
	dir := fs.String("data", "", "data directory made by `parley init` (required)")
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
