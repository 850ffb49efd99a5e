package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/identity"
	"parley/media/signal"
)

// verified checks a participant's certificate the way a client does.
func verified(t *testing.T, n *Node, room string, p *signal.Participant) *identity.CertBody {
	t.Helper()
	if p.Cert == nil {
		t.Fatalf("participant %s has no certificate", p.ID)
	}
	trusted := func(k ed25519.PublicKey) bool { return k.Equal(n.key.PublicKey()) }
	cert, err := identity.VerifyCertificate(*p.Cert, trusted, room, time.Now())
	if err != nil {
		t.Fatalf("certificate of %s: %v", p.ID, err)
	}
	return cert
}

func TestJoinCertifiesKeys(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("Certified")
	ada := mustDial(t, n, room.ID)
	j := ada.join("Ada")
	if want := base64.RawURLEncoding.EncodeToString(n.key.PublicKey()); !slices.Equal(j.NodeKeys, []string{want}) {
		t.Fatalf("node_keys %v, want [%s]", j.NodeKeys, want)
	}
	trusted := func(k ed25519.PublicKey) bool { return k.Equal(n.key.PublicKey()) }
	cert, err := identity.VerifyCertificate(*j.You.Cert, trusted, room.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cert.ID != j.You.ID || cert.Name != "Ada" || cert.Org != n.cfg.Name || cert.Room != room.ID ||
		!cert.SigPub.Equal(ada.id.SigPub()) || cert.Age != ada.id.AgeRecipient() {
		t.Fatalf("certificate %+v does not match Ada's join", cert)
	}
	bo := mustDial(t, n, room.ID)
	jb := bo.join("Bo")
	certB, err := identity.VerifyCertificate(*jb.You.Cert, trusted, room.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if certB.Tag == cert.Tag {
		t.Fatalf("two participants share sender tag %d", cert.Tag)
	}
	if len(jb.Participants) != 1 || jb.Participants[0].Cert == nil || jb.Participants[0].Org != n.cfg.Name {
		t.Fatalf("Bo sees %+v, want Ada with her certificate", jb.Participants)
	}
	if m := ada.must(signal.TypeParticipantJoined); m.Participant.Cert == nil {
		t.Fatal("participant_joined without the certificate")
	}
}

func TestJoinWithBadKeysRefused(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("r")
	for _, keys := range []signal.Keys{
		{SigPub: "not-base64!", Age: "age1xyz"},
		{SigPub: base64.RawURLEncoding.EncodeToString(make([]byte, 31)), Age: "age1xyz"},
	} {
		c := mustDial(t, n, room.ID)
		c.send(&signal.Message{Type: signal.TypeJoin, Name: "Eve", Keys: &keys})
		if m := c.must(signal.TypeError); m.Code != signal.CodeBadKeys {
			t.Fatalf("keys %+v: got %+v, want bad_keys", keys, m)
		}
	}
	if got := counter(t, n, "parley_signalling_errors_total", signal.CodeBadKeys); got != 2 {
		t.Errorf("bad_keys counter %v, want 2", got)
	}
}

// seal makes a key envelope from c (joined as j) to the given participants.
func seal(t *testing.T, c *wsClient, j *signal.Message, kid uint64, to ...*wsClient) *identity.SignedObject {
	t.Helper()
	var rs []identity.Recipient
	for _, r := range to {
		rs = append(rs, identity.Recipient{ID: r.pid, Age: r.id.AgeRecipient()})
	}
	env, err := identity.SealKeyEnvelope(c.id, j.Room.ID, j.You.ID, kid, make([]byte, 16), rs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &env
}

func TestKeyEnvelopesRelayedToNamedParticipantsOnly(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, _ := n.CreateRoom("Keys")
	ada, bo, cy := mustDial(t, n, room.ID), mustDial(t, n, room.ID), mustDial(t, n, room.ID)
	ja := ada.join("Ada")
	bo.pid = bo.join("Bo").You.ID
	cy.pid = cy.join("Cy").You.ID
	tag := verified(t, n, room.ID, ja.You).Tag

	env := seal(t, ada, ja, identity.KIDOf(tag, 1), bo)
	ada.send(&signal.Message{Type: signal.TypeKey, Envelope: env})
	if m := bo.must(signal.TypeKey); m.Envelope.Body != env.Body || m.Envelope.Sig != env.Sig {
		t.Fatal("Bo got another envelope than Ada sent")
	}

	// Refused: someone else's tag, a forged signature, someone else's name.
	cases := map[string]*identity.SignedObject{
		"other tag": seal(t, ada, ja, identity.KIDOf(tag+1, 1), bo),
		"bad signature": func() *identity.SignedObject {
			e := *seal(t, ada, ja, identity.KIDOf(tag, 2), bo)
			e.Sig = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
			return &e
		}(),
		"forged sender": seal(t, cy, ja, identity.KIDOf(tag, 3), bo), // signed by Cy in Ada's name
	}
	for name, e := range cases {
		ada.send(&signal.Message{Type: signal.TypeKey, Envelope: e})
		if m := ada.must(signal.TypeError); m.Code != signal.CodeBadKeys {
			t.Errorf("%s: got %+v, want bad_keys", name, m)
		}
	}
	// Cy was never named and must have received nothing; Bo nothing more.
	ada.send(&signal.Message{Type: signal.TypeKey, Envelope: seal(t, ada, ja, identity.KIDOf(tag, 4), cy)})
	if m := cy.must(signal.TypeKey); !strings.Contains(m.Envelope.Body, `"kid":`+strconv.FormatUint(identity.KIDOf(tag, 4), 10)) {
		t.Fatalf("Cy's first envelope is %s, want the one addressed to Cy", m.Envelope.Body)
	}
	if got := counter(t, n, "parley_key_envelopes_total", ""); got != 2 {
		t.Errorf("envelopes relayed %v, want 2", got)
	}
}

func TestLobbyAdmitAndRemove(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, err := n.NewRoom(RoomOptions{Title: "Behind a door", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	mod := mustDial(t, n, room.ID)
	mod.send(mod.joinMessage("Moderator", n.moderatorToken(room.ID)))
	jm := mod.must(signal.TypeJoined)
	if !jm.You.Moderator || !jm.Room.Lobby {
		t.Fatalf("moderator joined as %+v in %+v", jm.You, jm.Room)
	}

	// A guest waits: no participants, no keys, nothing but lobby.
	guest := mustDial(t, n, room.ID)
	guest.send(guest.joinMessage("Guest", ""))
	if m := guest.must(signal.TypeLobby); m.Room == nil || m.Room.Title != "Behind a door" {
		t.Fatalf("lobby message %+v", m)
	}
	if w := mod.must(signal.TypeWaiting); len(w.Waiting) != 0 {
		t.Fatalf("moderator joined with the lobby %+v, want it empty", w.Waiting)
	}
	w := mod.must(signal.TypeWaitingAdd)
	if len(w.Waiting) != 1 || w.Waiting[0].Name != "Guest" {
		t.Fatalf("moderator sees waiting %+v", w.Waiting)
	}
	guest.pid = w.Waiting[0].ID
	if got := counter(t, n, "parley_lobby_waiting", ""); got != 1 {
		t.Errorf("lobby gauge %v, want 1", got)
	}
	// An envelope naming the guest is not delivered while it waits.
	mod.send(&signal.Message{Type: signal.TypeKey, Envelope: seal(t, mod, jm, identity.KIDOf(verified(t, n, room.ID, jm.You).Tag, 1), guest)})
	guest.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("let me in")})
	if m := guest.must(signal.TypeError); m.Code != signal.CodeNotJoined {
		t.Fatalf("chat from the lobby: %+v, want not_joined", m)
	}

	// A fake moderator token makes nobody a moderator; a participant cannot admit.
	eve := mustDial(t, n, room.ID)
	eve.send(eve.joinMessage("Eve", "forged-token"))
	if m := eve.must(signal.TypeError); m.Code != signal.CodeNotAllowed {
		t.Fatalf("forged token: %+v, want not_allowed", m)
	}
	eve.must(signal.TypeLobby)
	eveID := mod.mustWaiting(t, "Eve")

	mod.send(&signal.Message{Type: signal.TypeAdmit, ID: guest.pid})
	jg, err := guest.nextAny()
	if err != nil || jg.Type != signal.TypeJoined {
		t.Fatalf("after admit the guest got %+v (%v), want joined first: no key may reach the lobby", jg, err)
	}
	if len(jg.Participants) != 1 || jg.Participants[0].Name != "Moderator" {
		t.Fatalf("admitted guest sees %+v", jg.Participants)
	}
	if m := mod.must(signal.TypeParticipantJoined); m.Participant.Name != "Guest" {
		t.Fatalf("moderator got %+v", m.Participant)
	}
	// Admitted means admitted: the guest acts as a member at once.
	raised := true
	guest.send(&signal.Message{Type: signal.TypeHand, Raised: &raised})
	if m := mod.must(signal.TypeParticipantUpdated); m.Participant.ID != jg.You.ID || !m.Participant.Hand {
		t.Fatalf("moderator got %+v, want the guest's raised hand", m.Participant)
	}

	// The moderator turns Eve away and removes the guest.
	mod.send(&signal.Message{Type: signal.TypeRemove, ID: eveID})
	if m := eve.must(signal.TypeError); m.Code != signal.CodeRemoved {
		t.Fatalf("Eve got %+v, want removed", m)
	}
	mod.send(&signal.Message{Type: signal.TypeRemove, ID: jg.You.ID})
	if m := guest.must(signal.TypeError); m.Code != signal.CodeRemoved {
		t.Fatalf("guest got %+v, want removed", m)
	}
	if left := mod.must(signal.TypeParticipantLeft); left.ID != jg.You.ID || left.Reason != signal.ReasonRemoved {
		t.Fatalf("moderator got %+v, want the guest left, removed", left)
	}
	if _, err := guest.next(signal.TypePong); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("removed guest's connection: %v, want closed by the node", err)
	}
	// Only moderators admit or remove.
	bo := mustDial(t, n, room.ID)
	bo.send(bo.joinMessage("Bo", ""))
	bo.must(signal.TypeLobby)
	mod.send(&signal.Message{Type: signal.TypeAdmit, ID: mod.mustWaiting(t, "Bo")})
	bo.must(signal.TypeJoined)
	bo.send(&signal.Message{Type: signal.TypeRemove, ID: jm.You.ID})
	if m := bo.must(signal.TypeError); m.Code != signal.CodeNotAllowed {
		t.Fatalf("participant removing: %+v, want not_allowed", m)
	}
}

// mustWaiting reads "waiting_add" messages until one names name, and returns that person's
// id.
func (c *wsClient) mustWaiting(t *testing.T, name string) string {
	t.Helper()
	for range 10 {
		for _, w := range c.must(signal.TypeWaitingAdd).Waiting {
			if w.Name == name {
				return w.ID
			}
		}
	}
	t.Fatalf("%s never appeared in the lobby", name)
	return ""
}
