package testnet

import (
	"errors"
	"fmt"
	"parley/testnet/bench"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/media/client"
	"parley/media/signal"
)

// signallingErrorsMetric counts the error messages a node sent to clients, by code.
const signallingErrorsMetric = "parley_signalling_errors_total"

// signallingErrors reads the node's count of signalling errors, all codes together.
func signallingErrors(t *testing.T, base string) (float64, bool) {
	t.Helper()
	m, err := bench.ScrapeMetrics(base)
	if err != nil {
		t.Fatal(err)
	}
	return m.Sum(signallingErrorsMetric), len(m.Names(func(n string) bool { return n == signallingErrorsMetric })) > 0
}

// pionOffer makes a real offer for an audio and a video transceiver, as a client's pub pc.
func pionOffer(t *testing.T) (*webrtc.PeerConnection, string) {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	return pc, offer.SDP
}

func TestBadSignallingKeepsServing(t *testing.T) {
	n := StartNode(t, "bad-input")
	room := n.CreateRoom("Under attack")
	alice := n.Join(t, room.ID, "Alice", client.Publish{Audio: true, Video: true})
	bob := n.Join(t, room.ID, "Bob", client.Publish{})
	aliceID := alice.ID()
	Eventually(t, mediaTimeout, "Bob receives Alice", func() error { return receivingFrom(bob, aliceID) })

	errsBefore, found := signallingErrors(t, n.Node.MetricsURL())
	if !found {
		t.Fatalf("/metrics has no %s", signallingErrorsMetric)
	}

	// isError keeps only error messages; the node may send others (joined, offers) in between.
	isError := func(m *signal.Message) bool { return m.Type == signal.TypeError }
	// expectError waits for an error with one of the codes, or the node closing the socket.
	expectError := func(t *testing.T, s *RawSignal, codes ...string) {
		t.Helper()
		m, err := s.Next(5*time.Second, isError)
		switch {
		case errors.Is(err, errClosedByNode):
			t.Logf("node closed the socket: %v", err)
		case err != nil:
			t.Fatalf("want an error %v or a close: %v", codes, err)
		case !slices.Contains(codes, m.Code):
			t.Fatalf("got error %q (%s), want one of %v", m.Code, m.Error, codes)
		case m.Error == "":
			t.Errorf("error %q has no text for the user", m.Code)
		default:
			t.Logf("node answered %s: %s", m.Code, m.Error)
		}
	}
	// stillServing checks that the counter rose past its last value and Bob still receives
	// Alice's audio and video.
	last := errsBefore
	stillServing := func(t *testing.T, what string, counted bool) {
		t.Helper()
		if counted {
			Eventually(t, 5*time.Second, what+" is counted in /metrics", func() error {
				now, _ := signallingErrors(t, n.Node.MetricsURL())
				if now <= last {
					return fmt.Errorf("signalling errors still %v", now)
				}
				last = now
				return nil
			})
		}
		Eventually(t, 5*time.Second, "after "+what+", Bob still receives Alice's video", rising(packetsFrom(bob, aliceID, signal.SourceCamera)))
		Eventually(t, 5*time.Second, "after "+what+", Bob still receives Alice's audio", rising(packetsFrom(bob, aliceID, signal.SourceMic)))
	}

	t.Run("malformed JSON", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		defer s.CloseNow()
		if err := s.Send(`{"type":"join","name":`); err != nil {
			t.Fatal(err)
		}
		expectError(t, s, signal.CodeBadMessage)
		stillServing(t, "malformed JSON", true)
	})

	t.Run("oversized message", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		defer s.CloseNow()
		s.Join("Big")
		huge := `{"type":"chat","text":"` + strings.Repeat("x", signal.MaxMessageSize+1) + `"}`
		if err := s.Send(huge); err != nil {
			t.Logf("write of the oversized message failed (the node may close first): %v", err)
		}
		expectError(t, s, signal.CodeBadMessage)
		stillServing(t, "an oversized message", true)
		if HasChat(bob, "Big", strings.Repeat("x", signal.MaxMessageSize+1)) {
			t.Error("the oversized chat message reached Bob")
		}
	})

	t.Run("unknown type", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		defer s.CloseNow()
		s.Join("Odd")
		if err := s.Send(`{"type":"teleport","name":"x"}`); err != nil {
			t.Fatal(err)
		}
		expectError(t, s, signal.CodeBadMessage)
		stillServing(t, "an unknown type", true)
	})

	t.Run("message before join", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		defer s.CloseNow()
		if err := s.Send(`{"type":"chat","text":"let me in"}`); err != nil {
			t.Fatal(err)
		}
		expectError(t, s, signal.CodeNotJoined, signal.CodeBadMessage)
		stillServing(t, "a message before join", true)
	})

	t.Run("invalid SDP", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		defer s.CloseNow()
		s.Join("Broken")
		bad := &signal.Message{Type: signal.TypeOffer, PC: signal.PCPub,
			SDP:    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=this is not sdp\r\n",
			Tracks: map[string]signal.Track{"0": {Source: signal.SourceCamera}}}
		if err := s.SendMessage(bad); err != nil {
			t.Fatal(err)
		}
		expectError(t, s, signal.CodeBadSDP)
		stillServing(t, "an invalid SDP", true)
	})

	t.Run("unknown room", func(t *testing.T) {
		conn, status, err := dialSignal(n.URL(), "bbbbbbbbbbbbbbbbbbbbbbbbbb")
		if err != nil {
			if status != 404 {
				t.Fatalf("dial an unknown room: status %d, %v; want 404 or an unknown_room error", status, err)
			}
			t.Logf("unknown room refused at the handshake: %d", status)
			stillServing(t, "an unknown room", false)
			return
		}
		s := &RawSignal{t: t, conn: conn}
		defer s.CloseNow()
		if err := s.SendMessage(JoinMessage(t, "Lost")); err != nil {
			t.Fatal(err)
		}
		expectError(t, s, signal.CodeUnknownRoom)
		stillServing(t, "an unknown room", false)
	})

	t.Run("client vanishes mid-negotiation", func(t *testing.T) {
		s := DialSignal(t, n.URL(), room.ID)
		s.Join("Ghost")
		Eventually(t, 5*time.Second, "Bob sees Ghost", func() error {
			if !slices.Contains(ParticipantNames(bob), "Ghost") {
				return fmt.Errorf("Bob sees %v", ParticipantNames(bob))
			}
			return nil
		})
		_, sdp := pionOffer(t)
		if err := s.SendMessage(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub, SDP: sdp,
			Tracks: map[string]signal.Track{"0": {Source: signal.SourceMic}, "1": {Source: signal.SourceCamera}}}); err != nil {
			t.Fatal(err)
		}
		// Vanish before ICE can complete: no candidates, no answer read, no leave.
		s.CloseNow()
		Eventually(t, 15*time.Second, "Bob sees Ghost leave", func() error {
			if slices.Contains(ParticipantNames(bob), "Ghost") {
				return fmt.Errorf("Bob still sees %v", ParticipantNames(bob))
			}
			return nil
		})
		stillServing(t, "a client vanishing mid-negotiation", false)
	})

	// After all that, a new participant still joins and gets media.
	carol := n.Join(t, room.ID, "Carol", client.Publish{})
	Eventually(t, mediaTimeout, "Carol receives Alice", func() error { return receivingFrom(carol, aliceID) })
	if got := ParticipantNames(alice); !slices.Equal(got, []string{"Bob", "Carol"}) && !slices.Equal(got, []string{"Carol", "Bob"}) {
		t.Errorf("Alice sees %v at the end, want Bob and Carol", got)
	}
}
