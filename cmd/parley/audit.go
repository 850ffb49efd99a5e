package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func runAudit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit", "audit --data DIR [--limit N]",
		"Prints the newest entries of the audit log of the node running on DIR, oldest first:\n"+
			"administrative actions (rooms created, federation invites, joins and removals,\n"+
			"backups) and moderators' actions in meetings (admitted, removed).",
		"parley audit --data /var/lib/parley --limit 20", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	limit := fs.Int("limit", 100, "how many entries, at most 1000")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usagef("--limit %d: want 1 to 1000", *limit)
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	entries, err := c.Audit(*limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tROOM\tTARGET\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Room, e.Target, e.Detail)
	}
	return tw.Flush()
}
