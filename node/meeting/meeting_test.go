package meeting

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// fakeConn records what a meeting tells one client.
type fakeConn struct {
	msgs     []*signal.Message
	admitted *Admission
	ended    string // the code of End, if called
}

func (c *fakeConn) Send(data []byte) {
	m, err := signal.DecodeFromNode(data)
	if err != nil {
		panic(fmt.Sprintf("meeting sent a bad message %s: %v", data, err))
	}
	c.msgs = append(c.msgs, m)
}
func (c *fakeConn) SendMedia(m *signal.Message) { c.msgs = append(c.msgs, m) }
func (c *fakeConn) Admitted(a Admission)        { c.admitted = &a; c.Send(a.Joined) }
func (c *fakeConn) End(code, _ string)          { c.ended = code }

// take returns and forgets the messages of type typ.
func (c *fakeConn) take(typ string) []*signal.Message {
	var out, rest []*signal.Message
	for _, m := range c.msgs {
		if m.Type == typ {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	c.msgs = rest
	return out
}

type fakeMedia struct{ connected, started, closed bool }

func (m *fakeMedia) Handle(*signal.Message) error { return nil }
func (m *fakeMedia) Connected() bool              { return m.connected }
func (m *fakeMedia) Started() bool                { return m.started || m.connected }
func (m *fakeMedia) Close() error                 { m.closed = true; return nil }

type fakeSFU struct{ joined map[string]*fakeMedia }

func (s *fakeSFU) Join(_, id string, _ func(*signal.Message)) (MediaSession, error) {
	m := &fakeMedia{connected: true}
	s.joined[id] = m
	return m, nil
}

type countMetrics struct{ refused, disconnected map[string]int }

func (c *countMetrics) Refused(r string)      { c.refused[r]++ }
func (c *countMetrics) Disconnected(r string) { c.disconnected[r]++ }
func (c *countMetrics) Relayed(int, int)      {}

// rig is a meeting with fakes around it, and a clock.
type rig struct {
	t       *testing.T
	m       *meeting
	sfu     *fakeSFU
	metrics *countMetrics
	now     time.Time
	recs    []federation.StateRecord
	hidden  map[peer.ID]bool
	nodeKey *identity.NodeKey
	conns   map[string]*fakeConn
	users   map[string]*identity.UserIdentity
}

const selfID = peer.ID("self")

func newRig(t *testing.T, room federation.Room, limits Limits) *rig {
	t.Helper()
	nk, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, sfu: &fakeSFU{joined: map[string]*fakeMedia{}}, now: time.Unix(1_700_000_000, 0),
		metrics: &countMetrics{refused: map[string]int{}, disconnected: map[string]int{}},
		hidden:  map[peer.ID]bool{}, nodeKey: nk, conns: map[string]*fakeConn{}, users: map[string]*identity.UserIdentity{}}
	if limits, err = limits.withDefaults(); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Self: selfID, NodeName: "Node A", Organisation: "Ministère A", Limits: limits,
		Certify: func(c CertRequest) (identity.SignedObject, error) {
			return identity.IssueCertificate(nk, identity.CertBody{V: 1, ID: c.ID, Tag: c.Tag, Name: c.Name, Org: "Node A",
				Node: nk.PublicKey(), Room: c.Room, SigPub: c.Keys.SigPub, Age: c.Keys.Age,
				IAT: r.now.Unix(), EXP: r.now.Add(time.Hour).Unix()})
		},
		Media:    r.sfu,
		NodeKeys: func() []string { return nil },
		PeerKey:  func(peer.ID) ed25519.PublicKey { return nk.PublicKey() },
		Metrics:  r.metrics,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if room.ID == "" {
		room.ID = federation.NewRoomID()
	}
	if room.Owner == "" {
		room.Owner = selfID
	}
	r.m = newMeeting(cfg, room)
	return r
}

// join sends a join for a new client id and returns its connection.
func (r *rig) join(id string, moderator bool) (*fakeConn, *Refusal) {
	r.t.Helper()
	u, err := identity.GenerateUserIdentity()
	if err != nil {
		r.t.Fatal(err)
	}
	keys, err := identity.ParsePublicIdentity(b64(u.SigPub()), u.AgeRecipient())
	if err != nil {
		r.t.Fatal(err)
	}
	c := &fakeConn{}
	r.conns[id], r.users[id] = c, u
	return c, r.m.join(JoinRequest{Conn: c, ID: id, Name: "Name " + id, Keys: keys, Moderator: moderator}, r.now)
}

func (r *rig) mustJoin(id string, moderator bool) *fakeConn {
	r.t.Helper()
	c, ref := r.join(id, moderator)
	if ref != nil {
		r.t.Fatalf("join %s: %v", id, ref)
	}
	return c
}

func (r *rig) refresh() {
	r.m.refresh(r.recs, func(n peer.ID) bool { return r.hidden[n] }, r.now)
}

// remoteRecord is a state record of node with participants ids.
func remoteRecord(t *testing.T, node peer.ID, version uint64, ids ...string) federation.StateRecord {
	rec := federation.StateRecord{Node: node, Version: version}
	for _, id := range ids {
		raw, err := EncodeInfo(Info{Name: "Remote " + id, Org: string(node)})
		if err != nil {
			t.Fatal(err)
		}
		rec.Participants = append(rec.Participants, federation.Participant{ID: id, Info: raw})
	}
	return rec
}

func TestJoinLeave(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync"}, Limits{})
	a := r.mustJoin("a", false)
	if a.admitted == nil || len(a.take(signal.TypeJoined)) != 1 || !r.m.dirty {
		t.Fatalf("a not admitted: %+v, dirty %v", a, r.m.dirty)
	}
	b := r.mustJoin("b", false)
	joined := b.take(signal.TypeJoined)
	if len(joined) != 1 || len(joined[0].Participants) != 1 || joined[0].Participants[0].ID != "a" || joined[0].You.Cert == nil {
		t.Fatalf("b joined with %+v", joined)
	}
	if pj := a.take(signal.TypeParticipantJoined); len(pj) != 1 || pj[0].Participant.ID != "b" {
		t.Fatalf("a was told %+v", pj)
	}
	if a.admitted.Tag == b.admitted.Tag {
		t.Fatal("two members share a sender tag")
	}
	if snap := r.m.snapshot(); len(snap) != 2 || snap[0].ID != "a" || snap[1].Info.Cert == nil {
		t.Fatalf("snapshot %+v", snap)
	}
	if _, ref := r.join("b", false); ref == nil {
		t.Fatal("a second join with a taken id was accepted")
	}
	if !r.m.leave("b", signal.ReasonLeft) || r.m.leave("b", signal.ReasonLeft) {
		t.Fatal("leave reports wrongly")
	}
	if pl := a.take(signal.TypeParticipantLeft); len(pl) != 1 || pl[0].ID != "b" {
		t.Fatalf("a was told %+v", pl)
	}
	if len(r.m.closers) != 1 || len(r.m.snapshot()) != 1 {
		t.Fatalf("after leave: closers %d, snapshot %+v", len(r.m.closers), r.m.snapshot())
	}
}

func TestRoomLimitCountsEveryNode(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Small"}, Limits{MaxParticipants: 3})
	r.mustJoin("a", false)
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 1, "b1", "b2")}
	r.refresh()
	if _, ref := r.join("c", false); ref == nil || ref.Code != signal.CodeRoomFull {
		t.Fatalf("fourth participant across nodes: %v, want room_full", ref)
	}
	// One of B's leaves: room for one more.
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 2, "b1")}
	r.refresh()
	r.mustJoin("d", false)
}

func TestLobbyAdmitDenyTimeout(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Door", Lobby: true}, Limits{MaxLobby: 2, LobbyWait: time.Minute})
	mod := r.mustJoin("mod", true)
	if mod.admitted == nil || len(mod.take(signal.TypeWaiting)) != 1 {
		t.Fatalf("moderator not admitted with the lobby list: %+v", mod.msgs)
	}
	g := r.mustJoin("g", false)
	if g.admitted != nil || len(g.take(signal.TypeLobby)) != 1 {
		t.Fatalf("guest not in the lobby: %+v", g)
	}
	if add := mod.take(signal.TypeWaitingAdd); len(add) != 1 || add[0].Waiting[0].ID != "g" {
		t.Fatalf("moderator told %+v", add)
	}
	h := r.mustJoin("h", false)
	if _, ref := r.join("i", false); ref == nil || ref.Code != CodeLobbyFull {
		t.Fatalf("third in a lobby of two: %v, want lobby_full", ref)
	}
	// Only moderators admit; a waiting person is no member.
	if ref := r.m.admitWaiting("g", "h", r.now); ref == nil || ref.Code != signal.CodeNotJoined {
		t.Fatalf("admit by someone waiting: %v", ref)
	}
	if ref := r.m.change("g", ChangeHand, true, r.now); ref == nil || ref.Code != signal.CodeNotJoined {
		t.Fatalf("hand from the lobby: %v", ref)
	}
	if ref := r.m.admitWaiting("mod", "g", r.now); ref != nil {
		t.Fatal(ref)
	}
	if g.admitted == nil || len(g.take(signal.TypeJoined)) != 1 {
		t.Fatalf("admitted guest: %+v", g)
	}
	if rm := mod.take(signal.TypeWaitingRemove); len(rm) != 1 || rm[0].ID != "g" {
		t.Fatalf("moderator told %+v", rm)
	}
	// Admitted means admitted: g acts as a member at once.
	if ref := r.m.change("g", ChangeHand, true, r.now); ref != nil {
		t.Fatal(ref)
	}
	// h waits too long.
	r.now = r.now.Add(time.Minute)
	r.m.tick(r.now)
	if h.ended != CodeLobbyTimeout || r.m.waiting("h") >= 0 || r.metrics.disconnected[CodeLobbyTimeout] != 1 {
		t.Fatalf("after the wait: h ended %q, waiting %d", h.ended, r.m.waiting("h"))
	}
	// A moderator removes g: everyone sees it go, removed.
	if ref := r.m.remove("mod", "g"); ref != nil {
		t.Fatal(ref)
	}
	if g.ended != signal.CodeRemoved {
		t.Fatalf("g ended %q", g.ended)
	}
	if pl := mod.take(signal.TypeParticipantLeft); len(pl) != 1 || pl[0].Reason != signal.ReasonRemoved {
		t.Fatalf("moderator told %+v", pl)
	}
	if ref := r.m.remove("mod", "mod"); ref == nil {
		t.Fatal("a moderator removed itself")
	}
}

func TestMediaDeadline(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{MediaDeadline: 10 * time.Second})
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	r.sfu.joined["b"].connected = false
	// Nothing to connect yet (nobody publishes): no deadline runs.
	r.now = r.now.Add(time.Minute)
	r.m.tick(r.now)
	if b.ended != "" {
		t.Fatal("a participant with nothing to connect was sent away")
	}
	// Media is set up: the deadline runs from the tick that sees it.
	r.sfu.joined["b"].started = true
	r.m.tick(r.now)
	r.now = r.now.Add(9 * time.Second)
	r.m.tick(r.now)
	if b.ended != "" {
		t.Fatal("sent away before the deadline")
	}
	r.now = r.now.Add(time.Second)
	r.m.tick(r.now)
	if b.ended != CodeMediaTimeout || a.ended != "" || r.m.members["b"] != nil || r.m.members["a"] == nil {
		t.Fatalf("after the deadline: a %q, b %q", a.ended, b.ended)
	}
	if !r.sfu.joined["b"].closed && len(r.m.closers) != 1 {
		t.Fatal("b's media is not closed")
	}
}

// A participant with nothing to connect stays, until the room is full and a newcomer needs
// its place.
func TestIdleGivesPlace(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{MaxParticipants: 2, MediaDeadline: 10 * time.Second})
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	r.sfu.joined["a"].connected, r.sfu.joined["b"].connected = false, false
	r.now = r.now.Add(5 * time.Second)
	r.sfu.joined["b"].connected = true // b's media came up
	r.m.tick(r.now)
	if _, ref := r.join("c", false); ref == nil || ref.Code != signal.CodeRoomFull {
		t.Fatalf("join before anyone is idle for the deadline: %v, want room_full", ref)
	}
	r.now = r.now.Add(5 * time.Second)
	c := r.mustJoin("d", false)
	if a.ended != CodeMediaTimeout || b.ended != "" || c.admitted == nil || r.m.members["a"] != nil {
		t.Fatalf("a ended %q, b ended %q, d admitted %v", a.ended, b.ended, c.admitted != nil)
	}
	if _, ref := r.join("e", false); ref == nil || ref.Code != signal.CodeRoomFull {
		t.Fatalf("join with nobody idle: %v, want room_full", ref)
	}
}

func TestRateLimitsAndFlood(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{HandRate: 1, HandBurst: 2, FloodRefusals: 5, FloodWindow: time.Minute})
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	a.take(signal.TypeParticipantJoined)
	for i, want := range []string{"", "", CodeRateLimited, CodeRateLimited} {
		ref := r.m.change("a", ChangeHand, i%2 == 0, r.now)
		if (ref == nil) != (want == "") || (ref != nil && ref.Code != want) {
			t.Fatalf("toggle %d: %v, want %q", i, ref, want)
		}
	}
	if up := b.take(signal.TypeParticipantUpdated); len(up) != 2 {
		t.Fatalf("b saw %d updates, want 2", len(up))
	}
	for range 3 {
		r.m.change("a", ChangeHand, true, r.now)
	}
	if a.ended != CodeFlood || r.m.members["a"] != nil || r.metrics.disconnected[CodeFlood] != 1 {
		t.Fatalf("flooder: ended %q, still a member %v", a.ended, r.m.members["a"] != nil)
	}
	if b.ended != "" || r.metrics.refused[CodeRateLimited] != 5 {
		t.Fatalf("b ended %q; refusals %v", b.ended, r.metrics.refused)
	}
}

func TestKeyRelay(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{KeyRate: 1, KeyBurst: 3})
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 1, "x")}
	r.refresh()
	seal := func(kid uint64, to ...string) Key {
		var rcpts []identity.Recipient
		for _, id := range to {
			rec := identity.Recipient{ID: id}
			if u := r.users[id]; u != nil {
				rec.Age = u.AgeRecipient()
			} else {
				other, _ := identity.GenerateUserIdentity()
				rec.Age = other.AgeRecipient()
			}
			rcpts = append(rcpts, rec)
		}
		env, err := identity.SealKeyEnvelope(r.users["a"], r.m.room.ID, "a", identity.KIDOf(a.admitted.Tag, uint16(kid)), make([]byte, 16), rcpts, r.now)
		if err != nil {
			t.Fatal(err)
		}
		body, err := identity.ParseEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		return Key{From: "a", Envelope: env, Body: body}
	}
	forward, ref := r.m.key(seal(1, "b", "x"), r.now)
	if ref != nil || !forward || len(b.take(signal.TypeKey)) != 1 || len(a.take(signal.TypeKey)) != 0 {
		t.Fatalf("first key: forward %v, %v", forward, ref)
	}
	if _, ref := r.m.key(seal(1, "b"), r.now); ref == nil || ref.Code != CodeDuplicateKey {
		t.Fatalf("repeated key ID: %v", ref)
	}
	if forward, ref := r.m.key(seal(2, "b"), r.now); ref != nil || forward {
		t.Fatalf("local-only key: forward %v, %v", forward, ref)
	}
	if _, ref := r.m.key(seal(3, "b"), r.now); ref == nil || ref.Code != CodeRateLimited {
		t.Fatalf("over the rate: %v", ref)
	}
	r.now = r.now.Add(time.Second)
	many := []string{"b", "x"}
	for i := range 5 {
		many = append(many, fmt.Sprintf("nobody%d", i))
	}
	if _, ref := r.m.key(seal(4, many...), r.now); ref == nil || ref.Code != signal.CodeBadKeys {
		t.Fatalf("envelope naming more people than the room holds: %v", ref)
	}
}

func TestRemoteParticipants(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{})
	a := r.mustJoin("a", false)
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 1, "b1", "b2"), remoteRecord(t, selfID, 1, "a")}
	bad := r.recs[0]
	bad.Participants = append(bad.Participants, federation.Participant{ID: "evil", Info: json.RawMessage(`{"name":"x","oops":1}`)})
	r.recs[0] = bad
	r.refresh()
	if pj := a.take(signal.TypeParticipantJoined); len(pj) != 2 {
		t.Fatalf("joined %d remote participants, want 2 (the bad info left out)", len(pj))
	}
	// b1 raises a hand; b2 leaves.
	rec := remoteRecord(t, "nodeB", 2, "b1")
	raw, _ := EncodeInfo(Info{Name: "Remote b1", Org: "nodeB", Hand: true})
	rec.Participants[0].Info = raw
	r.recs = []federation.StateRecord{rec}
	r.refresh()
	if up := a.take(signal.TypeParticipantUpdated); len(up) != 1 || !up[0].Participant.Hand {
		t.Fatalf("updates %+v", up)
	}
	if pl := a.take(signal.TypeParticipantLeft); len(pl) != 1 || pl[0].ID != "b2" || pl[0].Reason != signal.ReasonLeft {
		t.Fatalf("left %+v", pl)
	}
	// B goes out of reach, then comes back.
	r.hidden["nodeB"] = true
	r.refresh()
	if pl := a.take(signal.TypeParticipantLeft); len(pl) != 1 || pl[0].Reason != signal.ReasonUnreachable {
		t.Fatalf("out of reach: %+v", pl)
	}
	delete(r.hidden, "nodeB")
	r.refresh()
	if pj := a.take(signal.TypeParticipantJoined); len(pj) != 1 || pj[0].Participant.ID != "b1" {
		t.Fatalf("back: %+v", pj)
	}
}

func TestRestrictedRoom(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r", Owner: "nodeB", Orgs: []string{"Défense", "Ministère B"}}, Limits{})
	if _, ref := r.join("a", false); ref == nil || ref.Code != signal.CodeNotAllowed || !strings.Contains(ref.Text, "Ministère A") {
		t.Fatalf("join to a room closed to this organisation: %v", ref)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestRemoteKeyBeforeItsRecord: the key envelope of a participant of another node that
// arrives before the state record naming them is held and relayed once they are shown;
// one whose sender never shows up is forgotten.
func TestRemoteKeyBeforeItsRecord(t *testing.T) {
	r := newRig(t, federation.Room{Title: "r"}, Limits{})
	a := r.mustJoin("a", false)
	x, err := identity.GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	const tag = 77
	cert, err := identity.IssueCertificate(r.nodeKey, identity.CertBody{V: 1, ID: "x", Tag: tag, Name: "Remote x", Org: "B",
		Node: r.nodeKey.PublicKey(), Room: r.m.room.ID, SigPub: x.SigPub(), Age: x.AgeRecipient(),
		IAT: r.now.Unix(), EXP: r.now.Add(identity.CertificateLifetime).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	seal := func(from string, kid uint16) identity.SignedObject {
		env, err := identity.SealKeyEnvelope(x, r.m.room.ID, from, identity.KIDOf(tag, kid), make([]byte, 16),
			[]identity.Recipient{{ID: "a", Age: r.users["a"].AgeRecipient()}}, r.now)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	if ref := r.m.remoteKey("nodeB", seal("x", 1), r.now); ref != nil {
		t.Fatalf("envelope of a sender not shown yet: %v", ref)
	}
	if ref := r.m.remoteKey("nodeB", seal("ghost", 1), r.now); ref != nil {
		t.Fatalf("envelope of a sender never shown: %v", ref)
	}
	if got := a.take(signal.TypeKey); len(got) != 0 {
		t.Fatalf("relayed before its sender was shown: %+v", got)
	}
	raw, err := EncodeInfo(Info{Name: "Remote x", Cert: &cert})
	if err != nil {
		t.Fatal(err)
	}
	r.now = r.now.Add(time.Second)
	r.recs = []federation.StateRecord{{Node: "nodeB", Version: 1, Participants: []federation.Participant{{ID: "x", Info: raw}}}}
	r.refresh()
	if got := a.take(signal.TypeKey); len(got) != 1 {
		t.Fatalf("a got %d key messages once x was shown, want 1", len(got))
	}
	r.now = r.now.Add(heldKeyWait + time.Second)
	r.m.tick(r.now)
	if len(r.m.held) != 0 {
		t.Fatalf("%d envelopes still held after %v", len(r.m.held), heldKeyWait)
	}
}
