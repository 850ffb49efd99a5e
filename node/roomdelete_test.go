package node

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"parley/federation"
	"parley/media/signal"
)

// TestRoomDeleteAcrossFederation: deleting a room on its owner's admin socket sends everyone
// in it away on both nodes, erases its chat from both stores, keeps anyone from joining it
// again (also after a restart), refuses the non-owner, and is in the audit log.
func TestRoomDeleteAcrossFederation(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	for _, d := range []struct{ dir, org string }{{dirA, "Ministère A"}, {dirB, "Ministère B"}} {
		if _, err := Init(d.dir, InitOptions{Name: d.org + " node", Organisation: d.org, HTTPAddr: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := startNode(t, dirA), startNode(t, dirB)
	federate(t, a, b)
	room, err := a.NewRoom(RoomOptions{Title: "Cellule de crise"})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := a.NewRoom(RoomOptions{Title: "Kept"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(room.ID); return err == nil })

	ada := mustDial(t, a, room.ID)
	ada.join("Ada")
	bo := mustDial(t, b, room.ID)
	bo.join("Bo")
	bo.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("secret plan")})
	bo.must(signal.TypeChat)
	ada.must(signal.TypeChat)
	waitFor(t, "the chat in A's log", func() bool {
		h, _ := a.fed.fed.History(room.ID, 0)
		return len(h) > 0
	})

	if _, err := b.DeleteRoom(room.ID); err == nil || !strings.Contains(err.Error(), "only the node that created it") {
		t.Fatalf("B deleting A's room: %v, want a refusal naming the owner", err)
	}

	c, err := DialAdmin(dirA)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	gone, err := c.DeleteRoom(room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gone.ID != room.ID || gone.Title != "Cellule de crise" {
		t.Fatalf("deleted %+v", gone)
	}
	if _, err := c.DeleteRoom(room.ID); err == nil || !strings.Contains(err.Error(), "no room") {
		t.Fatalf("deleting it again: %v, want an error", err)
	}

	// Everyone is sent away, on both nodes, with the code that tells the client not to rejoin.
	for name, cl := range map[string]*wsClient{"Ada": ada, "Bo": bo} {
		m, err := cl.next(signal.TypeError)
		if err != nil {
			t.Fatalf("%s waiting for the end: %v", name, err)
		}
		if m.Code != signal.CodeRoomDeleted {
			t.Fatalf("%s got %+v, want code %s", name, m, signal.CodeRoomDeleted)
		}
	}
	for name, n := range map[string]*Node{"A": a, "B": b} {
		waitFor(t, name+" erasing the room's log and state", func() bool {
			h, err := n.fed.fed.History(room.ID, 0)
			return err == nil && len(h) == 0 && len(n.fed.fed.State(room.ID)) == 0
		})
		if _, err := n.fed.fed.Append(room.ID, "chat", nil); !errors.Is(err, federation.ErrRoomDeleted) {
			t.Fatalf("%s appending to the deleted room: %v", name, err)
		}
		resp, err := http.Get(RoomURL(n.URL(), room.ID))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("%s room page: %d, want 410", name, resp.StatusCode)
		}
	}
	rs, err := c.ListRooms()
	if err != nil || len(rs) != 1 || rs[0].ID != kept.ID {
		t.Fatalf("rooms after the delete: %+v, %v", rs, err)
	}
	// The audit log is written on its own goroutine: wait for the entry.
	var last AuditEntry
	waitFor(t, "the delete in the audit log", func() bool {
		entries, err := c.Audit(0)
		if err != nil || len(entries) == 0 {
			return false
		}
		last = entries[len(entries)-1]
		return last.Action == OpRoomDelete
	})
	if last.Room != room.ID || !strings.Contains(last.Detail, "Cellule de crise") {
		t.Fatalf("last audit entry %+v, want the delete", last)
	}

	// After a restart B still knows the room is gone, and holds nothing of it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startNode(t, dirB)
	if _, err := b.lookupRoom(room.ID); !errors.Is(err, ErrRoomDeleted) {
		t.Fatalf("B after a restart: %v, want ErrRoomDeleted", err)
	}
	if h, err := b.fed.fed.History(room.ID, 0); err != nil || len(h) != 0 {
		t.Fatalf("B's history after a restart: %d entries, %v", len(h), err)
	}
	cy := mustDial(t, b, room.ID)
	cy.send(cy.joinMessage("Cy", ""))
	m, err := cy.next(signal.TypeError)
	if err != nil || m.Code != signal.CodeRoomDeleted {
		t.Fatalf("joining the deleted room: %+v, %v", m, err)
	}
}

func TestDecodeRoomDelete(t *testing.T) {
	for _, line := range []string{
		`{"op":"room.delete"}`,
		`{"op":"room.delete","room":"not-a-room"}`,
		`{"op":"room.delete","room":"0123456789abcdef0123456789abcdef","title":"x"}`,
	} {
		if _, err := DecodeAdminRequest([]byte(line)); err == nil {
			t.Errorf("%s was accepted", line)
		}
	}
	req, err := DecodeAdminRequest([]byte(`{"op":"room.delete","room":"0123456789abcdef0123456789abcdef"}`))
	if err != nil || req.Room != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("%+v, %v", req, err)
	}
}
