package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
)

// The store is a badger database in DIR/store. Keys and values:
//
//	room/<roomID>  -> JSON storedRoom {"id","title","created","lobby","orgs"}
//
// The federation keeps its records (the room directory, room state, the room logs holding
// chat and key envelopes) in the same database under its own prefix. Everything read back is
// validated; a record that fails is reported, never trusted.

// MaxTitleLen bounds a room title, in runes.
const MaxTitleLen = 200

// maxRoomOrgs bounds the organisations a stored room names (as the federation bounds a room
// record's).
const maxRoomOrgs = 64

// ErrNotFound is returned for a room the store does not hold.
var ErrNotFound = errors.New("not found")

type store struct {
	db *badger.DB
}

type storedRoom struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	Lobby   bool      `json:"lobby,omitempty"`
	Orgs    []string  `json:"orgs,omitempty"`
}

func openStore(path string, log *slog.Logger) (*store, error) {
	opts := badger.DefaultOptions(path).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(16 << 20).
		WithNumVersionsToKeep(1).
		WithSyncWrites(true)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func roomKey(id string) []byte { return []byte("room/" + id) }

// putRoom stores a new room.
func (s *store) putRoom(r Room) error {
	data, err := json.Marshal(storedRoom{ID: r.ID, Title: r.Title, Created: r.Created.UTC(), Lobby: r.Lobby, Orgs: r.Orgs})
	if err != nil {
		return fmt.Errorf("encode room: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(roomKey(r.ID), data) }); err != nil {
		return fmt.Errorf("store room %s: %w", r.ID, err)
	}
	return nil
}

// room returns the room with id, or ErrNotFound.
func (s *store) room(id string) (Room, error) {
	if !ValidRoomID(id) {
		return Room{}, ErrNotFound
	}
	var r Room
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(roomKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			r, err = decodeRoom(id, v)
			return err
		})
	})
	if err != nil {
		return Room{}, fmt.Errorf("room %s: %w", id, err)
	}
	return r, nil
}

// rooms returns every stored room, oldest first. A record that fails validation is an error.
func (s *store) rooms() ([]Room, error) {
	var out []Room
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte("room/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id := string(bytes.TrimPrefix(it.Item().Key(), prefix))
			err := it.Item().Value(func(v []byte) error {
				r, err := decodeRoom(id, v)
				if err == nil {
					out = append(out, r)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	sortRooms(out)
	return out, nil
}

func decodeRoom(id string, v []byte) (Room, error) {
	var sr storedRoom
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return Room{}, fmt.Errorf("stored room %q is corrupt: %w", id, err)
	}
	if sr.ID != id || !ValidRoomID(sr.ID) {
		return Room{}, fmt.Errorf("stored room %q has id %q", id, sr.ID)
	}
	if err := validTitle(sr.Title); err != nil {
		return Room{}, fmt.Errorf("stored room %q: %w", id, err)
	}
	if len(sr.Orgs) > maxRoomOrgs {
		return Room{}, fmt.Errorf("stored room %q names %d organisations, at most %d", id, len(sr.Orgs), maxRoomOrgs)
	}
	for _, o := range sr.Orgs {
		if o == "" || !utf8.ValidString(o) || strings.IndexFunc(o, unicode.IsControl) >= 0 {
			return Room{}, fmt.Errorf("stored room %q names an organisation that is not valid text", id)
		}
	}
	return Room{ID: sr.ID, Title: sr.Title, Created: sr.Created, Lobby: sr.Lobby, Orgs: sr.Orgs}, nil
}

// badgerLogger routes badger's logs to slog, keeping warnings and errors only.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
