package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/node"
)

// TestMain lets tests run this binary as `parley` in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage: parley COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"init", "--name", "x"}, "--data is required"},
		{[]string{"init", "--data", dir}, "--name is required"},
		{[]string{"init", "--data", dir, "--name", "x", "--http", "nope"}, "not host:port"},
		{[]string{"init", "--data", dir, "--name", "x", "--public-ip", "1.2"}, "not an IP address"},
		{[]string{"init", "--data", dir, "--name", "x", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key together"},
		{[]string{"init", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"init", "--data", dir, "--name", "x", "--oidc-issuer", "https://idp.example"}, "--oidc-issuer and --oidc-client-id together"},
		{[]string{"serve"}, "--data is required"},
		{[]string{"serve", "--data", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"room"}, "say create, list or delete"},
		{[]string{"room", "rename"}, `unknown room command "rename"`},
		{[]string{"room", "delete", "--data", "x"}, "--room is required"},
		{[]string{"room", "delete", "--data", "x", "--room", "https://n.example/r/nope"}, `neither a room ID nor a room link`},
		{[]string{"room", "create", "--data", dir}, "--title is required"},
		{[]string{"bench"}, "say which benchmark"},
		{[]string{"bench", "sfu", "--subscribers", "0"}, "want 1 to 10000"},
		{[]string{"bench", "sfu", "--duration", "soon"}, "invalid value"},
		{[]string{"version", "x"}, "unexpected argument"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("parley %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, node.ConfigFile)); err == nil {
		t.Error("a usage error wrote a configuration")
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"init", "--help"}, {"serve", "-h"}, {"room", "--help"},
		{"room", "create", "--help"}, {"demo", "--help"}, {"bench", "sfu", "--help"}, {"help", "serve"}} {
		code, stdout, stderr := runCmd(args...)
		if code != 0 || !strings.Contains(stdout+stderr, "Usage: parley") {
			t.Errorf("parley %v: exit %d, output %q", args, code, stdout+stderr)
		}
		if args[len(args)-1] != "help" && args[0] != "help" && args[0] != "--help" && args[0] != "room" && !strings.Contains(stdout+stderr, "Example:") {
			t.Errorf("parley %v: no example in %q", args, stdout+stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(stdout, "parley dev (go") {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestRoomCommandsWithoutNode(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCmd("room", "create", "--data", dir, "--title", "x")
	if code != 1 || !strings.Contains(stderr, "no node is running") || !strings.Contains(stderr, "parley serve --data "+dir) {
		t.Errorf("exit %d, stderr %q; want 1, saying no node runs and how to start it", code, stderr)
	}
	code, _, stderr = runCmd("serve", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "parley init") {
		t.Errorf("serve without init: exit %d, stderr %q", code, stderr)
	}
}

func TestInitTwiceFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	code, stdout, stderr := runCmd("init", "--data", dir, "--name", "Ministère X", "--http", "0.0.0.0:8443", "--public-ip", "203.0.113.7")
	if code != 0 || !strings.Contains(stdout, "SHA-256 fingerprint: ") || !strings.Contains(stdout, "parley serve --data "+dir) {
		t.Fatalf("init: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCmd("init", "--data", dir, "--name", "again")
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second init: exit %d, stderr %q", code, stderr)
	}
}

// TestServeAndRoomCreate runs `parley serve` as a child process, creates and lists rooms
// through the admin socket, and stops it with SIGTERM.
func TestServeAndRoomCreate(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCmd("init", "--data", dir, "--name", "cmd test", "--http", "127.0.0.1:0"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "serve", "--data", dir)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("serve printed nothing; stderr: %s", stderr.String())
	}
	first := lines.Text()
	if !strings.HasPrefix(first, "serving cmd test at http://127.0.0.1:") {
		t.Fatalf("first line %q", first)
	}
	base := strings.TrimPrefix(first, "serving cmd test at ")
	code, out, errOut := runCmd("room", "create", "--data", dir, "--title", "Weekly sync", "--lobby")
	if code != 0 || !strings.HasPrefix(out, base+"/r/") || !strings.Contains(out, "moderator link: "+base+"/r/") ||
		!strings.Contains(out, "?mod=") {
		t.Fatalf("room create: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd("room", "create", "--data", dir, "--title", "Défense only", "--org", "Défense")
	if code != 0 || !strings.HasPrefix(out, base+"/r/") {
		t.Fatalf("room create --org: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd("room", "create", "--data", dir, "--title", "Signed in only", "--guests", "no")
	if code != 0 || !strings.HasPrefix(out, base+"/r/") {
		t.Fatalf("room create --guests no: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd("room", "create", "--data", dir, "--title", "Bad", "--guests", "maybe")
	if code == 0 || !strings.Contains(errOut, `--guests "maybe"`) {
		t.Fatalf("room create with a bad --guests: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd("room", "create", "--data", dir, "--title", "Bad", "--org", "tab\there")
	if code == 0 || !strings.Contains(errOut, "organisation contains a control character") {
		t.Fatalf("room create with a bad --org: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCmd("room", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "Weekly sync") || !strings.Contains(out, base+"/r/") || !strings.Contains(out, "yes") ||
		!strings.Contains(out, "every federated node") || !strings.Contains(out, "Défense, cmd test") || strings.Contains(out, "Bad") || !strings.Contains(out, "refused") {
		t.Fatalf("room list: exit %d, %q", code, out)
	}
	// A backup while it serves, restored into a new directory, lists the same rooms.
	backup := filepath.Join(t.TempDir(), "parley.backup")
	if code, out, errOut := runCmd("backup", "--data", dir, backup); code != 0 || !strings.Contains(out, "backup written to "+backup) {
		t.Fatalf("backup: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runCmd("backup", "--data", dir, backup); code == 0 || !strings.Contains(errOut, "exists already") {
		t.Fatalf("backup over an existing file: exit %d, %q", code, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runCmd("restore", "--data", restored, backup); code != 0 || !strings.Contains(out, "restored into") {
		t.Fatalf("restore: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := runCmd("restore", "--data", restored, backup); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a used directory: exit %d, %q", code, errOut)
	}
	cfg, err := node.LoadConfig(restored)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "cmd test" {
		t.Errorf("restored configuration names %q", cfg.Name)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM; stderr: %s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, node.AdminSocket)); !os.IsNotExist(err) {
		t.Errorf("admin socket left behind after a graceful stop: %v", err)
	}
}
