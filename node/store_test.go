package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parley/media/signal"
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
	for i := 1; i <= 5; i++ {
		m, err := s.appendChat(a.ID, signal.ChatMessage{From: "p1", Name: "Ada", SFrame: []byte(fmt.Sprint("message ", i)), Time: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != uint64(i) {
			t.Fatalf("message %d got seq %d", i, m.Seq)
		}
	}
	if _, err := s.appendChat(b.ID, signal.ChatMessage{From: "p2", Name: "Bo", SFrame: []byte("other room")}); err != nil {
		t.Fatal(err)
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
	h, err := s.chatHistory(a.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Seq != 3 || h[2].Seq != 5 || string(h[2].SFrame) != "message 5" {
		t.Fatalf("last 3 of room a = %+v, want seqs 3..5 oldest first", h)
	}
	// The sequence continues after the restart.
	m, err := s.appendChat(a.ID, signal.ChatMessage{From: "p1", Name: "Ada", SFrame: []byte("after")})
	if err != nil || m.Seq != 6 {
		t.Fatalf("append after reopen: seq %d, %v; want 6", m.Seq, err)
	}
	hb, err := s.chatHistory(b.ID, 200)
	if err != nil || len(hb) != 1 || string(hb[0].SFrame) != "other room" {
		t.Fatalf("room b history = %+v, %v", hb, err)
	}
}

func TestStoreConcurrentChatGetsDistinctSeqs(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	room := newRoomID()
	const writers, each = 4, 10
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				if _, err := s.appendChat(room, signal.ChatMessage{From: "p", Name: "n", SFrame: []byte(fmt.Sprint(w, i))}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.chatHistory(room, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != writers*each {
		t.Fatalf("%d messages stored, want %d", len(h), writers*each)
	}
	for i, m := range h {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
	}
}

func TestStoreRejectsCorruptRecords(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	id := newRoomID()
	bad := map[string][]byte{
		string(roomKey(id)):          []byte(`{"id":"` + id + `","title":"","created":"2026-01-01T00:00:00Z"}`),
		string(chatKey(id, 1)):       []byte(`{"seq":2,"from":"p","name":"n","text":"wrong seq","time":0}`),
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
	if _, err := s.chatHistory(id, 10); err == nil {
		t.Error("chatHistory accepted a message whose seq disagrees with its key")
	}
}
