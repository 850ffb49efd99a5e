package main

import (
	"encoding/json"
	"os"
	"os/exec"
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
		ActionP50Ms   *float64 `json:"action_p50_ms"`
		ActionP99Ms   *float64 `json:"action_p99_ms"`
	}
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.Nodes == nil || res.ConvergeP50Ms == nil || res.ConvergeP99Ms == nil || res.HealMs == nil ||
		res.ActionP50Ms == nil || res.ActionP99Ms == nil {
		t.Fatalf("last line %q: %v; want the six result fields", lines[len(lines)-1], err)
	}
	if *res.Nodes != 4 || *res.ConvergeP50Ms <= 0 || *res.ConvergeP99Ms < *res.ConvergeP50Ms || *res.HealMs <= 0 ||
		*res.ActionP50Ms < *res.ConvergeP50Ms || *res.ActionP99Ms < *res.ActionP50Ms {
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

// TestBenchCascade runs a short cascade benchmark through the command line, this test binary
// standing in for parley as the two node processes, and checks its result line: the hop was
// measured, the far node forwarded, and one copy of each (track, layer) crossed the link.
func TestBenchCascade(t *testing.T) {
	t.Setenv("PARLEY_TEST_AS_MAIN", "1")
	code, out, errOut := runCmd("bench", "cascade", "--subscribers", "2", "--duration", "3s")
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out, errOut)
	}
	t.Logf("%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		HopP50Ms   *float64 `json:"hop_p50_ms"`
		HopP99Ms   *float64 `json:"hop_p99_ms"`
		PPSPerCore *float64 `json:"pps_per_core"`
		Copies     *float64 `json:"link_copies_per_track_layer"`
		Subs       int      `json:"subscribers"`
		Forwarded  float64  `json:"forwarded_pps"`
		LinkLayers int      `json:"link_layers"`
	}
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), &res); err != nil || res.HopP50Ms == nil || res.HopP99Ms == nil ||
		res.PPSPerCore == nil || res.Copies == nil {
		t.Fatalf("last line %q: %v; want hop_p50_ms, hop_p99_ms, pps_per_core and link_copies_per_track_layer", last, err)
	}
	if !strings.HasPrefix(last, `{"hop_p50_ms":`) {
		t.Errorf("result line %q does not start with hop_p50_ms", last)
	}
	if res.Subs != 2 || res.Forwarded <= 0 || *res.PPSPerCore <= 0 || *res.HopP99Ms < *res.HopP50Ms {
		t.Errorf("result %s", last)
	}
	// Audio and the top video layer cross once each; retransmissions are not copies.
	if res.LinkLayers != 2 || *res.Copies < 0.95 || *res.Copies > 1.05 {
		t.Errorf("%d (track, layer) pairs on the link, %v copies each; want 2 and 1", res.LinkLayers, *res.Copies)
	}
}

func TestBenchCascadeUsage(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--subscribers 0", "want 1 to 10000"},
		{"--duration 0s", "positive duration"},
		{"x", `unexpected argument "x"`},
	} {
		code, _, stderr := runCmd(append([]string{"bench", "cascade"}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("bench cascade %s: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	code, stdout, stderr := runCmd("bench", "cascade", "--help")
	if code != 0 || !strings.Contains(stdout+stderr, "link_copies_per_track_layer") {
		t.Errorf("bench cascade --help: exit %d, %q", code, stdout+stderr)
	}
}

// TestBenchJoin runs a short join benchmark through the command line on two nodes (this test
// binary standing in for parley), with Chromium, and checks its result line.
func TestBenchJoin(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil && os.Getenv("PARLEY_CHROMIUM") == "" {
		if _, err := os.Stat("/usr/bin/chromium"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("no Chromium in CI: the test command installs Debian's chromium")
			}
			t.Skip("no Chromium")
		}
	}
	t.Setenv("PARLEY_TEST_AS_MAIN", "1")
	code, out, errOut := runCmd("bench", "join", "--trials", "2", "--nodes", "2")
	if code != 0 {
		t.Fatalf("exit %d; stdout %q; stderr %q", code, out, errOut)
	}
	t.Logf("%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	var res map[string]float64
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}
	p50, p99, most := res["join_to_frame_p50_ms"], res["join_to_frame_p99_ms"], res["join_to_frame_max_ms"]
	if res["nodes"] != 2 || res["trials"] != 2 || p50 <= 0 || p99 < p50 || most < p99 {
		t.Errorf("result %s", last)
	}
	if n := strings.Count(out, "  trial "); n != 2 {
		t.Errorf("%d trial lines, want 2", n)
	}
}

func TestBenchJoinUsage(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--trials 0", "want 1 to 1000"},
		{"--nodes 3", "want 1 or 2"},
	} {
		code, _, stderr := runCmd(append([]string{"bench", "join"}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("bench join %s: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}
