package federation

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Federation keeps everything in the node's badger database under a key prefix P (e.g.
// "fed/"). Signed objects are stored as the envelopes they arrived in, so they can be served
// on unchanged and are checked again when read back:
//
//	P self                                   -> envelope of this node's latest node record
//	P peer/<peer ID>                         -> iat_ms (8 bytes BE) || JSON storedPeer {"added_ms","record":<envelope>}
//	P removed/<peer ID>                      -> JSON {"removed_ms"}
//	P invite/<hex SHA-256(secret)>           -> JSON {"exp_ms"}
//	P room/<room id>                         -> ver (8 bytes BE) || room record envelope
//	P state/<room id>/<peer ID>              -> ver (8 bytes BE) || state record envelope
//	P log/<room id>/<peer ID>/<seq 8B BE>    -> entry envelope
//	P logt/<room id>/<time_ms 8B BE><peer ID>/<seq 8B BE> -> empty (display-order index)
//
// Big-endian numbers make badger's key order the seq order and the display order (peer IDs
// of Ed25519 keys all have the same length). Records are replaced only by greater versions,
// checked inside the write transaction, so concurrent writers cannot put an older one back.

type store struct {
	db     *badger.DB
	prefix string
	log    *slog.Logger
}

type storedPeer struct {
	AddedMS int64           `json:"added_ms"`
	Record  json.RawMessage `json:"record"`
}

type storedRemoved struct {
	RemovedMS int64 `json:"removed_ms"`
}

type storedInvite struct {
	ExpMS int64 `json:"exp_ms"`
}

func (s *store) key(parts ...string) []byte {
	b := []byte(s.prefix)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

func (s *store) logPrefix(room string, node peer.ID) []byte {
	return append(s.key("log", room, node.String()), '/')
}

func (s *store) logKey(room string, node peer.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(s.logPrefix(room, node), seq)
}

func (s *store) logtPrefix(room string) []byte { return append(s.key("logt", room), '/') }

func (s *store) logtKey(room string, timeMS int64, node peer.ID, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(s.logtPrefix(room), uint64(timeMS))
	k = append(append(k, node.String()...), '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseLogtKey splits a display-index key of room into the entry's node and seq.
func (s *store) parseLogtKey(room string, k []byte) (peer.ID, uint64, error) {
	rest := k[len(s.logtPrefix(room)):]
	if len(rest) < 8+1+9 || rest[len(rest)-9] != '/' {
		return "", 0, fmt.Errorf("malformed log index key %q", k)
	}
	node, err := peer.Decode(string(rest[8 : len(rest)-9]))
	if err != nil {
		return "", 0, fmt.Errorf("log index key %q: %w", k, err)
	}
	return node, binary.BigEndian.Uint64(rest[len(rest)-8:]), nil
}

// update runs fn in a read-write transaction, retrying on conflicts with other writers.
func (s *store) update(fn func(txn *badger.Txn) error) error {
	var err error
	for range 16 {
		if err = s.db.Update(fn); !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

func (s *store) set(k, v []byte) error {
	return s.update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (s *store) get(k []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// putVersioned stores ver||raw at k unless a value with a version >= ver is there already.
func (s *store) putVersioned(k []byte, ver uint64, raw []byte) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(raw)), ver)
	v = append(v, raw...)
	return s.update(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			var cur uint64
			if err := item.Value(func(old []byte) error {
				if len(old) >= 8 {
					cur = binary.BigEndian.Uint64(old)
				}
				return nil
			}); err != nil {
				return err
			}
			if cur >= ver {
				return nil
			}
		}
		return txn.Set(k, v)
	})
}

func (s *store) putPeer(b *nodeBody, added int64, raw []byte) error {
	v, err := json.Marshal(storedPeer{AddedMS: added, Record: raw})
	if err != nil {
		return fmt.Errorf("federation: encode peer %s: %w", b.Peer, err)
	}
	if err := s.putVersioned(s.key("peer", b.Peer.String()), uint64(b.IssuedMS), v); err != nil {
		return fmt.Errorf("federation: store peer %s: %w", b.Peer, err)
	}
	return nil
}

// markRemoved, with removedMS > 0, deletes peer id and remembers it as removed; with
// removedMS 0 it clears a removal (the peer is trusted again).
func (s *store) markRemoved(id peer.ID, removedMS int64) error {
	err := s.update(func(txn *badger.Txn) error {
		if removedMS == 0 {
			return txn.Delete(s.key("removed", id.String()))
		}
		v, _ := json.Marshal(storedRemoved{RemovedMS: removedMS})
		if err := txn.Delete(s.key("peer", id.String())); err != nil {
			return err
		}
		return txn.Set(s.key("removed", id.String()), v)
	})
	if err != nil {
		return fmt.Errorf("federation: store removal of %s: %w", id, err)
	}
	return nil
}

func (s *store) putRoom(b *roomBody, raw []byte) error {
	if err := s.putVersioned(s.key("room", b.ID), b.Ver, raw); err != nil {
		return fmt.Errorf("federation: store room %s: %w", b.ID, err)
	}
	return nil
}

func (s *store) putState(b *stateBody, raw []byte) error {
	if err := s.putVersioned(s.key("state", b.Room, b.Node.String()), b.Ver, raw); err != nil {
		return fmt.Errorf("federation: store state of %s in room %s: %w", b.Node, b.Room, err)
	}
	return nil
}

// putEntries stores log entries (messages of kind entry) and their display index in one
// batch.
func (s *store) putEntries(ms []message) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, m := range ms {
		b := m.entry
		if err := wb.Set(s.logKey(b.Room, b.Node, b.Seq), m.raw); err != nil {
			return fmt.Errorf("federation: store entry %s/%d of room %s: %w", b.Node, b.Seq, b.Room, err)
		}
		if err := wb.Set(s.logtKey(b.Room, b.TimeMS, b.Node, b.Seq), nil); err != nil {
			return fmt.Errorf("federation: store entry %s/%d of room %s: %w", b.Node, b.Seq, b.Room, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("federation: store %d entries: %w", len(ms), err)
	}
	return nil
}

// entriesAfter returns node's entries of room with seq > after, in seq order, up to n of
// them and about budget bytes (at least one if there is one); more says some were left.
func (s *store) entriesAfter(room string, node peer.ID, after uint64, n, budget int) (out [][]byte, more bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := s.logPrefix(room, node)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		used := 0
		for it.Seek(s.logKey(room, node, after+1)); it.Valid(); it.Next() {
			if len(out) >= n || (it.Item().ValueSize() > int64(budget-used) && len(out) > 0) {
				more = true
				break
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			used += len(v)
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("federation: read entries of %s in room %s: %w", node, room, err)
	}
	return out, more, nil
}

// history returns up to limit (0: all) of room's latest entries' envelopes in display
// order, oldest first.
func (s *store) history(room string, limit int) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := s.logtPrefix(room)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		for it.Seek(append(append([]byte{}, prefix...), bytes.Repeat([]byte{0xff}, 9)...)); it.Valid(); it.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			node, seq, err := s.parseLogtKey(room, it.Item().Key())
			if err != nil {
				return err
			}
			item, err := txn.Get(s.logKey(room, node, seq))
			if err != nil {
				return fmt.Errorf("entry %s/%d: %w", node, seq, err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("federation: read history of room %s: %w", room, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// dropOrigin deletes everything node originated: its state records and log entries in
// rooms, and the room records it owns (ownedRooms).
func (s *store) dropOrigin(node peer.ID, rooms, ownedRooms []string) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for _, room := range rooms {
			keys = append(keys, s.key("state", room, node.String()))
			it := txn.NewIterator(badger.IteratorOptions{Prefix: s.logtPrefix(room)})
			for it.Rewind(); it.Valid(); it.Next() {
				n, seq, err := s.parseLogtKey(room, it.Item().Key())
				if err == nil && n == node {
					keys = append(keys, it.Item().KeyCopy(nil), s.logKey(room, node, seq))
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("federation: list records of %s: %w", node, err)
	}
	for _, room := range ownedRooms {
		keys = append(keys, s.key("room", room))
	}
	if err := s.deleteKeys(keys); err != nil {
		return fmt.Errorf("federation: delete records of %s: %w", node, err)
	}
	return nil
}

// deleteKeys deletes keys in one write batch.
func (s *store) deleteKeys(keys [][]byte) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// dropRoom deletes every state record and log entry of room (its record stays: the
// tombstone of a deleted room).
func (s *store) dropRoom(room string) error {
	prefixes := [][]byte{
		append(s.key("state", room), '/'), append(s.key("log", room), '/'), s.logtPrefix(room),
	}
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for _, p := range prefixes {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			for it.Rewind(); it.Valid(); it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("federation: list records of room %s: %w", room, err)
	}
	if err := s.deleteKeys(keys); err != nil {
		return fmt.Errorf("federation: delete records of room %s: %w", room, err)
	}
	return nil
}

// putInvite remembers an invite secret's hash until expMS.
func (s *store) putInvite(hash string, expMS int64) error {
	v, _ := json.Marshal(storedInvite{ExpMS: expMS})
	if err := s.set(s.key("invite", hash), v); err != nil {
		return fmt.Errorf("federation: store invite: %w", err)
	}
	return nil
}

// takeInvite deletes the invite with hash and reports whether it was there and unexpired at
// nowMS. Of concurrent takers of one invite, exactly one sees true.
func (s *store) takeInvite(hash string, nowMS int64) (bool, error) {
	var ok bool
	k := s.key("invite", hash)
	err := s.update(func(txn *badger.Txn) error {
		ok = false
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var inv storedInvite
		if err := item.Value(func(v []byte) error { return decodeStrict(v, &inv) }); err != nil {
			s.log.Warn("stored invite is corrupt; dropping it", "err", err)
		}
		ok = inv.ExpMS > nowMS
		return txn.Delete(k)
	})
	if err != nil {
		return false, fmt.Errorf("federation: redeem invite: %w", err)
	}
	return ok, nil
}

// pruneInvites deletes expired invites.
func (s *store) pruneInvites(nowMS int64) error {
	var stale [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: append(s.key("invite"), '/'), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var inv storedInvite
			err := it.Item().Value(func(v []byte) error { return decodeStrict(v, &inv) })
			if err != nil || inv.ExpMS <= nowMS {
				stale = append(stale, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("federation: list invites: %w", err)
	}
	return s.update(func(txn *badger.Txn) error {
		for _, k := range stale {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan calls fn with the key (without prefix P+what+"/") and value of every key under
// P+what+"/". Values are valid only during fn.
func (s *store) scan(what string, values bool, fn func(rest, v []byte) error) error {
	prefix := append(s.key(what), '/')
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: values, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			rest := it.Item().Key()[len(prefix):]
			if !values {
				if err := fn(rest, nil); err != nil {
					return err
				}
				continue
			}
			if err := it.Item().Value(func(v []byte) error { return fn(rest, v) }); err != nil {
				return err
			}
		}
		return nil
	})
}
