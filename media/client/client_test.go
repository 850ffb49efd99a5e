package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	"github.com/pion/rtcp"
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

// fakeNode is a minimal node for one client: it speaks the signalling protocol, answers the
// client's pub offer with a real pion peer connection, and reflects the client's top simulcast
// layer and audio back to it on pc "sub" as tracks of a participant "p-other". It forwards the
// client's PLIs to the client's publisher. Every message the client sends is decoded with the
// node's strict decoder and recorded.
type fakeNode struct {
	t      *testing.T
	api    *webrtc.API
	origin chan string

	mu       sync.Mutex
	got      []*signal.Message
	rids     map[string]bool // simulcast rids (and "audio") the pub side received
	pubPLIs  int
	pli      func() // asks the client's top layer for a keyframe, once media flows
	badInput []error
	bob      *identity.UserIdentity // Bob's keys
	meCert   *identity.CertBody     // the certificate the fake node issued the client
}

func (n *fakeNode) bobIdentity() *identity.UserIdentity {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bob
}

func (n *fakeNode) joinCert(t *testing.T) *identity.CertBody {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.meCert == nil {
		t.Fatal("the fake node issued no certificate")
	}
	return n.meCert
}

func newFakeNode(t *testing.T) (*fakeNode, *httptest.Server) {
	api, err := newAPI(Config{IPFilter: loopbackOnly, NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4}})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{t: t, api: api, origin: make(chan string, 1), rids: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	return n, srv
}

func (n *fakeNode) record(m *signal.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, m)
}

func (n *fakeNode) received(typ string) []*signal.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*signal.Message
	for _, m := range n.got {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

func (n *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	t := n.t
	if !strings.HasPrefix(r.URL.Path, "/ws/room1") {
		http.NotFound(w, r)
		return
	}
	n.origin <- r.Header.Get("Origin")
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		t.Errorf("accept: %v", err)
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	send := func(m *signal.Message) {
		data, _ := json.Marshal(m)
		if err := ws.Write(ctx, websocket.MessageText, data); err != nil && ctx.Err() == nil {
			t.Logf("fake node send %s: %v", m.Type, err)
		}
	}
	readMsg := func() (*signal.Message, error) {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		m, err := signal.Decode(data)
		if err != nil {
			n.mu.Lock()
			n.badInput = append(n.badInput, err)
			n.mu.Unlock()
			return nil, err
		}
		n.record(m)
		return m, nil
	}
	join, err := readMsg()
	if err != nil || join.Type != signal.TypeJoin {
		t.Errorf("first message %+v, %v; want join", join, err)
		return
	}
	// The fake node certifies everyone; Bob has real keys, announces one to the client and
	// chats with it; the history's message is under a key the client never got.
	nk, _ := identity.GenerateNodeKey()
	certify := func(p *signal.Participant, tag uint32, pub identity.PublicIdentity) *identity.CertBody {
		now := time.Now()
		body := identity.CertBody{V: 1, ID: p.ID, Tag: tag, Name: p.Name,
			Org: "Fake", Node: nk.PublicKey(), Room: "room1", SigPub: pub.SigPub, Age: pub.Age,
			IAT: now.Unix(), EXP: now.Add(time.Hour).Unix()}
		cert, err := identity.IssueCertificate(nk, body)
		if err != nil {
			t.Errorf("certify %s: %v", p.Name, err)
		}
		p.Cert = &cert
		return &body
	}
	mine, err := identity.ParsePublicIdentity(join.Keys.SigPub, join.Keys.Age)
	if err != nil {
		t.Errorf("client's join keys: %v", err)
		return
	}
	bobID, _ := identity.GenerateUserIdentity()
	n.mu.Lock()
	n.bob = bobID
	n.mu.Unlock()
	me := signal.Participant{ID: "p-me", Name: join.Name}
	meCert := certify(&me, 1, mine)
	n.mu.Lock()
	n.meCert = meCert
	n.mu.Unlock()
	bob := signal.Participant{ID: "p-other", Name: "Bob"}
	certify(&bob, 2, bobID.Public())
	bobKey := make([]byte, identity.BaseKeySize)
	bobKey[0] = 42
	bobSender := identity.NewFrameSender()
	k, _ := identity.NewSFrameKey(bobKey, identity.KIDOf(2, 0))
	bobSender.SetKey(k)
	stranger := identity.NewFrameSender()
	k, _ = identity.NewSFrameKey(make([]byte, identity.BaseKeySize), identity.KIDOf(9, 0))
	stranger.SetKey(k)
	earlier, _ := stranger.EncryptChat("room1", []byte("earlier"))
	send(&signal.Message{Type: signal.TypeJoined, You: &me, NodeKeys: []string{base64.RawURLEncoding.EncodeToString(nk.PublicKey())},
		Room: &signal.Room{ID: "room1", Title: "Test"}, Participants: []signal.Participant{bob},
		History: []signal.ChatMessage{{Seq: 1, From: "p-other", Name: "Bob", SFrame: earlier, Time: 1}}})
	carol := signal.Participant{ID: "p3", Name: "Carol"}
	carolID, _ := identity.GenerateUserIdentity()
	certify(&carol, 3, carolID.Public())
	send(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &carol})
	carol.Hand = true
	send(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &carol})
	dan := signal.Participant{ID: "p4", Name: "Dan"}
	certify(&dan, 4, carolID.Public())
	send(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &dan})
	send(&signal.Message{Type: signal.TypeParticipantLeft, ID: "p4"})
	env, err := identity.SealKeyEnvelope(bobID, "room1", "p-other", identity.KIDOf(2, 0), bobKey,
		[]identity.Recipient{{ID: "p-me", Age: mine.Age}}, time.Now())
	if err != nil {
		t.Errorf("seal Bob's key: %v", err)
	}
	send(&signal.Message{Type: signal.TypeKey, Envelope: &env})
	hello, _ := bobSender.EncryptChat("room1", []byte("hello"))
	send(&signal.Message{Type: signal.TypeChat, Chat: &signal.ChatMessage{Seq: 2, From: "p-other", Name: "Bob", SFrame: hello, Time: 2}})
	send(&signal.Message{Type: signal.TypeSpeakers, Speakers: []string{"p-other"}})
	send(&signal.Message{Type: signal.TypeError, Code: signal.CodeInternal, Error: "test error"})
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"bogus"}`)); err != nil {
		t.Errorf("send bogus: %v", err)
	}

	pub, err := n.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Error(err)
		return
	}
	defer pub.Close()
	sub, err := n.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Error(err)
		return
	}
	defer sub.Close()
	for name, pc := range map[string]*webrtc.PeerConnection{signal.PCPub: pub, signal.PCSub: sub} {
		name := name
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				init := c.ToJSON()
				send(&signal.Message{Type: signal.TypeCandidate, PC: name, Candidate: &signal.Candidate{
					Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex}})
			}
		})
	}
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "bob")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "bob")
	vtr, err := sub.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Error(err)
		return
	}
	atr, err := sub.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Error(err)
		return
	}
	var highSSRC sync.Map // "f" -> ssrc of the client's top layer
	go func() {           // client PLIs on sub -> PLI to the client's top layer
		for {
			pkts, _, err := vtr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					if ssrc, ok := highSSRC.Load("f"); ok {
						n.mu.Lock()
						n.pubPLIs++
						n.mu.Unlock()
						_ = pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc.(uint32)}})
					}
				}
			}
		}
	}()
	pub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		key := tr.RID()
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			key = "audio"
		}
		n.mu.Lock()
		n.rids[key] = true
		n.mu.Unlock()
		var out *webrtc.TrackLocalStaticRTP
		switch key {
		case "audio":
			out = audio
		case signal.RIDHigh:
			out = video
			ssrc := uint32(tr.SSRC())
			highSSRC.Store("f", ssrc)
			n.mu.Lock()
			n.pli = func() { _ = pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}) }
			n.mu.Unlock()
		}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if out != nil {
				p.Header.Extension, p.Header.Extensions = false, nil
				_ = out.WriteRTP(p)
			}
		}
	})

	for {
		m, err := readMsg()
		if err != nil {
			if ctx.Err() == nil && !errors.As(err, new(websocket.CloseError)) && !strings.Contains(err.Error(), "EOF") {
				t.Logf("fake node read: %v", err)
			}
			return
		}
		switch m.Type {
		case signal.TypeOffer:
			if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
				t.Errorf("fake node: pub offer: %v", err)
				return
			}
			ans, _ := pub.CreateAnswer(nil)
			_ = pub.SetLocalDescription(ans)
			send(&signal.Message{Type: signal.TypeAnswer, PC: signal.PCPub, SDP: pub.LocalDescription().SDP})
			offer, _ := sub.CreateOffer(nil)
			_ = sub.SetLocalDescription(offer)
			send(&signal.Message{Type: signal.TypeOffer, PC: signal.PCSub, SDP: sub.LocalDescription().SDP,
				Tracks: map[string]signal.Track{
					vtr.Mid(): {ID: "t-video", Participant: "p-other", Kind: "video", Source: signal.SourceCamera},
					atr.Mid(): {ID: "t-audio", Participant: "p-other", Kind: "audio", Source: signal.SourceMic},
				}})
		case signal.TypeAnswer:
			if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				t.Errorf("fake node: sub answer: %v", err)
				return
			}
		case signal.TypeCandidate:
			pc := sub
			if m.PC == signal.PCPub {
				pc = pub
			}
			init := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
				SDPMLineIndex: m.Candidate.SDPMLineIndex}
			if err := pc.AddICECandidate(init); err != nil {
				t.Errorf("fake node: candidate: %v", err)
			}
		case signal.TypeChat:
			send(&signal.Message{Type: signal.TypeChat, Chat: &signal.ChatMessage{Seq: 3, From: "p-me", Name: join.Name, SFrame: m.SFrame, Time: 3}})
		case signal.TypeLeave:
			return
		}
	}
}

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
