package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
