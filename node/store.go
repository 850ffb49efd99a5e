package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"parley/media/signal"
)

// The store is a badger database in DIR/store. Keys and values:
//
//	room/<roomID>                          -> JSON storedRoom {"id","title","created","lobby"}
//	chat/<roomID>/<seq: 8 bytes big-endian> -> JSON signal.ChatMessage
//
// Big-endian sequence numbers make badger's key order the chat order. Everything read back is
// validated; a record that fails is reported, never trusted.

// MaxTitleLen bounds a room title, in runes.
const MaxTitleLen = 200

// ErrNotFound is returned for a room the store does not hold.
var ErrNotFound = errors.New("not found")

type store struct {
	db *badger.DB

	mu      sync.Mutex
	lastSeq map[string]uint64 // room -> last chat seq handed out; guarded by mu
}

type storedRoom struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	Lobby   bool      `json:"lobby,omitempty"`
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
	return &store{db: db, lastSeq: map[string]uint64{}}, nil
}

func (s *store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func roomKey(id string) []byte      { return []byte("room/" + id) }
func chatPrefix(room string) []byte { return []byte("chat/" + room + "/") }
func chatKey(room string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(chatPrefix(room), seq)
}

// putRoom stores a new room.
func (s *store) putRoom(r Room) error {
	data, err := json.Marshal(storedRoom{ID: r.ID, Title: r.Title, Created: r.Created.UTC(), Lobby: r.Lobby})
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
	return Room{ID: sr.ID, Title: sr.Title, Created: sr.Created, Lobby: sr.Lobby}, nil
}

// appendChat stores a chat message in room, assigning it the room's next sequence number
// (from 1), and returns it as stored. Sequence numbers are handed out in memory (each room's
// counter is loaded once from its last stored key), so concurrent writers never conflict; a
// failed write leaves a gap, never a duplicate.
func (s *store) appendChat(room string, m signal.ChatMessage) (signal.ChatMessage, error) {
	seq, err := s.nextChatSeq(room)
	if err != nil {
		return signal.ChatMessage{}, fmt.Errorf("store chat message in room %s: %w", room, err)
	}
	m.Seq = seq
	data, err := json.Marshal(m)
	if err != nil {
		return signal.ChatMessage{}, fmt.Errorf("encode chat message: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(chatKey(room, seq), data) }); err != nil {
		return signal.ChatMessage{}, fmt.Errorf("store chat message in room %s: %w", room, err)
	}
	return m, nil
}

// nextChatSeq allocates room's next chat sequence number.
func (s *store) nextChatSeq(room string) (uint64, error) {
	s.mu.Lock()
	_, loaded := s.lastSeq[room]
	s.mu.Unlock()
	if !loaded {
		last, err := s.lastChatSeq(room) // outside the lock: it reads the database
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		if _, ok := s.lastSeq[room]; !ok {
			s.lastSeq[room] = last
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq[room]++
	return s.lastSeq[room], nil
}

// lastChatSeq reads the highest stored sequence number of room (0 if none).
func (s *store) lastChatSeq(room string) (uint64, error) {
	var last uint64
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := chatPrefix(room)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		it.Seek(chatSeekLast(prefix))
		if !it.Valid() {
			return nil
		}
		key := it.Item().Key()
		if len(key) != len(prefix)+8 {
			return fmt.Errorf("stored chat key %q is malformed", key)
		}
		last = binary.BigEndian.Uint64(key[len(prefix):])
		return nil
	})
	return last, err
}

// chatSeekLast is a key past every chat key of prefix: in a reverse iteration, Seek lands on
// the greatest key at or below it.
func chatSeekLast(prefix []byte) []byte {
	return append(append([]byte{}, prefix...), bytes.Repeat([]byte{0xff}, 9)...)
}

// chatHistory returns up to limit of room's most recent chat messages, oldest first.
func (s *store) chatHistory(room string, limit int) ([]signal.ChatMessage, error) {
	var out []signal.ChatMessage
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := chatPrefix(room)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(chatSeekLast(prefix)); it.Valid() && len(out) < limit; it.Next() {
			key := it.Item().Key()
			if len(key) != len(prefix)+8 {
				return fmt.Errorf("stored chat key %q of room %s is malformed", key, room)
			}
			seq := binary.BigEndian.Uint64(key[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				m, err := decodeChat(seq, v)
				if err == nil {
					out = append(out, m)
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("room %s: %w", room, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chat history: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func decodeChat(seq uint64, v []byte) (signal.ChatMessage, error) {
	var m signal.ChatMessage
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("stored chat message %d is corrupt: %w", seq, err)
	}
	switch {
	case m.Seq != seq:
		return m, fmt.Errorf("stored chat message %d says seq %d", seq, m.Seq)
	case len(m.SFrame) == 0 || len(m.SFrame) > signal.MaxChatCiphertext:
		return m, fmt.Errorf("stored chat message %d has no valid ciphertext", seq)
	case !utf8.ValidString(m.Name) || utf8.RuneCountInString(m.Name) > signal.MaxNameLen:
		return m, fmt.Errorf("stored chat message %d has an invalid name", seq)
	case len(m.From) > signal.MaxIDLen:
		return m, fmt.Errorf("stored chat message %d has an invalid sender", seq)
	}
	return m, nil
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
