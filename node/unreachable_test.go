package node

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/media/signal"
)

// testGrace is the grace period of the tests with nodes out of reach.
const testGrace = 300 * time.Millisecond

// reachPair starts two nodes with grace on dirA and dirB, federates them and makes a room
// on A that B knows.
func reachPair(t *testing.T, dirA, dirB string, grace time.Duration) (a, b *Node, room string) {
	t.Helper()
	a, b = startNodeGrace(t, dirA, grace), startNodeGrace(t, dirB, grace)
	federate(t, a, b)
	r, err := a.CreateRoom("Reach")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(r.ID); return err == nil })
	return a, b, r.ID
}

// cut cuts the link between a and b both ways; restore undoes it.
func cut(a, b *Node) {
	a.Mesh().Block(b.fed.self)
	b.Mesh().Block(a.fed.self)
}

func restore(a, b *Node) {
	a.Mesh().Unblock(b.fed.self)
	b.Mesh().Unblock(a.fed.self)
}

// nextPresence returns c's next participant_joined, participant_updated or participant_left.
func (c *wsClient) nextPresence() *signal.Message {
	c.t.Helper()
	for {
		m, err := c.nextAny()
		if err != nil {
			c.t.Fatalf("waiting for a participant message: %v", err)
		}
		switch m.Type {
		case signal.TypeParticipantJoined, signal.TypeParticipantUpdated, signal.TypeParticipantLeft:
			return m
		}
	}
}

// TestUnreachableNodeParticipantsLeave: when the link between two nodes is cut, each node's
// client sees the other node's participant leave with reason "unreachable" once the grace
// period has passed, not before; the state records stay as they were; when the link is
// restored, each sees the other join again.
func TestUnreachableNodeParticipantsLeave(t *testing.T) {
	a, b, room := reachPair(t, t.TempDir(), t.TempDir(), testGrace)
	al := mustDial(t, a, room)
	ja := al.join("Al")
	bo := mustDial(t, b, room)
	jb := bo.join("Bo")
	if m := al.must(signal.TypeParticipantJoined); m.Participant.ID != jb.You.ID {
		t.Fatalf("Al sees %+v join, want Bo", m.Participant)
	}
	if !slices.ContainsFunc(jb.Participants, func(p signal.Participant) bool { return p.ID == ja.You.ID }) {
		if m := bo.must(signal.TypeParticipantJoined); m.Participant.ID != ja.You.ID {
			t.Fatalf("Bo sees %+v join, want Al", m.Participant)
		}
	}
	vb := a.Federation().StateVersion(room, b.fed.self)

	start := time.Now()
	cut(a, b)
	m := al.nextPresence()
	if m.Type != signal.TypeParticipantLeft || m.ID != jb.You.ID || m.Reason != signal.ReasonUnreachable {
		t.Fatalf("Al got %s %s (reason %q), want Bo to leave as unreachable", m.Type, m.ID, m.Reason)
	}
	if d := time.Since(start); d < testGrace {
		t.Fatalf("Bo left %v after the cut, within the grace period %v", d, testGrace)
	} else {
		t.Logf("Al saw Bo leave as unreachable %v after the cut", d.Round(time.Millisecond))
	}
	if m := bo.nextPresence(); m.Type != signal.TypeParticipantLeft || m.ID != ja.You.ID || m.Reason != signal.ReasonUnreachable {
		t.Fatalf("Bo got %s %s (reason %q), want Al to leave as unreachable", m.Type, m.ID, m.Reason)
	}
	// The signed record is kept: A still holds B's record listing Bo.
	if v := a.Federation().StateVersion(room, b.fed.self); v != vb {
		t.Fatalf("A holds B's state version %d, had %d", v, vb)
	}
	if !slices.ContainsFunc(a.Federation().State(room), func(r federation.StateRecord) bool {
		return r.Node == b.fed.self && len(r.Participants) == 1 && r.Participants[0].ID == jb.You.ID
	}) {
		t.Fatal("A no longer holds B's record listing Bo")
	}

	start = time.Now()
	restore(a, b)
	if m := al.nextPresence(); m.Type != signal.TypeParticipantJoined || m.Participant.ID != jb.You.ID || m.Participant.Cert == nil {
		t.Fatalf("Al got %s %+v, want Bo to join again with a certificate", m.Type, m)
	}
	t.Logf("Al saw Bo join again %v after the link was restored", time.Since(start).Round(time.Millisecond))
	if m := bo.nextPresence(); m.Type != signal.TypeParticipantJoined || m.Participant.ID != ja.You.ID {
		t.Fatalf("Bo got %s %+v, want Al to join again", m.Type, m)
	}

	// A client joining A now finds Bo there.
	cy := mustDial(t, a, room)
	jc := cy.join("Cy")
	if !slices.ContainsFunc(jc.Participants, func(p signal.Participant) bool { return p.ID == jb.You.ID }) {
		t.Fatalf("Cy finds %+v, want Bo among them", jc.Participants)
	}
}

// TestBlipUnderGrace: a link cut and restored within the grace period makes no participant
// leave or join: the next thing a client sees of the other node's participant is a change
// made after the blip.
func TestBlipUnderGrace(t *testing.T) {
	const grace = time.Second // the blip, with its reconnection, must fit well inside
	a, b, room := reachPair(t, t.TempDir(), t.TempDir(), grace)
	al := mustDial(t, a, room)
	al.join("Al")
	bo := mustDial(t, b, room)
	jb := bo.join("Bo")
	if m := al.must(signal.TypeParticipantJoined); m.Participant.ID != jb.You.ID {
		t.Fatalf("Al sees %+v join, want Bo", m.Participant)
	}

	start := time.Now()
	cut(a, b)
	waitFor(t, "the link cut", func() bool { return !a.Mesh().Connected(b.fed.self) })
	restore(a, b)
	waitFor(t, "the link restored", func() bool { return a.Mesh().Connected(b.fed.self) })
	blip := time.Since(start)
	t.Logf("the blip lasted %v", blip.Round(time.Millisecond))
	if blip > grace/2 {
		t.Fatalf("the blip lasted %v, too close to the grace period %v for this test", blip, grace)
	}
	// Watch past the end of the grace period counted from the cut, then make a change the
	// client must see next.
	time.Sleep(time.Until(start.Add(grace + 2*testGrace)))
	raised := true
	bo.send(&signal.Message{Type: signal.TypeHand, Raised: &raised})
	if m := al.nextPresence(); m.Type != signal.TypeParticipantUpdated || m.Participant.ID != jb.You.ID || !m.Participant.Hand {
		t.Fatalf("after a blip Al got %s %+v (reason %q), want Bo's raised hand", m.Type, m.Participant, m.Reason)
	}
}

// TestCrashedNodeNoGhosts: a node that stops and leaves its participants in its state record
// (a crash) has them shown as unreachable after the grace period; when it starts again with
// none, they are not shown again on the way (no ghost joins), and its new participant is.
func TestCrashedNodeNoGhosts(t *testing.T) {
	dirB := t.TempDir()
	a, b, room := reachPair(t, t.TempDir(), dirB, testGrace)
	al := mustDial(t, a, room)
	al.join("Al")
	ghost := federation.Participant{ID: "ghost1", Info: json.RawMessage(`{"name":"Casper","org":"test node"}`)}
	if _, err := b.Federation().SetParticipants(room, []federation.Participant{ghost}); err != nil {
		t.Fatal(err)
	}
	if m := al.must(signal.TypeParticipantJoined); m.Participant.ID != ghost.ID {
		t.Fatalf("Al sees %+v join, want the ghost", m.Participant)
	}
	vb := a.Federation().StateVersion(room, b.fed.self)
	bID := b.fed.self
	if err := b.Close(); err != nil { // publishes only the leaving of live sessions: none
		t.Fatal(err)
	}
	if m := al.nextPresence(); m.Type != signal.TypeParticipantLeft || m.ID != ghost.ID || m.Reason != signal.ReasonUnreachable {
		t.Fatalf("Al got %s %s (reason %q), want the ghost to leave as unreachable", m.Type, m.ID, m.Reason)
	}

	b = startNodeGrace(t, dirB, testGrace)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Federation().WaitState(ctx, room, bID, vb+1); err != nil {
		t.Fatalf("A never got B's record of its new start: %v", err)
	}
	bea := mustDial(t, b, room)
	jb := bea.join("Bea")
	if m := al.nextPresence(); m.Type != signal.TypeParticipantJoined || m.Participant.ID != jb.You.ID {
		t.Fatalf("Al got %s %+v, want Bea to join (and no ghost)", m.Type, m.Participant)
	}
}

// TestReachability drives the state machine through a blip, a loss, a return and signs of
// life, on a made-up clock.
func TestReachability(t *testing.T) {
	const grace = 10 * time.Second
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	x, y := peer.ID("x"), peer.ID("y")
	live := map[peer.ID]bool{}
	connected := func(id peer.ID) bool { return live[id] }
	r := newReachability(grace, t0)
	check := func(now time.Time, wantHide, wantShow []peer.ID, wantNext time.Time) {
		t.Helper()
		hide, show, next := r.step(now, connected)
		if !slices.Equal(hide, wantHide) || !slices.Equal(show, wantShow) || !next.Equal(wantNext) {
			t.Fatalf("step at %v: hide %v show %v next %v; want %v %v %v", now.Sub(t0), hide, show, next.Sub(t0),
				wantHide, wantShow, wantNext.Sub(t0))
		}
	}

	r.connection(x, true, at(1))
	r.heardFrom(y, at(0), at(1)) // y: a stored record, never connected: counts from the start
	check(at(1), nil, nil, at(10))
	r.connection(x, false, at(2)) // a blip of x
	check(at(2), nil, nil, at(10))
	r.connection(x, true, at(5))
	live[y] = true // y connected before its events were followed
	check(at(10), nil, nil, time.Time{})
	if r.isHidden(x) || r.isHidden(y) {
		t.Fatal("a node hidden after a blip")
	}

	// x is lost at 20: hidden at 30, not before.
	r.connection(x, false, at(20))
	check(at(29.9), nil, nil, at(30))
	check(at(30), []peer.ID{x}, nil, time.Time{})
	// Something x wrote before it was lost changes nothing; something new shows it again,
	// until a grace period after.
	if r.heardFrom(x, at(19), at(31)) {
		t.Fatal("an old record of x counted as a sign of life")
	}
	check(at(31), nil, nil, time.Time{})
	if !r.heardFrom(x, at(32), at(33)) {
		t.Fatal("a new record of a hidden x did not count")
	}
	check(at(33), nil, []peer.ID{x}, at(42))
	check(at(42), []peer.ID{x}, nil, time.Time{})

	// x connects: shown once caught up with.
	r.connection(x, true, at(50))
	check(at(50), nil, nil, at(60))
	r.caughtUp(x)
	check(at(50.1), nil, []peer.ID{x}, time.Time{})

	// Lost again, back again, and no catch-up comes: shown a grace period after connecting.
	r.connection(x, false, at(70))
	check(at(80), []peer.ID{x}, nil, time.Time{})
	r.connection(x, true, at(90))
	check(at(99), nil, nil, at(100))
	check(at(100), nil, []peer.ID{x}, time.Time{})

	// A node clocked ahead: its record counts as written now.
	r.connection(x, false, at(110))
	check(at(120), []peer.ID{x}, nil, time.Time{})
	if !r.heardFrom(x, at(1e6), at(121)) {
		t.Fatal("a record from the future did not count")
	}
	check(at(121), nil, []peer.ID{x}, at(131))
}
