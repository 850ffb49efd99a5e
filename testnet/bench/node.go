package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Bounds of the benchmark's node process management.
const (
	benchInitTimeout  = 20 * time.Second
	benchReadyTimeout = 20 * time.Second
	benchStopTimeout  = 5 * time.Second
	benchTailBytes    = 4 << 10
	benchAliveEvery   = 100 * time.Millisecond
)

// benchNode is a node under test running as its own process, with its data in a temporary
// directory that Close removes.
type benchNode struct {
	binary string
	dir    string
	log    *slog.Logger
	cmd    *exec.Cmd
	output *TailBuffer   // the tail of the serve process's stdout and stderr
	exited chan struct{} // closed when the serve process has exited
	err    error         // its exit status, set before exited is closed
}

// startBenchNode initialises a node called name in a fresh temporary directory (HTTP, media,
// federation and cascade on loopback, port 0), with set's config fields on top, and starts
// `<binary> serve` on it.
func startBenchNode(ctx context.Context, binary, name string, log *slog.Logger, set map[string]any) (*benchNode, error) {
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temporary data directory: %w", err)
	}
	n := &benchNode{binary: binary, dir: dir, log: log, output: &TailBuffer{Max: benchTailBytes},
		exited: make(chan struct{})}
	ictx, cancel := context.WithTimeout(ctx, benchInitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ictx, binary, "init", "--data", dir, "--name", name,
		"--http", "127.0.0.1:0").CombinedOutput()
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("bench: %s init: %w: %s", binary, err, tail(out))
	}
	if err := patchBenchConfig(filepath.Join(dir, "config.json"), log, set); err != nil {
		n.Close()
		return nil, err
	}
	n.cmd = exec.Command(binary, "serve", "--data", dir)
	n.cmd.Stdout, n.cmd.Stderr = n.output, n.output
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: we stop all of it
	if err := n.cmd.Start(); err != nil {
		n.Close()
		return nil, fmt.Errorf("bench: start %s serve: %w", binary, err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	return n, nil
}

// pid is the node process's id.
func (n *benchNode) pid() int { return n.cmd.Process.Pid }

// alive returns an error carrying the node's last output if its process has exited.
func (n *benchNode) alive() error {
	select {
	case <-n.exited:
		return fmt.Errorf("bench: node process exited (%v): %s", n.err, tail(n.output.Bytes()))
	default:
		return nil
	}
}

// createRoom creates the benchmark's room with `<binary> room create` once the node is ready
// and returns the node's base URL and the room ID from the room URL it prints
// (BASE/r/ROOMID).
func (n *benchNode) createRoom(ctx context.Context) (base, roomID string, err error) {
	out, err := n.admin(ctx, "room", "create", "--data", n.dir, "--title", "bench")
	if err != nil {
		return "", "", err
	}
	base, roomID, err = parseRoomURL(out)
	if err != nil {
		return "", "", fmt.Errorf("bench: room create: %w", err)
	}
	return base, roomID, nil
}

// admin runs `<binary> ARGS…` (an admin subcommand, which talks to the node over its admin
// socket) and returns its output, retrying until the node is ready to answer, for at most
// benchReadyTimeout.
func (n *benchNode) admin(ctx context.Context, args ...string) ([]byte, error) {
	deadline := time.Now().Add(benchReadyTimeout)
	for {
		if err := n.alive(); err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		out, err := exec.CommandContext(cctx, n.binary, args...).CombinedOutput()
		cancel()
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: %s %s did not succeed within %v: %v: %s; node output: %s",
				n.binary, strings.Join(args[:min(2, len(args))], " "), benchReadyTimeout, err, tail(out), tail(n.output.Bytes()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Close stops the node process (SIGTERM to its group, SIGKILL after benchStopTimeout) and
// removes its data directory.
func (n *benchNode) Close() {
	if n.cmd != nil && n.cmd.Process != nil {
		pgid := n.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(benchStopTimeout):
			n.log.Warn("node did not stop on SIGTERM; killing it", "pid", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-n.exited
		}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		n.log.Warn("remove bench data directory", "dir", n.dir, "err", err)
	}
}

// patchBenchConfig points the node's media sockets at loopback, port 0, whatever `init`
// chose, so that the benchmark never needs a free fixed port and stays on one machine. It
// matches existing keys ignoring case, '_' and '-', and adds "media_udp_addr" if absent; then it
// sets the fields of set.
func patchBenchConfig(path string, log *slog.Logger, set map[string]any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: read node config: %w", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("bench: node config %s: %w", path, err)
	}
	udp := false
	for k, v := range cfg {
		switch strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k)) {
		case "mediaudpaddr":
			cfg[k], udp = "127.0.0.1:0", true
		case "mediatcpaddr":
			if s, _ := v.(string); s != "" {
				cfg[k] = "127.0.0.1:0"
			}
		}
	}
	if !udp {
		cfg["media_udp_addr"] = "127.0.0.1:0" // node.Config's key; init omits it when defaulted
	}
	for k, v := range set {
		cfg[k] = v
	}
	log.Debug("bench node config patched", "config", path)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode node config: %w", err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		return fmt.Errorf("bench: write node config: %w", err)
	}
	return nil
}

// parseRoomURL finds the room URL (http[s]://HOST[/PREFIX]/r/ROOMID) in `room create` output.
func parseRoomURL(out []byte) (base, roomID string, err error) {
	for _, f := range strings.Fields(string(out)) {
		if !strings.HasPrefix(f, "http://") && !strings.HasPrefix(f, "https://") {
			continue
		}
		u, err := url.Parse(f)
		if err != nil {
			continue
		}
		i := strings.LastIndex(u.Path, "/r/")
		if i < 0 {
			continue
		}
		id := strings.Trim(u.Path[i+len("/r/"):], "/")
		if id == "" || strings.Contains(id, "/") {
			continue
		}
		return u.Scheme + "://" + u.Host + u.Path[:i], id, nil
	}
	return "", "", errors.New("no room URL (…/r/ROOMID) in its output: " + tail(out))
}

// benchDefaults fills in the options every process benchmark shares: a discarding logger and
// output, and the running executable as the parley binary.
func benchDefaults(binary *string, log **slog.Logger, out *io.Writer) error {
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
	if *out == nil {
		*out = io.Discard
	}
	if *binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find the parley binary: %w", err)
		}
		*binary = exe
	}
	return nil
}

// writeResult prints a benchmark's result as its last output line, in JSON.
func writeResult(out io.Writer, res any) error {
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("bench: encode result: %w", err)
	}
	fmt.Fprintf(out, "%s\n", line)
	return nil
}

// benchSleep waits d unless ctx ends or a node process exits first (noticed within
// benchAliveEvery).
func benchSleep(ctx context.Context, d time.Duration, nodes ...*benchNode) error {
	end := time.Now().Add(d)
	for {
		for _, n := range nodes {
			if err := n.alive(); err != nil {
				return err
			}
		}
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(left, benchAliveEvery))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tail is the end of a command's output, for error messages.
func tail(out []byte) string {
	out = bytes.TrimSpace(out)
	const max = 1500
	if len(out) > max {
		out = append([]byte("…"), out[len(out)-max:]...)
	}
	if len(out) == 0 {
		return "(no output)"
	}
	return string(out)
}

// metricsBase waits for the line `serve` prints about its private metrics listener
// ("metrics at URL/metrics") and returns the listener's base URL.
func (n *benchNode) metricsBase(ctx context.Context) (string, error) {
	deadline := time.Now().Add(benchReadyTimeout)
	for {
		for _, line := range strings.Split(string(n.output.Bytes()), "\n") {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics at "); ok {
				return strings.TrimSuffix(u, "/metrics"), nil
			}
		}
		if err := n.alive(); err != nil {
			return "", err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("bench: the node printed no metrics address: %s", tail(n.output.Bytes()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// federatePair makes a and b trust each other: an invite of a redeemed by b, through their
// admin sockets.
func federatePair(ctx context.Context, a, b *benchNode) error {
	out, err := a.admin(ctx, "federation", "invite", "--data", a.dir)
	if err != nil {
		return err
	}
	invite := ""
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "parley-invite-") {
			invite = f
		}
	}
	if invite == "" {
		return fmt.Errorf("bench: no invite in the output of federation invite: %s", tail(out))
	}
	_, err = b.admin(ctx, "federation", "join", "--data", b.dir, invite)
	return err
}

// waitRoomAt waits until the node at base knows room (its directory learnt it by gossip).
func waitRoomAt(ctx context.Context, base, room string) error {
	return Poll(benchReadyTimeout, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/rooms/"+room, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("room %s at %s: %s", room, base, resp.Status)
		}
		return nil
	})
}
