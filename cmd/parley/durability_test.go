package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/testnet"
)

// startServe runs `parley serve --data dir` as a child process and returns it with the
// node's base URL, once it serves.
func startServe(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--data", dir)
	cmd.Env = append(os.Environ(), "PARLEY_TEST_AS_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("serve printed nothing")
	}
	_, base, ok := strings.Cut(lines.Text(), " at ")
	if !ok {
		t.Fatalf("serve's first line %q", lines.Text())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return cmd, base
}

// A chat message the node has handed back, and the room it was said in, survive the node
// being killed with SIGKILL: every store write is synced before it is acknowledged.
func TestKillNineKeepsChat(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCmd("init", "--data", dir, "--name", "durable", "--http", "127.0.0.1:0"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	serve, base := startServe(t, dir)
	code, out, errOut := runCmd("room", "create", "--data", dir, "--title", "Kept")
	if code != 0 {
		t.Fatalf("room create: %q %q", out, errOut)
	}
	roomID := strings.TrimSpace(strings.Split(strings.TrimPrefix(strings.Split(out, "\n")[0], base+"/r/"), "?")[0])
	s := testnet.DialSignal(t, base, roomID)
	s.Join("Ada")
	const text = "said just before the crash"
	if err := s.SendMessage(testnet.ChatMessage([]byte(text))); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := s.Next(10*time.Second, nil)
		if err != nil {
			t.Fatalf("the node did not hand the chat back: %v", err)
		}
		if m.Type == "chat" {
			break
		}
	}
	s.CloseNow()
	if err := serve.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = serve.Wait()

	_, base = startServe(t, dir) // the admin socket the kill left behind is taken over
	s = testnet.DialSignal(t, base, roomID)
	j := s.Join("Bo")
	if len(j.History) != 1 || string(j.History[0].SFrame) != text {
		t.Fatalf("history after SIGKILL and a restart: %+v", j.History)
	}
}
