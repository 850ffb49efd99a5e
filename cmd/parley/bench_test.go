package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchGossip runs small gossip benchmarks through the command line, with federation
// parts of nodes and with full nodes, and reads their result lines.
func TestBenchGossip(t *testing.T) {
	t.Run("federation", func(t *testing.T) { benchGossip(t) })
	t.Run("full", func(t *testing.T) { benchGossip(t, "--full") })
}

func benchGossip(t *testing.T, flags ...string) {
	args := append([]string{"bench", "gossip", "--nodes", "4", "--changes", "4", "--chats", "2"}, flags...)
	code, out, errOut := runCmd(args...)
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		Nodes         *int     `json:"nodes"`
		ConvergeP50Ms *float64 `json:"converge_p50_ms"`
		ConvergeP99Ms *float64 `json:"converge_p99_ms"`
		HealMs        *float64 `json:"heal_ms"`
	}
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.Nodes == nil || res.ConvergeP50Ms == nil || res.ConvergeP99Ms == nil || res.HealMs == nil {
		t.Fatalf("last line %q: %v; want the four result fields", lines[len(lines)-1], err)
	}
	if *res.Nodes != 4 || *res.ConvergeP50Ms <= 0 || *res.ConvergeP99Ms < *res.ConvergeP50Ms || *res.HealMs <= 0 {
		t.Errorf("result %s", lines[len(lines)-1])
	}
	if !strings.Contains(out, "identical on every node") || !strings.Contains(out, "peak RSS") {
		t.Errorf("no table in %q", out)
	}
	t.Logf("%s", out)
}

func TestBenchGossipUsage(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--nodes 1", "want 2 to 100"},
		{"--nodes 101", "want 2 to 100"},
		{"--changes 0", "want 1 to 10000"},
		{"--chats 11", "want 1 to 10"},
		{"x", `unexpected argument "x"`},
	} {
		code, _, stderr := runCmd(append([]string{"bench", "gossip"}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("bench gossip %s: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	code, stdout, stderr := runCmd("bench", "gossip", "--help")
	if code != 0 || !strings.Contains(stdout+stderr, "converge_p99_ms") || !strings.Contains(stdout+stderr, "Example:") {
		t.Errorf("bench gossip --help: exit %d, %q", code, stdout+stderr)
	}
}
