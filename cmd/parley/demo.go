package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"parley/node"
)

const demoTitle = "Demo meeting"

func runDemo(args []string, stdout, stderr io.Writer) error {
	fset := newFlags("demo", "demo [--http 127.0.0.1:0] [--data DIR]",
		"Starts a node on this machine with a room \""+demoTitle+"\" and prints the room's link; open\n"+
			"it in two browser windows. Runs until Ctrl-C. Without --data the node lives in a\n"+
			"temporary directory that is removed at exit; with --data it is kept (and reused).",
		"parley demo --http 127.0.0.1:8443", stderr)
	httpAddr := fset.String("http", "127.0.0.1:0", "host:port for HTTP; port 0 picks a free port")
	dir := fset.String("data", "", "data directory to keep the demo node in (default: a temporary one)")
	verbose := fset.Bool("v", false, "log at info level (default: warnings only)")
	if err := parse(fset, args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "parley-demo-")
		if err != nil {
			return fmt.Errorf("temporary data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	if _, err := os.Stat(filepath.Join(*dir, node.ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		if _, err := node.Init(*dir, node.InitOptions{Name: "Parley demo", HTTPAddr: *httpAddr}); err != nil {
			return err
		}
	}
	cfg, err := node.LoadConfig(*dir)
	if err != nil {
		return err
	}
	if *httpAddr != cfg.HTTPAddr {
		// New derives the media address and URL again from the new HTTP address.
		cfg.HTTPAddr, cfg.MediaUDPAddr, cfg.PublicURL = *httpAddr, "", ""
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	defer n.Close()
	room, err := demoRoom(n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Parley demo node is running at %s\n", n.URL())
	fmt.Fprintf(stdout, "Open this room in two browser windows:\n\n  %s\n\n", node.RoomURL(n.URL(), room.ID))
	fmt.Fprintf(stdout, "Press Ctrl-C to stop.\n")
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "stopping…")
	return n.Close()
}

// demoRoom reuses the demo room of a kept data directory, or creates it.
func demoRoom(n *node.Node) (node.Room, error) {
	rooms, err := n.Rooms()
	if err != nil {
		return node.Room{}, err
	}
	for _, r := range rooms {
		if r.Title == demoTitle {
			return r, nil
		}
	}
	return n.CreateRoom(demoTitle)
}
