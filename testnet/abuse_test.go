package testnet

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"parley/testnet/bench"
	"sync"
	"testing"
	"time"

	"parley/identity"
	"parley/media/client"
	"parley/media/signal"
	"parley/node"
	"parley/node/meeting"
)

// rawMember is a raw signalling client that joined with keys of its own, so that it can sign
// what it floods the node with.
type rawMember struct {
	sig    *RawSignal
	id     *identity.UserIdentity
	joined *signal.Message
	tag    uint32
}

func joinRaw(t *testing.T, n *TestNode, roomID, name string) *rawMember {
	t.Helper()
	id, err := identity.GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	s := DialSignal(t, n.URL(), roomID)
	t.Cleanup(s.CloseNow)
	if err := s.SendMessage(&signal.Message{Type: signal.TypeJoin, Name: name, Keys: &signal.Keys{
		SigPub: base64.RawURLEncoding.EncodeToString(id.SigPub()), Age: id.AgeRecipient()}}); err != nil {
		t.Fatal(err)
	}
	j, err := s.Next(10*time.Second, func(m *signal.Message) bool { return m.Type == signal.TypeJoined })
	if err != nil {
		t.Fatalf("%s joins: %v", name, err)
	}
	cert := verifyCert(t, n, roomID, *j.You.Cert)
	return &rawMember{sig: s, id: id, joined: j, tag: cert.Tag}
}

func verifyCert(t *testing.T, n *TestNode, roomID string, c identity.SignedObject) *identity.CertBody {
	t.Helper()
	body, err := identity.VerifyCertificate(c, func(k ed25519.PublicKey) bool { return k.Equal(n.Node.PublicKey()) }, roomID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// envelope seals a key with epoch for the participants r joined with.
func (r *rawMember) envelope(t *testing.T, n *TestNode, roomID string, epoch uint16) *identity.SignedObject {
	t.Helper()
	var to []identity.Recipient
	for _, p := range r.joined.Participants {
		c := verifyCert(t, n, roomID, *p.Cert)
		to = append(to, identity.Recipient{ID: p.ID, Age: c.Age})
	}
	env, err := identity.SealKeyEnvelope(r.id, roomID, r.joined.You.ID, identity.KIDOf(r.tag, epoch), make([]byte, 16), to, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &env
}

// mediaPacketsFrom counts what c received from participant's microphone and camera.
func mediaPacketsFrom(c *client.Client, participant string) uint64 {
	a, _ := FindTrack(c, participant, signal.SourceMic)
	v, _ := FindTrack(c, participant, signal.SourceCamera)
	return a.Packets + v.Packets
}

// TestFloodingParticipant: one participant of a meeting of Go participants floods the node
// with key envelopes (one repeated, then fresh ones), hand toggles and chat. The others stay
// connected and keep receiving audio and video at their rate; the flooder is refused, counted
// and at last disconnected.
func TestFloodingParticipant(t *testing.T) {
	n := StartNode(t, "flood")
	room := n.CreateRoom("Flooded")
	alice := n.Join(t, room.ID, "Alice", client.Publish{Audio: true, Video: true})
	bob := n.Join(t, room.ID, "Bob", client.Publish{Audio: true, Video: true})
	carol := n.Join(t, room.ID, "Carol", client.Publish{})
	Eventually(t, 20*time.Second, "Carol receives Alice and Bob", func() error {
		return errors.Join(receivingFrom(carol, alice.ID()), receivingFrom(carol, bob.ID()))
	})
	// What Carol gets from Alice in a quiet second, to compare with during the flood.
	rate := func(d time.Duration) float64 {
		before, start := mediaPacketsFrom(carol, alice.ID()), time.Now()
		time.Sleep(d)
		return float64(mediaPacketsFrom(carol, alice.ID())-before) / time.Since(start).Seconds()
	}
	quiet := rate(time.Second)

	// Three flooders at once: Eve with key envelopes (one repeated, then fresh ones), Frank
	// with hand toggles, Gina with chat.
	type flooder struct {
		m      *rawMember
		codes  map[string]int
		closed chan struct{}
	}
	var mu sync.Mutex
	floods := map[string]func(r *rawMember, i int) *signal.Message{
		"Eve": func(r *rawMember, i int) *signal.Message {
			epoch := uint16(1)
			if i >= 400 {
				epoch = uint16(i - 398) // after 400 repeats, fresh key IDs
			}
			return &signal.Message{Type: signal.TypeKey, Envelope: r.envelope(t, n, room.ID, epoch)}
		},
		"Frank": func(_ *rawMember, i int) *signal.Message {
			raised := i%2 == 0
			return &signal.Message{Type: signal.TypeHand, Raised: &raised}
		},
		"Gina": func(*rawMember, int) *signal.Message {
			return &signal.Message{Type: signal.TypeChat, SFrame: []byte("spam")}
		},
	}
	flooders := map[string]*flooder{}
	for name := range floods {
		f := &flooder{m: joinRaw(t, n, room.ID, name), codes: map[string]int{}, closed: make(chan struct{})}
		flooders[name] = f
		go func() { // the flooder reads everything the node answers, until it hangs up
			defer close(f.closed)
			for {
				m, err := f.m.sig.Next(30*time.Second, nil)
				if err != nil {
					return
				}
				if m.Type == signal.TypeError {
					mu.Lock()
					f.codes[m.Code]++
					mu.Unlock()
				}
			}
		}()
	}
	floodDone := make(chan struct{})
	var during float64
	go func() {
		defer close(floodDone)
		during = rate(2 * time.Second)
	}()
	var wg sync.WaitGroup
	for name, next := range floods {
		f := flooders[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var repeated *signal.Message
			for i := range 2000 {
				m := repeated
				if m == nil || i >= 400 || name != "Eve" {
					m = next(f.m, i)
				}
				if name == "Eve" && i < 400 {
					repeated = m // one valid envelope, again and again
				}
				if f.m.sig.SendMessage(m) != nil {
					return // hung up on
				}
			}
		}()
	}
	wg.Wait()
	for name, f := range flooders {
		select {
		case <-f.closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s was never disconnected", name)
		}
	}
	<-floodDone

	mu.Lock()
	defer mu.Unlock()
	for name, f := range flooders {
		if f.codes[signal.CodeRateLimited] == 0 || f.codes[meeting.CodeFlood] != 1 {
			t.Errorf("%s was told %v, want rate_limited and then flood", name, f.codes)
		}
	}
	if flooders["Eve"].codes[meeting.CodeDuplicateKey] == 0 {
		t.Errorf("Eve's repeated envelope was never refused as a duplicate: %v", flooders["Eve"].codes)
	}
	for _, c := range []*client.Client{alice, bob, carol} {
		select {
		case <-c.Done():
			t.Fatalf("%s was disconnected by someone else's flood", c.ID())
		default:
		}
	}
	if during < quiet/2 {
		t.Errorf("Carol received %.0f packets/s from Alice during the flood, %.0f before", during, quiet)
	}
	Eventually(t, 10*time.Second, "Carol still receives both", func() error {
		a, b := mediaPacketsFrom(carol, alice.ID()), mediaPacketsFrom(carol, bob.ID())
		time.Sleep(200 * time.Millisecond)
		if mediaPacketsFrom(carol, alice.ID()) == a || mediaPacketsFrom(carol, bob.ID()) == b {
			return errors.New("no new packets")
		}
		return nil
	})
	m, err := bench.ScrapeMetrics(n.Node.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	for reason, min := range map[string]float64{meeting.CodeDuplicateKey: 1, signal.CodeRateLimited: 1} {
		if got := m.SumWhere("parley_meeting_refusals_total", "reason", reason); got < min {
			t.Errorf("refusals for %s counted %v", reason, got)
		}
	}
	if got := m.SumWhere("parley_meeting_disconnects_total", "reason", meeting.CodeFlood); got != 3 {
		t.Errorf("flood disconnects counted %v, want 3", got)
	}
	t.Logf("Carol's packets/s from Alice: %.0f quiet, %.0f during the flood; flooders told Eve %v, Frank %v, Gina %v",
		quiet, during, flooders["Eve"].codes, flooders["Frank"].codes, flooders["Gina"].codes)
}

// TestIdleJoinsFreeTheRoom: 200 joins that never set up media fill a room of 100 where Bob
// publishes (the rest are refused as full); once their media deadline passes they are sent
// away and a newcomer with media joins and stays. In a room where nobody publishes, 100 such
// joins stay, but a newcomer takes the place of one. A lobby of 50 takes 50 of 200 knocks,
// the moderator sees them one by one, and the wait limit empties it.
func TestIdleJoinsFreeTheRoom(t *testing.T) {
	const deadline = 3 * time.Second
	n := StartNodeWith(t, "crowded", func(c *node.Config) {
		c.MediaDeadline = node.Duration(deadline)
		c.LobbyWait = node.Duration(deadline)
		c.MaxLobby = 50
		c.MaxSessionsPerAddress = 1000
	})
	room, quiet := n.CreateRoom("Open"), n.CreateRoom("Quiet")
	lobbyRoom, err := n.Node.NewRoom(node.RoomOptions{Title: "Behind a door", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	bob := n.Join(t, room.ID, "Bob", client.Publish{Audio: true})
	mod := n.JoinWith(t, client.Config{Room: lobbyRoom.ID, Name: "Moderator", Moderator: moderatorToken(t, n, lobbyRoom.ID),
		Publish: client.Publish{Audio: true}})

	var wg sync.WaitGroup
	type result struct{ room, got string }
	results := make(chan result, 500)
	knock := func(roomID string) {
		defer wg.Done()
		s, _, err := dialSignal(n.URL(), roomID)
		if err != nil {
			results <- result{roomID, "dial: " + err.Error()}
			return
		}
		t.Cleanup(func() { _ = s.CloseNow() })
		r := &RawSignal{t: t, conn: s}
		if err := r.SendMessage(JoinMessage(t, "Idle")); err != nil {
			results <- result{roomID, "send: " + err.Error()}
			return
		}
		m, err := r.Next(20*time.Second, func(m *signal.Message) bool {
			return m.Type == signal.TypeJoined || m.Type == signal.TypeLobby || m.Type == signal.TypeError
		})
		switch {
		case err != nil:
			results <- result{roomID, "no answer: " + err.Error()}
		case m.Type == signal.TypeError:
			results <- result{roomID, m.Code}
		default:
			results <- result{roomID, m.Type}
		}
	}
	start := time.Now()
	for i := range 200 {
		wg.Add(2)
		go knock(room.ID)
		go knock(lobbyRoom.ID)
		if i < 100 {
			wg.Add(1)
			go knock(quiet.ID)
		}
	}
	wg.Wait()
	close(results)
	got := map[string]map[string]int{room.ID: {}, quiet.ID: {}, lobbyRoom.ID: {}}
	for r := range results {
		got[r.room][r.got]++
	}
	if g := got[room.ID]; g[signal.TypeJoined] != 99 || g[signal.CodeRoomFull] != 101 {
		t.Errorf("200 joins to a room of 100 with Bob in it: %v", g)
	}
	if g := got[quiet.ID]; g[signal.TypeJoined] != 100 {
		t.Errorf("100 joins to a quiet room of 100: %v", g)
	}
	if g := got[lobbyRoom.ID]; g[signal.TypeLobby] != 50 || g[meeting.CodeLobbyFull] != 150 {
		t.Errorf("200 knocks at a lobby of 50: %v", g)
	}
	if t.Failed() {
		t.FailNow()
	}
	Eventually(t, 10*time.Second, "the moderator sees 50 waiting", func() error {
		if w := len(mod.Waiting()); w != 50 {
			return fmt.Errorf("%d waiting", w)
		}
		return nil
	})
	t.Logf("500 joins and knocks answered in %v", time.Since(start).Round(time.Millisecond))

	// The idle joins' media deadline passes: a newcomer with media gets in and stays.
	var alice *client.Client
	Eventually(t, deadline+15*time.Second, "a newcomer joins the crowded room", func() error {
		c, err := joinOnce(n, room.ID, "Alice")
		if err != nil {
			return err
		}
		alice = c
		return nil
	})
	t.Cleanup(func() { _ = alice.Close() })
	t.Logf("the room took a newcomer %v after the idle joins", time.Since(start).Round(time.Millisecond))
	// In the quiet room a newcomer takes an idle participant's place.
	quietAlice, err := joinOnce(n, quiet.ID, "Alice")
	if err != nil {
		t.Fatalf("a newcomer to the quiet room full of idle joins: %v", err)
	}
	t.Cleanup(func() { _ = quietAlice.Close() })
	Eventually(t, deadline+15*time.Second, "the lobby empties", func() error {
		if w := len(mod.Waiting()); w != 0 {
			return fmt.Errorf("%d waiting", w)
		}
		return nil
	})
	// Alice hears Bob and outlives the deadline: her media connected.
	Eventually(t, 10*time.Second, "Alice hears Bob", func() error {
		if tr, ok := FindTrack(alice, bob.ID(), signal.SourceMic); !ok || tr.Packets == 0 {
			return errors.New("no audio from Bob")
		}
		return nil
	})
	m, err := bench.ScrapeMetrics(n.Node.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	if d := m.SumWhere("parley_meeting_disconnects_total", "reason", meeting.CodeMediaTimeout); d != 100 {
		t.Errorf("media deadline disconnects %v, want 100 (99 in the open room, 1 place in the quiet one)", d)
	}
	if d := m.SumWhere("parley_meeting_disconnects_total", "reason", meeting.CodeLobbyTimeout); d != 50 {
		t.Errorf("lobby wait disconnects %v, want 50", d)
	}
	if r := m.SumWhere("parley_meeting_refusals_total", "reason", signal.CodeRoomFull); r < 101 {
		t.Errorf("room_full refusals %v, want at least 101", r)
	}
	for _, c := range []*client.Client{alice, quietAlice, bob} {
		select {
		case <-c.Done():
			t.Errorf("%s was sent away", c.ID())
		default:
		}
	}
}

// joinOnce tries one join of a Go participant with audio.
func joinOnce(n *TestNode, roomID, name string) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	return client.Join(ctx, client.Config{URL: n.URL(), Room: roomID, Name: name, Publish: client.Publish{Audio: true}})
}
