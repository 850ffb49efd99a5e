package bench

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/media/client"
)

func TestProcStatParsing(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	stat := []byte("4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0")
	cpu, err := parseProcStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Errorf("parseProcStatCPU = %v, %v; want 3.25s", cpu, err)
	}
	if _, err := parseProcStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
	rss, err := parseProcStatusRSS([]byte("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || rss != 2048<<10 {
		t.Errorf("parseProcStatusRSS = %d, %v; want 2 MiB", rss, err)
	}
	if _, err := parseProcStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
	// This process: CPU time never decreases, RSS is plausible.
	pid := os.Getpid()
	c0, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	c1, _ := procCPU(pid)
	if c1 < c0 {
		t.Errorf("cpu time went from %v to %v", c0, c1)
	}
	if r, err := procRSS(pid); err != nil || r < 1<<20 || r > 64<<30 {
		t.Errorf("procRSS = %d, %v", r, err)
	}
}

func TestParseRoomURL(t *testing.T) {
	base, id, err := parseRoomURL([]byte("Room \"bench\" created:\n  http://127.0.0.1:41234/r/abcdefghijklmnopqrstuvwxyz\n"))
	if err != nil || base != "http://127.0.0.1:41234" || id != "abcdefghijklmnopqrstuvwxyz" {
		t.Errorf("got %q %q %v", base, id, err)
	}
	base, id, err = parseRoomURL([]byte("https://n.example:8443/meet/r/room2/"))
	if err != nil || base != "https://n.example:8443/meet" || id != "room2" {
		t.Errorf("got %q %q %v", base, id, err)
	}
	if _, _, err := parseRoomURL([]byte("created, see http://127.0.0.1:1/healthz")); err == nil {
		t.Error("output without a room URL accepted")
	}
}

func TestPatchBenchConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	in := `{"name":"bench","http_addr":"127.0.0.1:0","media_udp_addr":"0.0.0.0:7882","media_tcp_addr":"0.0.0.0:7881","public_ips":["1.2.3.4"]}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := patchBenchConfig(path, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	s := string(out)
	if !strings.Contains(s, `"media_udp_addr": "127.0.0.1:0"`) || !strings.Contains(s, `"media_tcp_addr": "127.0.0.1:0"`) ||
		!strings.Contains(s, `"name": "bench"`) || !strings.Contains(s, `"1.2.3.4"`) {
		t.Errorf("patched config:\n%s", s)
	}
}

func TestLatencyRecorder(t *testing.T) {
	l := newLatencyRecorder()
	t0 := time.Now()
	payload := func(i int) []byte { return []byte{0x90, 0x80, byte(i), 0x10, byte(i >> 8), byte(i), 7} }
	for i := range 100 {
		l.sent(client.PacketEvent{Kind: client.KindVideo, RID: "f", Payload: payload(i), Time: t0})
		l.sent(client.PacketEvent{Kind: client.KindVideo, RID: "q", Payload: []byte{0x10, byte(i), 1}, Time: t0})
	}
	l.received(client.PacketEvent{Kind: client.KindVideo, Payload: payload(1), Time: t0.Add(time.Hour)}) // not started
	l.start()
	for i := range 100 {
		// The SFU may rewrite the VP8 descriptor (here: a different picture id).
		p := payload(i)
		p[2] ^= 0x55
		l.received(client.PacketEvent{Kind: client.KindVideo, Payload: p, Time: t0.Add(time.Duration(i+1) * time.Millisecond)})
	}
	l.received(client.PacketEvent{Kind: client.KindVideo, Payload: []byte{0x10, 5, 1}, Time: t0}) // low layer: never recorded
	p50, p99, n := l.percentiles()
	if n != 100 || p50 != 51 || p99 != 100 || l.unmatched() != 1 {
		t.Errorf("p50 %v p99 %v n %d unmatched %d; want 51, 100, 100, 1", p50, p99, n, l.unmatched())
	}
	// A receive before its send waits for it and gives a negative sample; one whose send
	// never comes expires after two generations.
	l = newLatencyRecorder()
	l.start()
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1, 2, 3}, Time: t0})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{9, 9}, Time: t0})
	l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1, 2, 3}, Time: t0.Add(2 * time.Millisecond)})
	if p50, _, n := l.percentiles(); n != 1 || p50 != -2 || l.unmatched() != 1 {
		t.Errorf("early receive: p50 %v n %d unmatched %d; want -2, 1, 1", p50, n, l.unmatched())
	}
	for i := range 3 {
		l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{byte(i)}, Time: t0.Add(time.Duration(i+1) * 2 * latencyKeep)})
	}
	if l.unmatched() != 1 || l.expired != 1 {
		t.Errorf("unmatched %d (expired %d) after the early receive's send never came; want 1 expired", l.unmatched(), l.expired)
	}
	// First receives only: of three receives of a packet, the earliest counts, whether it
	// came before or after the send.
	l = newFirstLatencyRecorder()
	l.start()
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1}, Time: t0.Add(5 * time.Millisecond)})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1}, Time: t0.Add(3 * time.Millisecond)})
	l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1}, Time: t0.Add(4 * time.Millisecond)})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{1}, Time: t0.Add(6 * time.Millisecond)})
	l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{2}, Time: t0})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{2}, Time: t0.Add(7 * time.Millisecond)})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{2}, Time: t0.Add(9 * time.Millisecond)})
	p50, p99, n = l.percentiles()
	if n != 2 || p50 != 7 || p99 != 7 {
		t.Errorf("first receives: p50 %v p99 %v n %d; want samples -1 and 7", p50, p99, n)
	}
	// The first send counts too.
	l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{3}, Time: t0})
	l.sent(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{3}, Time: t0.Add(2 * time.Millisecond)})
	l.received(client.PacketEvent{Kind: client.KindAudio, Payload: []byte{3}, Time: t0.Add(5 * time.Millisecond)})
	if _, p99, n := l.percentiles(); n != 3 || p99 != 7 {
		t.Errorf("first send: p99 %v n %d; want a third sample of 5 ms", p99, n)
	}
	l.mu.Lock()
	if !slices.Equal(l.samples, []float64{-1, 7, 5}) {
		t.Errorf("first receives and sends: samples %v; want -1, 7, 5", l.samples)
	}
	l.mu.Unlock()
}

func TestPatchBenchConfigAddsMediaAddr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"name":"bench","http_addr":"127.0.0.1:0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := patchBenchConfig(path, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	if !strings.Contains(string(out), `"media_udp_addr": "127.0.0.1:0"`) || strings.Contains(string(out), "media_tcp") {
		t.Errorf("patched config:\n%s", out)
	}
}
