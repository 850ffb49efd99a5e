package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"parley/node"
)

func runBackup(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "backup --data DIR FILE",
		"Has the node running on DIR write a consistent backup of its data directory to FILE\n"+
			"(a new file, mode 0600): configuration, node key, TLS files inside DIR and the store,\n"+
			"taken while the node serves. The backup holds the node key: keep it as safe as the key.",
		"parley backup --data /var/lib/parley /var/backups/parley-2026-12-02.tar", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	file, err := parseArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Backup(abs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s\n", abs)
	return nil
}

func runRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", "restore --data DIR FILE",
		"Restores a backup made by `parley backup` into DIR, which must be empty or not exist;\n"+
			"then `parley serve --data DIR` runs the node it was taken of. The node of the backup\n"+
			"must not run elsewhere at the same time: both would hold the same node key.",
		"parley restore --data /var/lib/parley /var/backups/parley-2026-12-02.tar", stderr)
	dir := fs.String("data", "", "data directory to restore into (required)")
	file, err := parseArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	if err := requireFlag(fs, "data", *dir); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := node.Restore(*dir, f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored into %s; start it with: parley serve --data %s\n", *dir, *dir)
	return nil
}
