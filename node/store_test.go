package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parley/federation"
	"parley/media/signal"
)

func openTestStore(t *testing.T, dir string) *store {
	t.Helper()
	s, _, err := openStore(filepath.Join(dir, StoreDir), testLogger(t), "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putLegacyRows writes rows of the room table of earlier versions, as their data directories
// hold them (with no data format recorded: format 1).
func putLegacyRows(t *testing.T, dir string, rows map[string]string) {
	t.Helper()
	s := openTestStore(t, dir)
	defer s.Close()
	if err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(formatKey); err != nil {
			return err
		}
		for id, v := range rows {
			if err := txn.Set(append(slices.Clone(legacyRoomPrefix), id...), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// legacyKeys are the ids left in the old room table.
func legacyKeys(t *testing.T, dir string) []string {
	t.Helper()
	s := openTestStore(t, dir)
	defer s.Close()
	var ids []string
	_ = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: legacyRoomPrefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(legacyRoomPrefix):]))
		}
		return nil
	})
	slices.Sort(ids)
	return ids
}

func legacyRow(id, title string, created time.Time, lobby bool, orgs ...string) string {
	data, _ := json.Marshal(legacyRoom{ID: id, Title: title, Created: created, Lobby: lobby, Orgs: orgs})
	return string(data)
}

// A data directory with the old room table starts with its rooms in the federation's
// directory (time, lobby and organisations kept), the table gone but for a row that does
// not decode, and a restricted room restricted after every restart, also for a node that
// federates only then.
func TestMigrateLegacyRooms(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Name: "Ministère A", HTTPAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	closedID, openID, badID := "abcdefghijklmnopqrstuvwxyz", federation.NewRoomID(), federation.NewRoomID()
	putLegacyRows(t, dir, map[string]string{
		closedID: legacyRow(closedID, "Défense only", created, true, "Défense"),
		openID:   legacyRow(openID, "Open", created.Add(time.Hour), false),
		badID:    `{"id":"` + badID + `","title":""}`,
	})

	n := startNode(t, dir)
	rooms, err := n.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 || rooms[0].ID != closedID || rooms[1].ID != openID {
		t.Fatalf("rooms after the move: %+v", rooms)
	}
	r := rooms[0]
	if !r.Created.Equal(created) || !r.Lobby || !slices.Equal(r.Orgs, []string{"Défense", "Ministère A"}) || r.Title != "Défense only" {
		t.Fatalf("moved room %+v", r)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := legacyKeys(t, dir); !slices.Equal(got, []string{badID}) {
		t.Fatalf("old room table after the move holds %v, want only the row that does not decode", got)
	}

	n = startNode(t, dir)
	if got, err := n.lookupRoom(closedID); err != nil || !slices.Equal(got.Orgs, r.Orgs) || got.Version != 1 {
		t.Fatalf("after a restart: %+v, %v", got, err)
	}
	// A node of another organisation that federates only now is refused the room.
	b := startOrgNode(t, "Ministère B")
	federate(t, n, b)
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(closedID); return err == nil })
	if got, _ := b.lookupRoom(closedID); !slices.Equal(got.Orgs, r.Orgs) {
		t.Fatalf("B holds the room open to %v", got.Orgs)
	}
	c := mustDial(t, b, closedID)
	c.send(c.joinMessage("Bea", ""))
	if m := c.must(signal.TypeError); m.Code != signal.CodeNotAllowed {
		t.Fatalf("B's participant got %+v, want not_allowed", m)
	}
}

// A room the directory holds open to all while the old table restricts it (an earlier start
// announced it without its organisations) is restricted again.
func TestMigrateRestrictsAgain(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, InitOptions{Name: "Ministère A", HTTPAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir)
	id := federation.NewRoomID()
	if _, err := n.Federation().CreateRoom(federation.RoomSpec{ID: id, Title: "Défense only"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	putLegacyRows(t, dir, map[string]string{id: legacyRow(id, "Défense only", time.Now().UTC(), false, "Défense")})
	n = startNode(t, dir)
	r, err := n.lookupRoom(id)
	if err != nil || !slices.Equal(r.Orgs, []string{"Défense", "Ministère A"}) || r.Version != 2 {
		t.Fatalf("room after the move: %+v, %v", r, err)
	}
}

// A store whose table is cut in half does not start the node with a panic: New returns an
// error saying the store is damaged and what to do; a store held by another process says so.
func TestDamagedStore(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	for i := range 50 {
		if _, err := n.CreateRoom(fmt.Sprintf("room %d with a title long enough to fill tables", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// A node running on the directory holds it.
	n = startNode(t, dir)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaUDPAddr = "127.0.0.1:0"
	if _, err := New(cfg, testLogger(t)); !errors.Is(err, errStoreLocked) {
		t.Errorf("a second node on the same directory: %v, want errStoreLocked", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	damageTables(t, dir, func(p string, size int64) error { return os.Truncate(p, size/2) })
	_, err = New(cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "store") {
		t.Fatalf("a store with tables cut in half: %v, want an error about the store", err)
	}
	t.Logf("damaged store: %v", err)
}

// A started node records the current data format; a store of a newer format is refused with
// an error that says what to do.
func TestDataFormat(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, dir)
	if f, err := s.format(); err != nil || f != DataFormat {
		t.Fatalf("format after a start: %d, %v", f, err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey, []byte("9")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaUDPAddr = "127.0.0.1:0"
	_, err = New(cfg, testLogger(t))
	if !errors.Is(err, errNewerFormat) || !strings.Contains(err.Error(), "format 9") {
		t.Fatalf("a newer format: %v", err)
	}
}
