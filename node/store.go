package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"parley/federation"
)

// The store is a badger database in DIR/store. The federation keeps its records there (the
// room directory, room state, the room logs holding chat and key envelopes), the one place
// rooms live. Data directories of earlier versions also held the node's own room table:
//
//	room/<roomID>  -> JSON {"id","title","created","lobby","orgs"}
//
// migrateRooms moves those rooms into the federation's directory at start (keeping their
// time and organisations) and deletes the table.

type store struct {
	db *badger.DB
}

// errStoreLocked is wrapped by openStore when another process holds the store.
var errStoreLocked = errors.New("another process is using the store")

// storeRepair is what a repair did.
type storeRepair struct {
	damage  *storeDamage
	aside   string // where the damaged files are
	written int    // writes after a log's damage written back
}

// openStore opens the badger database at path, after inspectStore found no damage. On damage
// it fails with errDamaged saying what is damaged and what to do, unless repairAside is set:
// then it sets the damage aside there (storerepair.go), opens what is left and returns what
// it did. Damage the library still panics on is an error too.
func openStore(path string, log *slog.Logger, repairAside string) (s *store, rep *storeRepair, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, rep, err = nil, nil, fmt.Errorf("open store %s: %w: %v (restore the data directory from a backup with `parley restore`, or move it away to start empty; a federated node then fetches rooms' logs again from its peers)", path, errDamaged, r)
		}
	}()
	if err := probeLock(path); err != nil {
		return nil, nil, fmt.Errorf("open store %s: %w", path, err)
	}
	d, err := inspectStore(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if d != nil && repairAside == "" {
		return nil, nil, fmt.Errorf("open store %s: %w: %s. To start with what is left, run `parley serve` with --repair: it moves the damaged files into %s/ (nothing is deleted), writes back what still reads and, on a federated node, fetches the rooms again from its peers. Or restore a backup with `parley restore`", path, errDamaged, d.describe(), filepath.Join(filepath.Dir(path), DamagedDir))
	}
	if d != nil {
		if err := setAside(path, repairAside, d); err != nil {
			return nil, nil, fmt.Errorf("repair store %s: %w", path, err)
		}
		rep = &storeRepair{damage: d, aside: repairAside}
	}
	opts := badger.DefaultOptions(path).
		WithChecksumVerificationMode(options.OnTableRead).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(16 << 20).
		WithNumVersionsToKeep(1).
		WithSyncWrites(true)
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, nil, fmt.Errorf("open store %s: %w (is another node running on this data directory?)", path, errStoreLocked)
		}
		return nil, nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s = &store{db: db}
	if rep != nil {
		if rep.written, err = s.writeBack(d); err != nil {
			_ = db.Close()
			return nil, nil, fmt.Errorf("repair store %s: %w", path, err)
		}
	}
	return s, rep, nil
}

// probeLock fails with errStoreLocked when a process holds the lock badger takes on the
// store's directory, so that a running node's files are not inspected as if at rest.
func probeLock(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%w (is another node running on this data directory?)", errStoreLocked)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func (s *store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// legacyRoomPrefix is the key prefix of the room table of earlier versions.
var legacyRoomPrefix = []byte("room/")

// legacyRoom is a row of that table.
type legacyRoom struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	Lobby   bool      `json:"lobby,omitempty"`
	Orgs    []string  `json:"orgs,omitempty"`
}

// migrateRooms moves the rooms of the legacy room table into the federation's directory and
// deletes each row once its room is there: a room missing from the directory is created
// with its ID, title, lobby, organisations and creation time; a room of this node's that
// the directory holds with other organisations (an earlier start announced it without them)
// gets its stored organisations back under a new version. A row that does not decode is
// reported and kept. It returns how many rooms it moved.
func (s *store) migrateRooms(fed *federation.Federation, log *slog.Logger) (int, error) {
	type row struct {
		key []byte
		r   legacyRoom
	}
	var rows []row
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: legacyRoomPrefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().KeyCopy(nil)
			id := string(bytes.TrimPrefix(key, legacyRoomPrefix))
			err := it.Item().Value(func(v []byte) error {
				r, err := decodeLegacyRoom(id, v)
				if err != nil {
					log.Error("a room of the old room table does not decode; it is left in place", "room", id, "err", err)
					return nil
				}
				rows = append(rows, row{key, r})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the old room table: %w", err)
	}
	moved := 0
	for _, w := range rows {
		r := w.r
		spec := federation.RoomSpec{ID: r.ID, Title: r.Title, Lobby: r.Lobby, Orgs: r.Orgs, Created: r.Created}
		cur, ok := fed.Lookup(r.ID)
		switch {
		case !ok:
			if _, err := fed.CreateRoom(spec); err != nil {
				return moved, fmt.Errorf("move room %s to the federation's directory: %w", r.ID, err)
			}
		case cur.Owner == fed.ID() && len(r.Orgs) > 0 && !sameOrgs(cur.Orgs, r.Orgs, fed.Self().Org):
			log.Warn("a room open to every organisation was restricted when created: restricting it again",
				"room", r.ID, "orgs", r.Orgs)
			if _, err := fed.EditRoom(r.ID, func(s *federation.RoomSpec) error { s.Orgs = r.Orgs; return nil }); err != nil {
				return moved, fmt.Errorf("restrict room %s again: %w", r.ID, err)
			}
		}
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(w.key) }); err != nil {
			return moved, fmt.Errorf("delete room %s from the old room table: %w", r.ID, err)
		}
		moved++
	}
	if moved > 0 {
		log.Info("moved the old room table into the federation's directory", "rooms", moved)
	}
	return moved, nil
}

// sameOrgs reports whether a room record's organisations are the stored ones (with own, the
// node's organisation, which the record always adds).
func sameOrgs(record, stored []string, own string) bool {
	want := append(slices.Clone(stored), own)
	slices.Sort(want)
	want = slices.Compact(want)
	return slices.Equal(record, want)
}

func decodeLegacyRoom(id string, v []byte) (legacyRoom, error) {
	var r legacyRoom
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("stored room %q is corrupt: %w", id, err)
	}
	if r.ID != id || !federation.ValidRoomID(r.ID) {
		return r, fmt.Errorf("stored room %q has id %q", id, r.ID)
	}
	if err := validTitle(r.Title); err != nil {
		return r, fmt.Errorf("stored room %q: %w", id, err)
	}
	return r, nil
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
