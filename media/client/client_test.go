package client

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"parley/identity"
	"parley/media/signal"
)

// testLogger routes logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool // set when the test ends: pion callbacks may still log after that
}

func newTWriter(t testing.TB) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.stopped = true; w.mu.Unlock() }) // runs after later cleanups
	return w
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func loopbackOnly(ip net.IP) bool { return ip.IsLoopback() }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClientAgainstFakeNode(t *testing.T) {
	node, srv := newFakeNode(t)
	seed := maphash.MakeSeed()
	var mu sync.Mutex
	sent := map[uint64]time.Time{}
	var matched, unmatched int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Join(ctx, Config{
		URL: srv.URL, Room: "room1", Name: "Ada", Logger: testLogger(t),
		Publish:  Publish{Audio: true, Video: true, Simulcast: true},
		IPFilter: loopbackOnly, NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4},
		OnPacketSent: func(e PacketEvent) {
			if e.RID == signal.RIDHigh {
				mu.Lock()
				sent[maphash.Bytes(seed, PayloadBody(e.Kind, e.Payload))] = e.Time
				mu.Unlock()
			}
		},
		OnPacketReceived: func(e PacketEvent) {
			if e.Kind != KindVideo {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if at, ok := sent[maphash.Bytes(seed, PayloadBody(e.Kind, e.Payload))]; ok && !e.Time.Before(at) {
				matched++
			} else {
				unmatched++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-node.origin; got != srv.URL {
		t.Errorf("Origin %q, want %q", got, srv.URL)
	}
	if c.ID() != "p-me" || c.Room().Title != "Test" {
		t.Errorf("ID %q room %+v", c.ID(), c.Room())
	}

	// Node messages: participants, chat history and live chat, speakers, errors.
	waitFor(t, 5*time.Second, "participants Bob and Carol with hand", func() bool {
		ps := c.Participants()
		return len(ps) == 2 && ps[0].ID == "p-other" && ps[1].ID == "p3" && ps[1].Hand
	})
	waitFor(t, 5*time.Second, "speakers", func() bool { s := c.Speakers(); return len(s) == 1 && s[0] == "p-other" })
	var nodeErr *NodeError
	var sawBad bool
	for nodeErr == nil || !sawBad {
		select {
		case err := <-c.Errors():
			if ne := (*NodeError)(nil); errors.As(err, &ne) {
				nodeErr = ne
			} else if errors.Is(err, signal.ErrBadMessage) {
				sawBad = true
			} else {
				t.Logf("other error: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("errors: node error %v, bad message seen %v", nodeErr, sawBad)
		}
	}
	if nodeErr.Code != signal.CodeInternal || nodeErr.Message != "test error" {
		t.Errorf("node error %+v", nodeErr)
	}

	// Media: the pub offer named mic and camera; all three rids and the audio arrived at the node;
	// the reflected top layer and audio arrive back, with keyframes at full size.
	waitFor(t, 5*time.Second, "pub offer", func() bool { return len(node.received(signal.TypeOffer)) > 0 })
	offers := node.received(signal.TypeOffer)
	sources := map[string]bool{}
	for _, tr := range offers[0].Tracks {
		sources[tr.Source] = true
	}
	if len(offers[0].Tracks) != 2 || !sources[signal.SourceMic] || !sources[signal.SourceCamera] {
		t.Errorf("pub offer tracks %+v", offers[0].Tracks)
	}
	if !strings.Contains(offers[0].SDP, "a=simulcast:send q;h;f") {
		t.Errorf("pub offer has no simulcast q;h;f:\n%s", offers[0].SDP)
	}
	waitFor(t, 10*time.Second, "video and audio received with a keyframe", func() bool {
		ts := c.Tracks()
		if len(ts) != 2 {
			return false
		}
		a, v := ts[0], ts[1] // ordered by participant then source: mic < camera is false; camera < mic
		if a.Source == signal.SourceCamera {
			a, v = v, a
		}
		return v.ID == "t-video" && v.Participant == "p-other" && v.Kind == KindVideo && v.Keyframes > 0 &&
			v.Frames > 10 && a.ID == "t-audio" && a.Kind == KindAudio && a.Packets > 20
	})
	for _, tr := range c.Tracks() {
		t.Logf("track %+v", tr)
		if tr.Kind == KindVideo && (tr.Width != 1280 || tr.Height != 720) {
			t.Errorf("video keyframe size %dx%d, want 1280x720", tr.Width, tr.Height)
		}
	}
	node.mu.Lock()
	rids, plis, pli := len(node.rids), node.pubPLIs, node.pli
	node.mu.Unlock()
	// A PLI restarts the clip at its keyframe well before the 3 s clip would loop.
	keys := func() uint64 {
		for _, tr := range c.Tracks() {
			if tr.Kind == KindVideo {
				return tr.Keyframes
			}
		}
		return 0
	}
	before, asked := keys(), time.Now()
	pli()
	waitFor(t, 1500*time.Millisecond, "keyframe after PLI", func() bool { return keys() > before })
	t.Logf("keyframe %v after PLI", time.Since(asked))
	if rids != 4 {
		t.Errorf("node received %v, want q, h, f and audio", node.rids)
	}
	t.Logf("PLIs forwarded to the publisher: %d", plis)
	mu.Lock()
	if matched == 0 || unmatched > matched/10 {
		t.Errorf("payload matching: %d matched, %d unmatched", matched, unmatched)
	}
	t.Logf("received video packets matched to sent: %d (unmatched %d)", matched, unmatched)
	mu.Unlock()

	// Client messages.
	if err := c.SendChat("hi there"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetQuality("t-video", signal.QualityLow); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "chat echoed", func() bool {
		ch := c.Chat()
		return len(ch) == 3 && errors.Is(ch[0].Err, identity.ErrUnknownKID) && ch[1].Text == "hello" && ch[2].Text == "hi there"
	})
	// The client announces its keys to everyone certified: in the end to Bob and Carol (not
	// Dan, who left), in envelopes Bob opens.
	toBobAndCarol := func(m *signal.Message) bool {
		body, err := identity.ParseEnvelope(*m.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		to := slices.Sorted(slices.Values(body.To))
		return slices.Equal(to, []string{"p-other", "p3"})
	}
	waitFor(t, 5*time.Second, "a key envelope to Bob and Carol", func() bool {
		return slices.ContainsFunc(node.received(signal.TypeKey), toBobAndCarol)
	})
	for _, m := range node.received(signal.TypeKey) {
		if _, _, err := identity.OpenKeyEnvelope(*m.Envelope, node.joinCert(t), node.bobIdentity(), "room1"); err != nil {
			t.Errorf("Bob cannot open the client's envelope: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "layer message", func() bool {
		l := node.received(signal.TypeLayer)
		return len(l) == 1 && l[0].Track == "t-video" && l[0].Quality == signal.QualityLow
	})
	if j := node.received(signal.TypeJoin); len(j) != 1 || j[0].Name != "Ada" {
		t.Errorf("join %+v", j)
	}

	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s")
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
	waitFor(t, 5*time.Second, "leave", func() bool { return len(node.received(signal.TypeLeave)) == 1 })
	node.mu.Lock()
	if len(node.badInput) > 0 {
		t.Errorf("client sent messages the node's decoder rejects: %v", node.badInput)
	}
	node.mu.Unlock()
	if err := c.SendChat("after close"); !errors.Is(err, ErrClosed) {
		t.Errorf("SendChat after Close: %v, want ErrClosed", err)
	}
}

func TestJoinErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/forbidden") {
			http.Error(w, "bad origin", http.StatusForbidden)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(r.Context()); err != nil {
			return
		}
		_ = ws.Write(r.Context(), websocket.MessageText,
			[]byte(`{"type":"error","code":"unknown_room","error":"no such room"}`))
		_, _, _ = ws.Read(r.Context())
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := Join(ctx, Config{URL: srv.URL, Room: "missing", Logger: testLogger(t)})
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Code != signal.CodeUnknownRoom {
		t.Errorf("Join unknown room: %v, want NodeError unknown_room", err)
	}
	_, err = Join(ctx, Config{URL: srv.URL, Room: "forbidden", Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("Join refused upgrade: %v, want an error naming HTTP 403", err)
	}
	if _, err := Join(ctx, Config{URL: srv.URL}); err == nil {
		t.Error("Join without room accepted")
	}
	if _, err := Join(ctx, Config{URL: srv.URL, Room: "r", Publish: Publish{Simulcast: true}}); err == nil {
		t.Error("Join with Simulcast but no Video accepted")
	}
}

// FuzzHandleNodeMessage feeds arbitrary node messages (as the client's decoder accepts them)
// to a client's message handler: whatever the node sends, the client must not panic.
func FuzzHandleNodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"participant_joined","participant":{"id":"p1","name":"A"}}`,
		`{"type":"participant_left","id":"p1"}`,
		`{"type":"chat","chat":{"seq":1,"from":"p1","name":"A","sframe":"AAECAwQFBgcICQoLDA0ODxAREhM=","time":1}}`,
		`{"type":"key","envelope":{"body":"{\"v\":1,\"room\":\"r\",\"from\":\"p1\",\"kid\":65536,\"to\":[\"p2\"],\"age\":\"\",\"iat_ms\":1}","sig":"c2ln"}}`,
		`{"type":"waiting","waiting":[{"id":"p3","name":"Cy"}]}`,
		`{"type":"speakers","speakers":["p1"]}`,
		`{"type":"offer","pc":"sub","sdp":"v=0\r\n","tracks":{"0":{"id":"t","participant":"p","kind":"video","source":"camera"}}}`,
		`{"type":"answer","pc":"pub","sdp":"v=0\r\n"}`,
		`{"type":"candidate","pc":"sub","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`,
		`{"type":"error","code":"internal","error":"x"}`,
	} {
		f.Add([]byte(s))
	}
	api, err := newAPI(Config{})
	if err != nil {
		f.Fatal(err)
	}
	me, err := identity.GenerateUserIdentity()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := signal.DecodeFromNode(data)
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := &Client{cfg: Config{}, log: slog.New(slog.DiscardHandler), api: api, ctx: ctx, cancel: cancel,
			out: make(chan *signal.Message, outBuffered), errs: make(chan error, errsBuffered),
			done: make(chan struct{}), participants: map[string]signal.Participant{},
			subTracks: map[string]signal.Track{}, received: map[string]*trackCounter{}}
		c.e2ee = newE2EE(c, me)
		if c.sub, err = c.newPeer(signal.PCSub); err != nil {
			t.Fatal(err)
		}
		c.setupReceive()
		_ = c.handle(m)
		c.Close()
	})
}
