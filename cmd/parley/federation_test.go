package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/testnet"
)

// TestFederationCommands federates two running nodes through the command line: an invite
// made on A is redeemed on B, both list the other, a second redemption fails, and removal
// on B ends it there.
func TestFederationCommands(t *testing.T) {
	a, b := testnet.StartNode(t, "Ministère A"), testnet.StartNode(t, "Ministère B")

	code, inv, errOut := runCmd("federation", "invite", "--data", a.Dir, "--ttl", "1h")
	inv = strings.TrimSpace(inv)
	if code != 0 || !strings.HasPrefix(inv, "parley-invite-") || strings.Contains(inv, "\n") ||
		!strings.Contains(errOut, "parley federation join") {
		t.Fatalf("invite: exit %d, stdout %q, stderr %q", code, inv, errOut)
	}
	// The invite may come before --data.
	code, out, errOut := runCmd("federation", "join", inv, "--data", b.Dir)
	if code != 0 || !strings.Contains(out, "federated with Ministère A") || !strings.Contains(out, a.Node.PeerID()) {
		t.Fatalf("join: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCmd("federation", "join", "--data", b.Dir, inv)
	if code != 1 || !strings.Contains(errOut, "refused") {
		t.Errorf("second join: exit %d, stderr %q; want 1 and a refusal", code, errOut)
	}

	// Both list the other, connected once the mesh hosts have dialled.
	for _, c := range []struct{ self, other *testnet.TestNode }{{a, b}, {b, a}} {
		testnet.Eventually(t, 10*time.Second, c.self.Name+" lists "+c.other.Name+" as connected", func() error {
			code, out, errOut := runCmd("federation", "list", "--data", c.self.Dir)
			if code != 0 {
				t.Fatalf("list on %s: exit %d, %q", c.self.Name, code, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "PEER ID") {
				t.Fatalf("list on %s: %q, want a header and one peer", c.self.Name, out)
			}
			f := strings.Fields(lines[1])
			if f[0] != c.other.Node.PeerID() || !strings.Contains(lines[1], c.other.Name) ||
				!strings.Contains(lines[1], c.other.URL()) {
				t.Fatalf("list on %s: %q, want %s", c.self.Name, lines[1], c.other.Name)
			}
			if f[len(f)-1] != "yes" {
				return fmt.Errorf("peer listed as %q", f[len(f)-1])
			}
			return nil
		})
	}

	code, out, errOut = runCmd("federation", "remove", "--data", b.Dir, a.Node.PeerID())
	if code != 0 || !strings.Contains(out, "removed "+a.Node.PeerID()) {
		t.Fatalf("remove: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCmd("federation", "list", "--data", b.Dir)
	if code != 0 || !strings.Contains(out, "no federated nodes yet") {
		t.Errorf("list after remove: exit %d, %q", code, out)
	}
	code, _, errOut = runCmd("federation", "remove", "--data", b.Dir, a.Node.PeerID())
	if code != 1 || !strings.Contains(errOut, "not federated") {
		t.Errorf("remove again: exit %d, stderr %q; want 1, not federated", code, errOut)
	}
	code, _, errOut = runCmd("federation", "remove", "--data", b.Dir, "nobody")
	if code != 1 || !strings.Contains(errOut, "not a peer ID") {
		t.Errorf("remove a bad ID: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd("federation", "join", "--data", b.Dir, "parley-invite-v1.damaged")
	if code != 1 || !strings.Contains(errOut, "not a valid invite") {
		t.Errorf("join with a damaged invite: exit %d, stderr %q", code, errOut)
	}
}

func TestFederationUsage(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"federation"}, "say invite, join, list or remove"},
		{[]string{"federation", "trust"}, `unknown federation command "trust"`},
		{[]string{"federation", "invite"}, "--data is required"},
		{[]string{"federation", "invite", "--data", dir, "--ttl", "-1h"}, "want a positive duration"},
		{[]string{"federation", "invite", "--data", dir, "--ttl", "soon"}, "invalid value"},
		{[]string{"federation", "join", "--data", dir}, "give the INVITE"},
		{[]string{"federation", "join", "x"}, "--data is required"},
		{[]string{"federation", "join", "--data", dir, "x", "y"}, `unexpected argument "y"`},
		{[]string{"federation", "list", "--data", dir, "x"}, `unexpected argument "x"`},
		{[]string{"federation", "remove", "--data", dir}, "give the PEER-ID"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("parley %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	for _, args := range [][]string{{"federation", "invite"}, {"federation", "join", "x"}, {"federation", "list"},
		{"federation", "remove", "x"}} {
		code, _, stderr := runCmd(append(args, "--data", dir)...)
		if code != 1 || !strings.Contains(stderr, "no node is running") || !strings.Contains(stderr, "parley serve --data "+dir) {
			t.Errorf("parley %v without a node: exit %d, stderr %q", args, code, stderr)
		}
	}
	for _, args := range [][]string{{"federation", "--help"}, {"federation", "invite", "--help"},
		{"federation", "join", "--help"}, {"federation", "list", "-h"}, {"federation", "remove", "--help"}} {
		code, stdout, stderr := runCmd(args...)
		if code != 0 || !strings.Contains(stdout+stderr, "Usage: parley federation") || !strings.Contains(stdout+stderr, "Example:") {
			t.Errorf("parley %v: exit %d, output %q", args, code, stdout+stderr)
		}
	}
}
