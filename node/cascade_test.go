package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"encoding/json"
	"strings"
	"testing"
	"time"

	"parley/federation"
	"parley/identity"
	"parley/media"
	"parley/media/client"
	"parley/node/meeting"
)

// joinClient connects a Go participant publishing audio and video to room on n; it leaves
// when the test ends.
func joinClient(t *testing.T, n *Node, room, name string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Join(ctx, client.Config{URL: n.URL(), Room: room, Name: name,
		Publish: client.Publish{Audio: true, Video: true}, Logger: testLogger(t).With("client", name)})
	if err != nil {
		t.Fatalf("%s joins: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond every 50 ms for up to timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// fromOf sums what rx receives from participant id, by kind: frames and frames decrypted.
func fromOf(rx *client.Client, id string) (frames, decrypted map[string]uint64) {
	frames, decrypted = map[string]uint64{}, map[string]uint64{}
	for _, tr := range rx.Tracks() {
		if tr.Participant == id {
			frames[tr.Kind] += tr.Frames
			decrypted[tr.Kind] += tr.Decrypted
		}
	}
	return frames, decrypted
}

// TestMeetingAcrossTwoNodes: a participant on each of two federated nodes; each receives and
// decrypts the other's audio and video over the cascade, the link shows in /metrics, and a
// participant leaving takes its tracks away from the other.
func TestMeetingAcrossTwoNodes(t *testing.T) {
	start := time.Now()
	a, b := federatedPair(t)
	room, err := a.CreateRoom("Cascade")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(room.ID); return err == nil })
	ada := joinClient(t, a, room.ID, "Ada")
	bo := joinClient(t, b, room.ID, "Bo")
	for _, c := range []struct {
		what   string
		rx, tx *client.Client
	}{{"Bo's media at Ada", ada, bo}, {"Ada's media at Bo", bo, ada}} {
		eventually(t, 20*time.Second, c.what, func() bool {
			_, dec := fromOf(c.rx, c.tx.ID())
			return dec[client.KindAudio] > 10 && dec[client.KindVideo] > 3
		})
	}
	t.Logf("media across the nodes %v after start", time.Since(start).Round(time.Millisecond))
	f0, _ := fromOf(ada, bo.ID())
	g0, _ := fromOf(bo, ada.ID())
	time.Sleep(time.Second)
	f1, _ := fromOf(ada, bo.ID())
	g1, _ := fromOf(bo, ada.ID())
	for _, k := range []string{client.KindAudio, client.KindVideo} {
		if f1[k] <= f0[k] || g1[k] <= g0[k] {
			t.Errorf("%s frames not rising: Ada from Bo %d -> %d, Bo from Ada %d -> %d", k, f0[k], f1[k], g0[k], g1[k])
		}
	}

	// One link each way, two tracks each way, in /metrics too.
	for _, n := range []*Node{a, b} {
		st := n.CascadeStats()
		if len(st) != 1 || !st[0].Connected || len(st[0].Inbound) != 2 || len(st[0].Outbound) != 2 {
			t.Fatalf("cascade links %+v, want one connected, with two tracks each way", st)
		}
		if got := counterWith(t, n, "parley_cascade_link_up", nil); got != 1 {
			t.Errorf("parley_cascade_link_up = %v", got)
		}
		if got := counterWith(t, n, "parley_cascade_layers", map[string]string{"direction": "out"}); got != 2 {
			t.Errorf("parley_cascade_layers{direction=out} = %v, want 2", got)
		}
		if got := counterWith(t, n, "parley_cascade_bytes_total", map[string]string{"direction": "in"}); got == 0 {
			t.Error("parley_cascade_bytes_total{direction=in} = 0")
		}
		if got := counterWith(t, n, "parley_remote_tracks", nil); got != 2 {
			t.Errorf("parley_remote_tracks = %v, want 2", got)
		}
	}

	// The cascade serves a federated node only the rooms it has participants in.
	other, err := a.CreateRoom("Elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !a.casc.AllowNode(b.PublicKey()) || !a.casc.AllowRoom(b.PublicKey(), room.ID):
		t.Error("A refuses B in the room they share")
	case a.casc.AllowRoom(b.PublicKey(), other.ID):
		t.Error("A serves B a room B has nobody in")
	case a.casc.AllowNode(stranger.PublicKey()) || a.casc.AllowRoom(stranger.PublicKey(), room.ID):
		t.Error("A admits a node it is not federated with")
	}

	// Bo leaves: his tracks leave Ada's connection, and the link closes (no room shared).
	for _, n := range []*Node{a, b} {
		n.casc.mu.Lock()
		n.casc.linger = time.Second
		n.casc.mu.Unlock()
	}
	boID := bo.ID()
	if err := bo.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "Bo's tracks gone from Ada", func() bool {
		for _, tr := range ada.Tracks() {
			if tr.Participant == boID {
				return false
			}
		}
		return true
	})
	eventually(t, 10*time.Second, "A's link to B closed", func() bool { return len(a.CascadeStats()) == 0 })
}

// counterWith reads the value of the series of metric name whose labels include want.
func counterWith(t *testing.T, n *Node, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, want)
	return 0
}

func TestCascadeAddrDefaults(t *testing.T) {
	for _, c := range []struct{ http, want string }{
		{"127.0.0.1:8443", "127.0.0.1:7884"}, {"127.0.0.1:0", "127.0.0.1:0"}, {"[::1]:8443", "[::1]:7884"},
	} {
		cfg, err := Config{Name: "x", HTTPAddr: c.http}.withDefaults()
		if err != nil || cfg.CascadeAddr != c.want {
			t.Errorf("http_addr %s: cascade_addr %q, %v; want %q", c.http, cfg.CascadeAddr, err, c.want)
		}
	}
	cfg, err := Config{Name: "x", CascadeAddr: "127.0.0.1:9999"}.withDefaults()
	if err != nil || cfg.CascadeAddr != "127.0.0.1:9999" {
		t.Errorf("configured cascade_addr: %q, %v", cfg.CascadeAddr, err)
	}
	if _, err := ParseConfig([]byte(`{"name":"x","cascade_addr":"nope"}`)); err == nil || !strings.Contains(err.Error(), "cascade_addr") {
		t.Errorf("bad cascade_addr: %v", err)
	}
}

func TestTrackRoundTrip(t *testing.T) {
	tracks := []media.PublishedTrack{
		{ID: "t1", Participant: "p1", Kind: "audio", Source: "mic", Layers: 1, AudioLevelID: 3},
		{ID: "t2", Participant: "p1", Kind: "video", Source: "camera", Layers: 7},
		{ID: "t3", Participant: "p2", Kind: "video", Source: "screen", Layers: 1},
	}
	local := localTracks(tracks)
	var ps []federation.Participant
	for _, id := range []string{"p1", "p2"} {
		raw, err := meeting.EncodeInfo(meeting.Info{Name: id, Tracks: local[id]})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, federation.Participant{ID: id, Info: raw})
	}
	ps = append(ps, federation.Participant{ID: "p3", Info: json.RawMessage(`{"name":"x","tracks":[{"id":"t9","kind":"data"}]}`)})
	recs := []federation.StateRecord{
		{Node: "self", Participants: []federation.Participant{{ID: "me", Info: json.RawMessage(`{"name":"me"}`)}}},
		{Node: "other", Participants: ps},
	}
	wishes := meeting.LinkWishes(recs, func(peer.ID) bool { return true }, "self")
	if len(wishes) != 1 {
		t.Fatalf("wishes %+v", wishes)
	}
	got := remoteTracks(wishes[0].Tracks)
	if len(got) != 3 || got[0] != tracks[0] || got[1] != tracks[1] || got[2] != tracks[2] {
		t.Errorf("round trip: %+v", got)
	}
}
