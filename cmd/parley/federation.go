package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"parley/node"
)

func runFederation(args []string, stdout, stderr io.Writer) error {
	return runGroup("federation", "Usage: parley federation invite --data DIR [--ttl 24h]\n"+
		"       parley federation join   --data DIR INVITE\n"+
		"       parley federation list   --data DIR\n"+
		"       parley federation remove --data DIR PEER-ID\n\n"+
		"Federates the node running on DIR with other organisations' nodes, over its admin\n"+
		"socket. Trust is bilateral: `invite` on one node prints a one-time invite, `join` with\n"+
		"it on the other node makes the two trust each other.\n\n"+
		"Example:\n  parley federation invite --data /var/lib/parley\n"+
		"  parley federation join --data /var/lib/parley parley-invite-v1.…\n",
		[]subcommand{{"invite", runFederationInvite}, {"join", runFederationJoin},
			{"list", runFederationList}, {"remove", runFederationRemove}}, args, stdout, stderr)
}

func runFederationInvite(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("federation invite", "federation invite --data DIR [--ttl 24h]",
		"Makes a one-time invite on the node running on DIR and prints it on one line. Give it to\n"+
			"the administrator of the other node, who runs `parley federation join` with it; it\n"+
			"can be redeemed once, before it expires. It names this node's peer ID, addresses and\n"+
			"URL (with its TLS certificate's fingerprint) and carries a secret: send it privately.",
		"parley federation invite --data /var/lib/parley --ttl 2h", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the invite stays valid (at most 720h)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("--ttl %v: want a positive duration such as 24h", *ttl)
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	inv, err := c.FederationInvite(*ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, inv)
	fmt.Fprintf(stderr, "valid once, until %s; redeem it on the other node with:\n  parley federation join --data DIR INVITE\n",
		time.Now().Add(*ttl).Local().Format("2006-01-02 15:04"))
	return nil
}

func runFederationJoin(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("federation join", "federation join --data DIR INVITE",
		"Redeems an invite another node printed (`parley federation invite`) on the node running\n"+
			"on DIR: the two nodes then trust each other and share rooms.",
		"parley federation join --data /var/lib/parley parley-invite-v1.…", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	rest, err := parseArgs(fs, args, "INVITE")
	if err != nil {
		return err
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.FederationJoin(strings.TrimSpace(rest))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "federated with %s (%s) at %s\npeer ID %s\n", p.Name, p.Organisation, p.URL, p.ID)
	return nil
}

func runFederationList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("federation list", "federation list --data DIR",
		"Lists the nodes federated with the node running on DIR, by name, and whether they are\n"+
			"connected now.",
		"parley federation list --data /var/lib/parley", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	peers, err := c.FederationList()
	if err != nil {
		return err
	}
	if len(peers) == 0 {
		fmt.Fprintf(stdout, "no federated nodes yet; make an invite with: parley federation invite --data %s\n", *dir)
		return nil
	}
	return peerTable(stdout, peers)
}

// peerTable prints federated nodes as a table.
func peerTable(w io.Writer, peers []node.AdminPeer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER ID\tNAME\tORGANISATION\tURL\tCONNECTED")
	for _, p := range peers {
		conn := "no"
		if p.Connected {
			conn = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Organisation, p.URL, conn)
	}
	return tw.Flush()
}

func runFederationRemove(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("federation remove", "federation remove --data DIR PEER-ID",
		"Ends the federation of the node running on DIR with the node PEER-ID (as `parley\n"+
			"federation list` shows it): its connections close and everything from it is ignored\n"+
			"from now on. A new invite federates it again.",
		"parley federation remove --data /var/lib/parley 12D3KooW…", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	id, err := parseArgs(fs, args, "PEER-ID")
	if err != nil {
		return err
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.FederationRemove(id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %s\n", id)
	return nil
}

// parseArgs parses args into fs and returns its one positional argument, named name in
// errors; flags may come before or after it.
func parseArgs(fs *flag.FlagSet, args []string, name string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", usageError{} // the flag package printed the error and the usage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) == 0 || strings.TrimSpace(pos[0]) == "":
		fs.Usage()
		return "", usagef("give the %s", name)
	case len(pos) > 1:
		fs.Usage()
		return "", usagef("unexpected argument %q after the %s", pos[1], name)
	}
	return pos[0], nil
}
