package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/media/signal"
)

// Administrative actions and moderators' actions land in the audit log, in order, and
// survive a restart; reads are not logged.
func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c, err := DialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	room, err := c.CreateRoom(RoomOptions{Title: "Audited", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FederationInvite(time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRooms(); err != nil {
		t.Fatal(err)
	}
	mod := mustDial(t, n, room.ID)
	mod.send(mod.joinMessage("Mona", n.moderatorToken(room.ID)))
	mod.must(signal.TypeJoined)
	guest := mustDial(t, n, room.ID)
	guest.send(guest.joinMessage("Gus", ""))
	guest.must(signal.TypeLobby)
	id := mod.mustWaiting(t, "Gus")
	mod.send(&signal.Message{Type: signal.TypeAdmit, ID: id})
	guest.must(signal.TypeJoined)
	mod.send(&signal.Message{Type: signal.TypeRemove, ID: id})
	guest.must(signal.TypeError)

	want := []string{"admin room.create " + room.ID, "admin federation.invite", "admit", "remove"}
	check := func(entries []AuditEntry) error {
		var got []string
		for _, e := range entries {
			got = append(got, strings.TrimSpace(e.Actor+" "+e.Action+" "+e.Room))
		}
		if len(entries) != len(want) {
			return fmt.Errorf("audit log %q", got)
		}
		for i, w := range want {
			if !strings.Contains(got[i], w) {
				return fmt.Errorf("entry %d is %q, want %q", i, got[i], w)
			}
		}
		if e := entries[3]; !strings.HasPrefix(e.Actor, "moderator ") || !strings.Contains(e.Actor, "Mona") || !strings.Contains(e.Target, "Gus") {
			return fmt.Errorf("moderator entry %+v", e)
		}
		return nil
	}
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries, err := c.Audit(0)
		if err != nil {
			t.Fatal(err)
		}
		if last = check(entries); last == nil {
			break
		}
	}
	if last != nil {
		t.Fatal(last)
	}
	c.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	startNode(t, dir)
	c, err = DialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := c.Audit(2)
	if err != nil || len(entries) != 2 || entries[1].Action != "remove" {
		t.Fatalf("the newest two entries after a restart: %+v, %v", entries, err)
	}
}
