package node

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func openTestStore(t *testing.T, dir string) *store {
	t.Helper()
	s, err := openStore(filepath.Join(dir, StoreDir), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreRoundTripAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Room{ID: newRoomID(), Title: "Weekly sync", Created: created}
	b := Room{ID: newRoomID(), Title: "Réunion", Created: created.Add(time.Hour)}
	for _, r := range []Room{b, a} {
		if err := s.putRoom(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestStore(t, dir)
	defer s.Close()
	rooms, err := s.rooms()
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 || rooms[0].ID != a.ID || rooms[1].ID != b.ID || !rooms[0].Created.Equal(created) || rooms[1].Title != "Réunion" {
		t.Fatalf("rooms after reopen = %+v", rooms)
	}
	if r, err := s.room(a.ID); err != nil || r.Title != a.Title {
		t.Fatalf("room(a) = %+v, %v", r, err)
	}
	if _, err := s.room(newRoomID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown room: %v, want ErrNotFound", err)
	}
	if _, err := s.room("../../etc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("malformed id: %v, want ErrNotFound", err)
	}
}

func TestStoreRejectsCorruptRecords(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	id := newRoomID()
	bad := map[string][]byte{
		string(roomKey(id)):          []byte(`{"id":"` + id + `","title":"","created":"2026-01-01T00:00:00Z"}`),
		string(roomKey(newRoomID())): []byte(`not json`),
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		for k, v := range bad {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.room(id); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("room with empty title: %v, want a corruption error", err)
	}
	if _, err := s.rooms(); err == nil {
		t.Error("rooms() accepted a corrupt record")
	}
}
