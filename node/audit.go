package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The audit log: every administrative action (on the admin socket: rooms created,
// federation invites, joins and removals, backups) and every moderator action in a meeting
// (admitted from the lobby, removed), kept in the store under
//
//	audit/<unix nanoseconds, 20 digits>-<sequence, 8 digits>  -> JSON AuditEntry
//
// and read with `parley audit`. Entries are written by the auditor's goroutine: who records
// one never waits for the disk (a meeting's goroutine does no I/O).

// AuditEntry is one action in the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`            // "admin" (the admin socket), or "moderator <id> (<name>)"
	Action string    `json:"action"`           // room.create, federation.join, admit, remove, ...
	Room   string    `json:"room,omitempty"`   // the room it concerns
	Target string    `json:"target,omitempty"` // whom: a peer ID, a participant
	Detail string    `json:"detail,omitempty"`
}

// Audit log limits.
const (
	auditQueue    = 1024 // entries waiting for the disk
	maxAuditList  = 1000 // entries one `parley audit` returns
	auditKeyFixed = len("audit/") + 20 + 1 + 8
)

var auditPrefix = []byte("audit/")

// auditor writes audit entries from its own goroutine.
type auditor struct {
	s       *store
	log     *slog.Logger
	ch      chan AuditEntry
	done    chan struct{}
	seq     atomic.Uint64
	dropped atomic.Uint64 // entries lost for a full queue (counted in the log)
}

func newAuditor(s *store, log *slog.Logger) *auditor {
	a := &auditor{s: s, log: log, ch: make(chan AuditEntry, auditQueue), done: make(chan struct{})}
	go a.run()
	return a
}

// record queues e without waiting.
func (a *auditor) record(e AuditEntry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case a.ch <- e:
	default:
		if a.dropped.Add(1)%100 == 1 {
			a.log.Error("audit log queue full: entries lost", "lost", a.dropped.Load())
		}
	}
}

func (a *auditor) run() {
	defer close(a.done)
	for e := range a.ch {
		data, err := json.Marshal(e)
		if err != nil {
			continue
		}
		key := fmt.Appendf(nil, "audit/%020d-%08d", e.Time.UnixNano(), a.seq.Add(1)%100_000_000)
		if err := a.s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, data) }); err != nil {
			a.log.Error("write the audit log", "err", err, "action", e.Action)
		}
	}
}

// close writes what is queued and stops.
func (a *auditor) close() {
	close(a.ch)
	<-a.done
}

// auditList returns the newest limit entries, oldest first.
func (s *store) auditList(limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: auditPrefix, Reverse: true, PrefetchValues: true})
		defer it.Close()
		seek := append(bytes.Clone(auditPrefix), 0xff)
		for it.Seek(seek); it.Valid() && len(out) < limit; it.Next() {
			if len(it.Item().Key()) != auditKeyFixed {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				var e AuditEntry
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("audit entry %s: %w", it.Item().Key(), err)
				}
				out = append(out, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
