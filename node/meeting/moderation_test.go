package meeting

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// joinAs joins id with the given account (nil: a guest) and owner flag.
func (r *rig) joinAs(id string, account *Account, owner, moderator bool) (*fakeConn, *Refusal) {
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
	return c, r.m.join(JoinRequest{Conn: c, ID: id, Name: "Name " + id, Keys: keys, Moderator: moderator || owner,
		Owner: owner, Account: account}, r.now)
}

// captureForward records what the meeting forwards to other nodes, and the co-hosts it adds.
func (r *rig) captureForward() (events *[]Event, cohosts *[]string) {
	events, cohosts = &[]Event{}, &[]string{}
	r.m.cfg.Forward = func(_ string, ev Event) { *events = append(*events, ev) }
	r.m.cfg.AddCohost = func(_ string, key string) { *cohosts = append(*cohosts, key) }
	return events, cohosts
}

func TestGuestPolicy(t *testing.T) {
	camille := &Account{Issuer: "https://idp.example", Subject: "camille"}
	r := newRig(t, federation.Room{Title: "Signed in only", Guests: federation.GuestsNo}, Limits{})
	if _, ref := r.joinAs("g", nil, false, false); ref == nil || ref.Code != signal.CodeSignIn {
		t.Fatalf("guest in a room without guests: %v, want sign_in", ref)
	}
	if c, ref := r.joinAs("c", camille, false, false); ref != nil || c.admitted == nil {
		t.Fatalf("signed-in person: %v", ref)
	}
	if c, ref := r.joinAs("m", nil, false, true); ref != nil || c.admitted == nil {
		t.Fatalf("moderator link holder: %v", ref)
	}

	r = newRig(t, federation.Room{Title: "Guests wait", Guests: federation.GuestsLobby}, Limits{})
	mod, _ := r.joinAs("mod", &Account{Issuer: "https://idp.example", Subject: "owner"}, true, false)
	c, _ := r.joinAs("c", camille, false, false)
	g, _ := r.joinAs("g", nil, false, false)
	if c.admitted == nil || g.admitted != nil || len(g.take(signal.TypeLobby)) != 1 {
		t.Fatalf("signed-in admitted %v, guest admitted %v", c.admitted != nil, g.admitted != nil)
	}
	add := mod.take(signal.TypeWaitingAdd)
	if len(add) != 1 || add[0].Waiting[0].ID != "g" || add[0].Waiting[0].Verified {
		t.Fatalf("moderator told %+v", add)
	}
	joined := c.take(signal.TypeJoined)[0]
	if !joined.You.Verified || joined.Room.Guests != federation.GuestsLobby {
		t.Fatalf("signed-in person joined as %+v in %+v", joined.You, joined.Room)
	}
	for _, p := range joined.Participants {
		if p.ID == "mod" && (!p.Owner || !p.Moderator || !p.Verified) {
			t.Fatalf("owner shown as %+v", p)
		}
	}
}

func TestModeratorActions(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync"}, Limits{})
	events, _ := r.captureForward()
	mod := r.mustJoin("mod", true)
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 1, "x")}
	r.refresh()

	if ref := r.m.moderate("a", signal.ActionMute, "b", r.now); ref == nil || ref.Code != signal.CodeNotAllowed {
		t.Fatalf("mute by a participant: %v, want not_allowed", ref)
	}
	if ref := r.m.moderate("mod", signal.ActionMute, "b", r.now); ref != nil {
		t.Fatal(ref)
	}
	if got := b.take(signal.TypeModerated); len(got) != 1 || got[0].Action != signal.ActionMute || got[0].Name != "Name mod" {
		t.Fatalf("b told %+v", got)
	}
	if len(a.take(signal.TypeModerated)) != 0 || len(*events) != 0 {
		t.Fatalf("muting a local participant reached others: events %+v", *events)
	}
	// A remote participant is muted through its node.
	if ref := r.m.moderate("mod", signal.ActionMute, "x", r.now); ref != nil || len(*events) != 1 || (*events)[0].Target != "x" {
		t.Fatalf("mute of a remote participant: %v, forwarded %+v", ref, *events)
	}
	if ref := r.m.moderate("mod", signal.ActionMute, "nobody", r.now); ref == nil {
		t.Fatal("mute of nobody accepted")
	}

	// Mute all: everyone but the moderator who asked.
	if ref := r.m.moderate("mod", signal.ActionMuteAll, "", r.now); ref != nil {
		t.Fatal(ref)
	}
	if len(a.take(signal.TypeModerated)) != 1 || len(b.take(signal.TypeModerated)) != 1 || len(mod.take(signal.TypeModerated)) != 0 {
		t.Fatal("mute all did not reach exactly the others")
	}

	// Lower hands: the node lowers them and everyone sees it.
	for _, id := range []string{"a", "b"} {
		if ref := r.m.change(id, ChangeHand, true, r.now); ref != nil {
			t.Fatal(ref)
		}
	}
	mod.take(signal.TypeParticipantUpdated)
	if ref := r.m.moderate("mod", signal.ActionLowerHands, "", r.now); ref != nil {
		t.Fatal(ref)
	}
	ups := mod.take(signal.TypeParticipantUpdated)
	if len(ups) != 2 || ups[0].Participant.Hand || ups[1].Participant.Hand {
		t.Fatalf("moderator saw %+v", ups)
	}
	if r.m.members["a"].info.Hand || len(a.take(signal.TypeModerated)) != 1 {
		t.Fatal("a's hand is still up, or a was not told")
	}

	// End: everyone here is sent away, and the other nodes are told.
	if ref := r.m.moderate("mod", signal.ActionEnd, "", r.now); ref != nil {
		t.Fatal(ref)
	}
	if a.ended != signal.CodeEnded || b.ended != signal.CodeEnded || mod.ended != signal.CodeEnded || len(r.m.members) != 0 {
		t.Fatalf("after end: a %q b %q mod %q, %d members", a.ended, b.ended, mod.ended, len(r.m.members))
	}
	if last := (*events)[len(*events)-1]; last.Action != signal.ActionEnd || last.By != "mod" {
		t.Fatalf("end forwarded as %+v", last)
	}
}

func TestCohost(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync"}, Limits{})
	_, cohosts := r.captureForward()
	dominique := &Account{Issuer: "https://idp.example", Subject: "dominique"}
	r.joinAs("owner", &Account{Issuer: "https://idp.example", Subject: "camille"}, true, false)
	d, _ := r.joinAs("d", dominique, false, false)
	g, _ := r.joinAs("g", nil, false, false)
	r.joinAs("mod", nil, false, true)

	if ref := r.m.moderate("mod", signal.ActionCohost, "d", r.now); ref == nil || ref.Code != signal.CodeNotAllowed {
		t.Fatalf("co-host made by a moderator who is not the owner: %v", ref)
	}
	if ref := r.m.moderate("owner", signal.ActionCohost, "d", r.now); ref != nil {
		t.Fatal(ref)
	}
	if !r.m.members["d"].moderator || len(d.take(signal.TypeWaiting)) != 1 {
		t.Fatal("d is no moderator, or did not get the lobby")
	}
	if got := d.take(signal.TypeModerated); len(got) != 1 || got[0].Action != signal.ActionCohost {
		t.Fatalf("d told %+v", got)
	}
	if ups := g.take(signal.TypeParticipantUpdated); len(ups) != 1 || !ups[0].Participant.Moderator {
		t.Fatalf("g saw %+v", ups)
	}
	if len(*cohosts) != 1 || (*cohosts)[0] != dominique.Key() {
		t.Fatalf("co-hosts recorded %v", *cohosts)
	}
	// The new co-host moderates at once: mutes the guest.
	if ref := r.m.moderate("d", signal.ActionMute, "g", r.now); ref != nil {
		t.Fatal(ref)
	}
	if got := g.take(signal.TypeModerated); len(got) != 1 || got[0].Action != signal.ActionMute {
		t.Fatalf("guest told %+v", got)
	}
	// A guest made co-host is one for this meeting only: no identity to record.
	if ref := r.m.moderate("owner", signal.ActionCohost, "g", r.now); ref != nil || !r.m.members["g"].moderator || len(*cohosts) != 1 {
		t.Fatalf("guest co-host: %v, recorded %v", ref, *cohosts)
	}

	// The room's record names dominique: joining again, they are a moderator at once.
	r2 := newRig(t, federation.Room{Title: "Sync", Cohosts: []string{dominique.Key()}}, Limits{})
	c, _ := r2.joinAs("d2", dominique, false, false)
	if j := c.take(signal.TypeJoined); len(j) != 1 || !j[0].You.Moderator {
		t.Fatalf("recorded co-host joined as %+v", j)
	}
	// And one already in a meeting when the record names them becomes one.
	r3 := newRig(t, federation.Room{Title: "Sync"}, Limits{})
	c3, _ := r3.joinAs("d3", dominique, false, false)
	r3.m.room.Cohosts = []string{dominique.Key()}
	r3.m.policyCohosts()
	if !r3.m.members["d3"].moderator || len(c3.take(signal.TypeModerated)) != 1 {
		t.Fatal("a member named co-host by the record was not made one")
	}
}

func TestRemoteEvents(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync", Owner: "nodeB"}, Limits{})
	a := r.mustJoin("a", false)
	info := func(name string, mod, owner bool) Info {
		return Info{Name: name, Org: "B", Moderator: mod, Owner: owner}
	}
	rec := federation.StateRecord{Node: "nodeB", Version: 1}
	for id, in := range map[string]Info{"bmod": info("Mod B", true, false), "bown": info("Owner B", true, true), "bx": info("X", false, false)} {
		raw, _ := EncodeInfo(in)
		rec.Participants = append(rec.Participants, federation.Participant{ID: id, Info: raw})
	}
	r.recs = []federation.StateRecord{rec}
	r.refresh()
	cases := []struct {
		name string
		node peer.ID
		ev   Event
		at   time.Time
		ok   bool
	}{
		{"mute by a moderator", "nodeB", Event{By: "bmod", Action: signal.ActionMute, Target: "a"}, r.now, true},
		{"mute by a participant", "nodeB", Event{By: "bx", Action: signal.ActionMute, Target: "a"}, r.now, false},
		{"mute from another node", "nodeC", Event{By: "bmod", Action: signal.ActionMute, Target: "a"}, r.now, false},
		{"mute by nobody", "nodeB", Event{By: "ghost", Action: signal.ActionMute, Target: "a"}, r.now, false},
		{"stale mute", "nodeB", Event{By: "bmod", Action: signal.ActionMute, Target: "a"}, r.now.Add(-EventFreshness - time.Second), false},
		{"co-host by a moderator", "nodeB", Event{By: "bmod", Action: signal.ActionCohost, Target: "a"}, r.now, false},
		{"unknown action", "nodeB", Event{By: "bmod", Action: "ban", Target: "a"}, r.now, false},
		{"bad reaction", "nodeB", Event{By: "bx", Reaction: "poop"}, r.now, false},
		{"reaction", "nodeB", Event{By: "bx", Reaction: "clap"}, r.now, true},
		{"co-host by the owner", "nodeB", Event{By: "bown", Action: signal.ActionCohost, Target: "a"}, r.now, true},
	}
	for _, c := range cases {
		a.msgs = nil
		ref := r.m.remoteEvent(c.node, c.ev, c.at, r.now)
		if (ref == nil) != c.ok {
			t.Errorf("%s: %v, want accepted %v", c.name, ref, c.ok)
		}
		told := len(a.take(signal.TypeModerated)) + len(a.take(signal.TypeReaction))
		if c.ok != (told > 0) {
			t.Errorf("%s: a was told %d messages", c.name, told)
		}
	}
	if !r.m.members["a"].moderator {
		t.Error("the owner's co-host event did not make a a moderator")
	}
	// Another node's end sends everyone here away, even when the record without its author
	// (who left by ending it) came first; not so once they are long gone.
	r.recs = []federation.StateRecord{{Node: "nodeB", Version: 2}}
	r.refresh()
	r.now = r.now.Add(EventFreshness + time.Second)
	r.refresh()
	if ref := r.m.remoteEvent("nodeB", Event{By: "bmod", Action: signal.ActionMute, Target: "a"}, r.now, r.now); ref == nil {
		t.Fatal("an event by someone who left long ago was applied")
	}
	r.recs = []federation.StateRecord{rec}
	r.refresh()
	r.recs = []federation.StateRecord{{Node: "nodeB", Version: 3}}
	r.refresh()
	if ref := r.m.remoteEvent("nodeB", Event{By: "bmod", Action: signal.ActionEnd}, r.now, r.now); ref != nil || a.ended != signal.CodeEnded {
		t.Fatalf("remote end: %v, a ended %q", ref, a.ended)
	}
}

func TestReactions(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync"}, Limits{ReactRate: 1, ReactBurst: 2})
	events, _ := r.captureForward()
	a := r.mustJoin("a", false)
	b := r.mustJoin("b", false)
	r.recs = []federation.StateRecord{remoteRecord(t, "nodeB", 1, "x")}
	r.refresh()
	if ref := r.m.react("a", "heart", r.now); ref != nil {
		t.Fatal(ref)
	}
	for _, c := range []*fakeConn{a, b} {
		if got := c.take(signal.TypeReaction); len(got) != 1 || got[0].ID != "a" || got[0].Reaction != "heart" {
			t.Fatalf("told %+v", got)
		}
	}
	if len(*events) != 1 || (*events)[0].Reaction != "heart" {
		t.Fatalf("forwarded %+v", *events)
	}
	if ref := r.m.react("a", "poop", r.now); ref == nil {
		t.Fatal("unknown reaction accepted")
	}
	r.m.react("a", "clap", r.now)
	if ref := r.m.react("a", "clap", r.now); ref == nil || ref.Code != CodeRateLimited {
		t.Fatalf("third reaction at once: %v, want rate_limited", ref)
	}
}

// Only the room's own node may show someone as the person who made it.
func TestOwnerOnlyFromTheRoomsNode(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Sync", Owner: "nodeB"}, Limits{})
	a := r.mustJoin("a", false)
	var recs []federation.StateRecord
	for _, node := range []peer.ID{"nodeB", "nodeC"} {
		raw, _ := EncodeInfo(Info{Name: "Owner at " + string(node), Moderator: true, Owner: true})
		recs = append(recs, federation.StateRecord{Node: node, Version: 1,
			Participants: []federation.Participant{{ID: "o-" + string(node), Info: raw}}})
	}
	r.recs = recs
	r.refresh()
	owners := map[string]bool{}
	for _, m := range a.take(signal.TypeParticipantJoined) {
		owners[m.Participant.ID] = m.Participant.Owner
	}
	if !owners["o-nodeB"] || owners["o-nodeC"] {
		t.Fatalf("shown as owners: %v", owners)
	}
	if ref := r.m.remoteEvent("nodeC", Event{By: "o-nodeC", Action: signal.ActionCohost, Target: "a"}, r.now, r.now); ref == nil {
		t.Fatal("a co-host made by another node's self-proclaimed owner")
	}
}

// TestRemoteCaptions: a caption cast by another node is relayed here only if its sender is
// that node's participant and marked its transcriber, within the caption rate.
func TestRemoteCaptions(t *testing.T) {
	r := newRig(t, federation.Room{Title: "Captions", Owner: "nodeB"}, Limits{CaptionRate: 1, CaptionBurst: 2})
	a := r.mustJoin("a", false)
	rec := federation.StateRecord{Node: "nodeB", Version: 1}
	for id, in := range map[string]Info{"bagent": {Name: "Transcriber", Agent: true}, "bx": {Name: "X", Lang: "fr"}} {
		raw, _ := EncodeInfo(in)
		rec.Participants = append(rec.Participants, federation.Participant{ID: id, Info: raw})
	}
	r.recs = []federation.StateRecord{rec}
	r.refresh()
	for _, c := range []struct {
		name string
		node peer.ID
		from string
		ok   bool
	}{
		{"from its transcriber", "nodeB", "bagent", true},
		{"from a participant", "nodeB", "bx", false},
		{"from another node", "nodeC", "bagent", false},
		{"from nobody", "nodeB", "ghost", false},
		{"within the burst", "nodeB", "bagent", true},
		{"over the rate", "nodeB", "bagent", false},
	} {
		a.msgs = nil
		ref := r.m.remoteCaption(c.node, c.from, []byte{1, 2, 3}, r.now)
		if (ref == nil) != c.ok {
			t.Errorf("%s: %v, want accepted %v", c.name, ref, c.ok)
		}
		if got := a.take(signal.TypeCaption); c.ok != (len(got) == 1) || (c.ok && got[0].Caption.From != c.from) {
			t.Errorf("%s: a was told %+v", c.name, got)
		}
	}
	// A change of language reaches everyone.
	r.mustJoin("b", false)
	if ref := r.m.setLang("b", "de-AT", r.now); ref != nil {
		t.Fatal(ref)
	}
	if ref := r.m.setLang("b", "deutsch", r.now); ref == nil {
		t.Error("a bad language tag was taken")
	}
	if got := a.take(signal.TypeParticipantUpdated); len(got) != 1 || got[0].Participant.Lang != "de-AT" {
		t.Errorf("a was told %+v of b's language", got)
	}
}
