package node

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"parley/identity"
	"parley/media/signal"
)

// federatedPair starts two nodes and federates them by invite.
func federatedPair(t *testing.T) (a, b *Node) {
	t.Helper()
	a, b = startNode(t, t.TempDir()), startNode(t, t.TempDir())
	inv := federate(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.JoinFederation(ctx, inv); err == nil {
		t.Fatal("an invite was redeemed twice")
	}
	return a, b
}

// federate makes an invite on a and redeems it on b; it returns the invite.
func federate(t *testing.T, a, b *Node) string {
	t.Helper()
	inv, err := a.Invite(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.JoinFederation(ctx, inv); err != nil {
		t.Fatalf("join by invite: %v", err)
	}
	return inv
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRoomAcrossTwoNodes: a room created on A is joined through B; each side sees the other's
// participant with a certificate it can verify with the node keys it is given, and chat and
// key envelopes cross between the nodes.
func TestRoomAcrossTwoNodes(t *testing.T) {
	a, b := federatedPair(t)
	room, err := a.CreateRoom("Across")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(room.ID); return err == nil })

	ada := mustDial(t, a, room.ID)
	ja := ada.join("Ada")
	bo := mustDial(t, b, room.ID)
	jb := bo.join("Bo")
	if jb.Room.Title != "Across" {
		t.Fatalf("Bo joined %+v through B", jb.Room)
	}
	// B takes part in the room from now on and catches up with A's record.
	var adaAtB *signal.Participant
	if len(jb.Participants) == 1 {
		adaAtB = &jb.Participants[0]
	} else {
		adaAtB = bo.must(signal.TypeParticipantJoined).Participant
	}
	if adaAtB.Name != "Ada" || adaAtB.ID != ja.You.ID {
		t.Fatalf("Bo sees %+v, want Ada", adaAtB)
	}
	// Bo trusts A's certificate for Ada because B names A's key.
	trusted := func(k ed25519.PublicKey) bool {
		return slices.Contains(jb.NodeKeys, base64.RawURLEncoding.EncodeToString(k))
	}
	if _, err := identity.VerifyCertificate(*adaAtB.Cert, trusted, room.ID, time.Now()); err != nil {
		t.Fatalf("Ada's certificate at Bo: %v", err)
	}
	if m := ada.must(signal.TypeParticipantJoined); m.Participant.Name != "Bo" || m.Participant.Org != "test node" {
		t.Fatalf("Ada sees %+v", m.Participant)
	}

	// Chat crosses, in both directions, stored on both nodes.
	ada.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("from A")})
	if m := bo.must(signal.TypeChat); string(m.Chat.SFrame) != "from A" || m.Chat.Name != "Ada" || m.Chat.Node != a.PeerID() {
		t.Fatalf("Bo got %+v", m.Chat)
	}
	if m := ada.must(signal.TypeChat); string(m.Chat.SFrame) != "from A" {
		t.Fatalf("Ada's echo %+v", m.Chat)
	}
	bo.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("from B")})
	if m := ada.must(signal.TypeChat); string(m.Chat.SFrame) != "from B" {
		t.Fatalf("Ada got %+v", m.Chat)
	}

	// Ada's key envelope for Bo goes through A, the federation and B.
	tag := verified(t, a, room.ID, ja.You).Tag
	bo.pid = jb.You.ID
	env := seal(t, ada, ja, identity.KIDOf(tag, 1), bo)
	ada.send(&signal.Message{Type: signal.TypeKey, Envelope: env})
	if m := bo.must(signal.TypeKey); m.Envelope.Body != env.Body {
		t.Fatal("Bo got another envelope than Ada sent")
	}

	// Bo leaves: Ada sees it.
	bo.send(&signal.Message{Type: signal.TypeLeave})
	if m := ada.must(signal.TypeParticipantLeft); m.ID != jb.You.ID {
		t.Fatalf("Ada got %+v", m)
	}
}
