package node

import (
	"context"
	"errors"
	"parley/federation"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/media/signal"
	"parley/node/meeting"
)

func TestJoinUnknownRoom(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := mustDial(t, n, federation.NewRoomID())
	c.send(c.joinMessage("Lost", ""))
	m := c.must(signal.TypeError)
	if m.Code != signal.CodeUnknownRoom || m.Error == "" {
		t.Fatalf("got %+v, want unknown_room with text", m)
	}
	if _, err := c.next(signal.TypeError); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after unknown_room: %v, want the node to close normally", err)
	}
	if got := counter(t, n, "parley_signalling_errors_total", signal.CodeUnknownRoom); got != 1 {
		t.Errorf("unknown_room counter %v, want 1", got)
	}
}

func TestBadMessagesAnsweredCountedAndSurvived(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, err := n.CreateRoom("Bad input")
	if err != nil {
		t.Fatal(err)
	}
	bad := mustDial(t, n, room.ID)
	bad.join("Mallory")
	cases := []struct{ name, data, code string }{
		{"malformed", `{"type":"chat","sframe":`, signal.CodeBadMessage},
		{"unknown type", `{"type":"teleport"}`, signal.CodeBadMessage},
		{"unknown field", `{"type":"ping","x":1}`, signal.CodeBadMessage},
		{"oversized", `{"type":"chat","sframe":"` + strings.Repeat("x", signal.MaxMessageSize) + `"}`, signal.CodeBadMessage},
		{"join twice", `{"type":"join","name":"again","keys":{"sig_pub":"x","age":"y"}}`, signal.CodeBadMessage},
		{"layer for unknown track", `{"type":"layer","track":"nope","quality":"low"}`, signal.CodeBadMessage},
		{"bad sdp", `{"type":"offer","pc":"pub","sdp":"v=0\r\nnonsense\r\n"}`, signal.CodeBadSDP},
	}
	for _, c := range cases {
		before := counter(t, n, "parley_signalling_errors_total", c.code)
		if err := bad.sendRaw(c.data); err != nil {
			t.Fatalf("%s: send: %v", c.name, err)
		}
		m := bad.must(signal.TypeError)
		if m.Code != c.code || m.Error == "" {
			t.Errorf("%s: got %+v, want code %s with text", c.name, m, c.code)
		}
		if got := counter(t, n, "parley_signalling_errors_total", c.code); got != before+1 {
			t.Errorf("%s: counter %v, want %v", c.name, got, before+1)
		}
		// The session goes on.
		bad.send(&signal.Message{Type: signal.TypePing})
		bad.must(signal.TypePong)
	}
	// Another session is served normally.
	good := mustDial(t, n, room.ID)
	j := good.join("Ada")
	if len(j.Participants) != 1 || j.Participants[0].Name != "Mallory" {
		t.Errorf("joined participants %+v, want Mallory", j.Participants)
	}
	good.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("hello")})
	if m := good.must(signal.TypeChat); string(m.Chat.SFrame) != "hello" || m.Chat.Name != "Ada" {
		t.Errorf("chat echo %+v", m.Chat)
	}
}

func TestNotJoinedAndTooManyBadMessages(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("r")
	c := mustDial(t, n, room.ID)
	c.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("let me in")})
	if m := c.must(signal.TypeError); m.Code != signal.CodeNotJoined {
		t.Fatalf("got %+v, want not_joined", m)
	}
	for range maxBadInARow - 1 {
		_ = c.sendRaw(`{`)
	}
	var err error
	for err == nil {
		_, err = c.next(signal.TypePong) // reads the error messages until the close
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after %d bad messages: %v, want a policy-violation close", maxBadInARow, err)
	}
}

func TestPresenceChatHandAndLeave(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	room, _ := n.CreateRoom("Sync")
	ada := mustDial(t, n, room.ID)
	ja := ada.join("Ada")
	if ja.You == nil || ja.You.Name != "Ada" || ja.Room.ID != room.ID || ja.Room.Title != "Sync" || len(ja.Participants) != 0 {
		t.Fatalf("joined %+v", ja)
	}
	bo := mustDial(t, n, room.ID)
	jb := bo.join("Bo")
	if len(jb.Participants) != 1 || jb.Participants[0].ID != ja.You.ID {
		t.Fatalf("Bo sees %+v", jb.Participants)
	}
	if m := ada.must(signal.TypeParticipantJoined); m.Participant.ID != jb.You.ID || m.Participant.Name != "Bo" {
		t.Fatalf("Ada got %+v", m.Participant)
	}

	// Chat reaches everyone, the sender included, and is stored.
	bo.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("hi all")})
	for _, c := range []*wsClient{ada, bo} {
		m := c.must(signal.TypeChat)
		if m.Chat.Name != "Bo" || m.Chat.From != jb.You.ID || string(m.Chat.SFrame) != "hi all" || m.Chat.Seq != 1 {
			t.Fatalf("chat %+v", m.Chat)
		}
	}
	if got := counter(t, n, "parley_chat_messages_total", ""); got != 1 {
		t.Errorf("chat counter %v", got)
	}

	// Hand and mute update everyone.
	up := true
	bo.send(&signal.Message{Type: signal.TypeHand, Raised: &up})
	if m := ada.must(signal.TypeParticipantUpdated); !m.Participant.Hand || m.Participant.ID != jb.You.ID {
		t.Fatalf("hand update %+v", m.Participant)
	}
	bo.send(&signal.Message{Type: signal.TypeMute, Source: signal.SourceMic, Muted: &up})
	if m := ada.must(signal.TypeParticipantUpdated); !m.Participant.MicMuted || !m.Participant.Hand {
		t.Fatalf("mute update %+v", m.Participant)
	}
	// A third participant sees the state.
	cy := mustDial(t, n, room.ID)
	jc := cy.join("Cy")
	i := slices.IndexFunc(jc.Participants, func(p signal.Participant) bool { return p.Name == "Bo" })
	if i < 0 || !jc.Participants[i].Hand || !jc.Participants[i].MicMuted || len(jc.History) != 1 {
		t.Fatalf("Cy joined with %+v history %+v", jc.Participants, jc.History)
	}

	// Leave.
	bo.send(&signal.Message{Type: signal.TypeLeave})
	if m := ada.must(signal.TypeParticipantLeft); m.ID != jb.You.ID {
		t.Fatalf("left %+v", m)
	}
	// A vanished client leaves too.
	_ = cy.conn.CloseNow()
	if m := ada.must(signal.TypeParticipantLeft); m.ID != jc.You.ID {
		t.Fatalf("left %+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.sfu.Stats().Participants != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("SFU still has %d participants", n.sfu.Stats().Participants)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChatPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	room, _ := n.CreateRoom("Persistent")
	c := mustDial(t, n, room.ID)
	c.join("Ada")
	for _, text := range []string{"one", "two"} {
		c.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte(text)})
		c.must(signal.TypeChat)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir)
	c2 := mustDial(t, n2, room.ID)
	j := c2.join("Bo")
	if len(j.History) != 2 || string(j.History[0].SFrame) != "one" || string(j.History[1].SFrame) != "two" || j.History[1].Seq != 2 {
		t.Fatalf("history after restart %+v", j.History)
	}
	c2.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("three")})
	if m := c2.must(signal.TypeChat); m.Chat.Seq != 3 {
		t.Fatalf("seq after restart %d, want 3", m.Chat.Seq)
	}
}

func TestChatRateLimited(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("r")
	c := mustDial(t, n, room.ID)
	c.join("Chatty")
	burst := int(meeting.DefaultLimits.ChatBurst)
	for range burst + 3 {
		c.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("spam")})
	}
	m := c.must(signal.TypeError)
	if m.Code != signal.CodeRateLimited {
		t.Fatalf("got %+v, want rate_limited", m)
	}
	h, err := n.chatHistory(room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) > burst+1 {
		t.Errorf("%d messages stored, want at most about the burst (%d)", len(h), burst)
	}
	if got := counter(t, n, "parley_meeting_refusals_total", signal.CodeRateLimited); got < 1 {
		t.Errorf("refusals counted: %v", got)
	}
}

func TestRoomFull(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), func(c *Config) { c.MaxParticipantsPerRoom = 1 })
	room, _ := n.CreateRoom("r")
	mustDial(t, n, room.ID).join("One")
	c := mustDial(t, n, room.ID)
	c.send(c.joinMessage("Two", ""))
	if m := c.must(signal.TypeError); m.Code != signal.CodeRoomFull {
		t.Fatalf("got %+v, want room_full", m)
	}
}

// A client that stops reading is disconnected when its queue fills; the others are not held
// up and stay.
func TestSlowClientDisconnected(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("r")
	slow := mustDial(t, n, room.ID)
	js := slow.join("Slow")
	fast := mustDial(t, n, room.ID)
	fast.join("Fast")
	slow.must(signal.TypeParticipantJoined)

	// Fast reads everything, counts the chat it gets and reports whom it saw leave.
	left := make(chan string, 4)
	var got atomic.Int64
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			_, data, err := fast.conn.Read(ctx)
			if err != nil {
				close(left)
				return
			}
			m, err := signal.DecodeFromNode(data)
			switch {
			case err != nil:
			case m.Type == signal.TypeChat:
				got.Add(1)
			case m.Type == signal.TypeParticipantLeft:
				left <- m.ID
			}
		}
	}()
	// Slow stops reading. The room's log hands chat messages to everyone until Slow is
	// dropped, never more than a quarter of a queue ahead of what Fast has read.
	big := signal.ChatMessage{From: "x", Name: "x", SFrame: make([]byte, 16<<10)}
	deadline := time.Now().Add(30 * time.Second)
	for sent := int64(0); ; {
		select {
		case id := <-left:
			if id != js.You.ID {
				t.Fatalf("%s left, want Slow (%s)", id, js.You.ID)
			}
			if got := counter(t, n, "parley_meeting_disconnects_total", "slow"); got != 1 {
				t.Errorf("slow disconnects counted %v, want 1", got)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("slow client never disconnected")
		}
		if sent-got.Load() >= sessionQueueLen/4 {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		n.meetings.Chat(room.ID, big)
		sent++
	}
}

func TestNodeCloseEndsSessions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Name: "n", HTTPAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := LoadConfig(dir)
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	room, _ := n.CreateRoom("r")
	c := mustDial(t, n, room.ID)
	c.join("Ada")
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := c.next(signal.TypePong); err == nil || errors.Is(err, errOversized) {
		t.Fatalf("session still open after Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// One address holds at most MaxSessionsPerAddress signalling sessions; one more is refused
// until one of them ends.
func TestSessionsPerAddress(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), func(c *Config) { c.MaxSessionsPerAddress = 2 })
	room, _ := n.CreateRoom("r")
	a := mustDial(t, n, room.ID)
	a.join("A")
	mustDial(t, n, room.ID).join("B")
	c := mustDial(t, n, room.ID)
	if _, err := c.next(signal.TypePong); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("third session from one address: %v, want closed with 1013", err)
	}
	if got := counter(t, n, "parley_meeting_refusals_total", codeTooManySessions); got != 1 {
		t.Errorf("refusals counted %v, want 1", got)
	}
	a.send(&signal.Message{Type: signal.TypeLeave})
	waitFor(t, "a free session slot", func() bool {
		d, _, err := dialWS(t, n.URL(), room.ID, "")
		if err != nil {
			return false
		}
		d.send(d.joinMessage("D", ""))
		_, err = d.next(signal.TypeJoined)
		return err == nil
	})
}
