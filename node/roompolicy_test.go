package node

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"parley/media/signal"
)

// startOrgNode starts a node whose organisation is org.
func startOrgNode(t *testing.T, org string) *Node {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Name: org + " node", Organisation: org, HTTPAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	return startNode(t, dir)
}

// TestRoomOpenToOrganisations: a room created with organisations named is signed with them
// (and the owner's own) and kept across the federation; a participant of a node of another
// organisation is refused with a clear error, and the cascade refuses that node the room,
// while a room naming B's organisation lets B's participant in.
func TestRoomOpenToOrganisations(t *testing.T) {
	a, b := startOrgNode(t, "Ministère A"), startOrgNode(t, "Ministère B")
	federate(t, a, b)

	closed, err := a.NewRoom(RoomOptions{Title: "Défense only", Orgs: []string{" Défense ", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Défense", "Ministère A"}; !slices.Equal(closed.Orgs, want) {
		t.Fatalf("room open to %q, want %q", closed.Orgs, want)
	}
	open, err := a.NewRoom(RoomOptions{Title: "With B", Orgs: []string{"Ministère B"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.NewRoom(RoomOptions{Title: "Bad", Orgs: []string{"line\nbreak"}}); err == nil {
		t.Fatal("an organisation with a control character was accepted")
	}
	if rs, err := a.Rooms(); err != nil || len(rs) != 2 {
		t.Fatalf("rooms after a refused one: %d, %v", len(rs), err)
	}
	for _, id := range []string{closed.ID, open.ID} {
		waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(id); return err == nil })
	}
	for _, n := range []*Node{a, b} {
		if r, _ := n.lookupRoom(closed.ID); !slices.Equal(r.Orgs, closed.Orgs) {
			t.Fatalf("%s holds the room open to %q", n.cfg.Organisation, r.Orgs)
		}
	}

	// Ada on A is in both rooms, so A would link to B for either.
	for _, id := range []string{closed.ID, open.ID} {
		mustDial(t, a, id).join("Ada")
	}

	for _, c := range []struct {
		id   string
		want int
	}{{closed.ID, http.StatusForbidden}, {open.ID, http.StatusOK}} {
		resp, err := http.Get(RoomURL(b.URL(), c.id))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("room page through B: %d, want %d: %s", resp.StatusCode, c.want, page)
		}
		if c.want == http.StatusForbidden && !strings.Contains(string(page), "open to Défense, Ministère A only") {
			t.Fatalf("the page does not say why: %s", page)
		}
	}

	bo := mustDial(t, b, closed.ID)
	bo.send(bo.joinMessage("Bo", ""))
	m, err := bo.nextAny()
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != signal.TypeError || m.Code != signal.CodeNotAllowed {
		t.Fatalf("Bo joining a room closed to B got %+v", m)
	}
	t.Logf("Bo is told: %s", m.Error)

	joined := mustDial(t, b, open.ID).join("Bo")
	if joined.Room.ID != open.ID {
		t.Fatalf("Bo joined %+v", joined.Room)
	}
	waitFor(t, "B's participant in A's view of the open room", func() bool {
		return a.casc.AllowRoom(b.PublicKey(), open.ID)
	})
	if a.casc.AllowRoom(b.PublicKey(), closed.ID) {
		t.Fatal("the cascade would carry a room closed to B's organisation to B")
	}
}
