package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/testnet"
)

// TestDemo runs the demo on a kept directory, checks that the room's link on each of the
// three nodes serves the room page and that two people joining on different nodes receive
// each other's decrypted audio and video, stops it, and runs it again: the same room is
// reused and reaches every node again.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	first := runDemoUntilReady(t, dir, true)
	second := runDemoUntilReady(t, dir, false)
	for i := range first {
		if room(first[i]) != room(second[i]) {
			t.Errorf("second run: %s, want the room of the first run %s", second[i], first[i])
		}
	}
}

// runDemoUntilReady runs demo on dir until it prints its links, checks that each answers
// the room page (and with meet, that a meeting spans the first and last nodes), cancels it
// and checks that it stops cleanly. It returns the links.
func runDemoUntilReady(t *testing.T, dir string, meet bool) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w := io.Pipe()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- demo(ctx, demoOptions{Dir: dir, Host: "127.0.0.1", Log: testnet.TestLogger(t), Out: w, SignIn: true})
		w.Close()
	}()
	var links []string
	var names []string
	lines := bufio.NewScanner(r)
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "Press Ctrl-C") {
		if f := strings.Fields(lines.Text()); len(f) >= 2 && strings.Contains(f[len(f)-1], "/r/") {
			links = append(links, f[len(f)-1])
			names = append(names, strings.Join(f[:len(f)-1], " "))
		}
	}
	ready := time.Since(start)
	go func() { _, _ = io.Copy(io.Discard, r) }()
	if len(links) != 3 {
		cancel()
		t.Fatalf("demo printed links %q (error %v), want three", links, <-done)
	}
	t.Logf("demo ready in %v: %q", ready.Round(time.Millisecond), links)
	if strings.Join(names, "|") != "Ministère A|Ministère B|Défense" {
		t.Errorf("nodes %q", names)
	}
	for i, l := range links {
		if !strings.HasPrefix(l, "http://127.0.0.1:") || room(l) != room(links[0]) {
			t.Errorf("link %q: want a loopback link to the room of %q", l, links[0])
		}
		for _, other := range links[:i] {
			if base(l) == base(other) {
				t.Errorf("two nodes at %s", base(l))
			}
		}
		resp, err := http.Get(l)
		if err != nil {
			t.Fatalf("GET %s: %v", l, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
			t.Errorf("GET %s (%s): HTTP %d", l, names[i], resp.StatusCode)
		}
		// Sign-in sends the browser to the demo's test provider, as this node's client.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err = noFollow.Get(base(l) + "/auth/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "client_id="+demoClientID(i)) {
			t.Errorf("sign-in on %s: %d to %q", names[i], resp.StatusCode, loc)
		}
	}
	if meet {
		took := testnet.MeetThroughLinks(t, 30*time.Second, links[0], links[len(links)-1])
		t.Logf("participants on two demo nodes decrypt each other's audio and video %v after joining",
			took.Round(time.Millisecond))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo stopped with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20 s of its context ending")
	}
	return links
}

func room(link string) string { _, id, _ := strings.Cut(link, "/r/"); return id }
func base(link string) string { b, _, _ := strings.Cut(link, "/r/"); return b }

func TestDemoUsage(t *testing.T) {
	for _, addr := range []string{"nope", "127.0.0.1:x", "127.0.0.1:65535"} {
		code, _, stderr := runCmd("demo", "--http", addr)
		if code != 2 || !strings.Contains(stderr, "--http") {
			t.Errorf("demo --http %s: exit %d, stderr %q", addr, code, stderr)
		}
	}
}
