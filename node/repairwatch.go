package node

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parley/federation"
)

// After a repair, the node asks its peers for every room again, then reports what came back:
// a repairWatch counts each room's log entries at the start, asks the peers every
// resyncEvery, and writes to the log and the audit log how many entries of each room it
// fetched again and which known losses are still missing. It reports once entries came back
// and then stopped coming for quietTicks resyncs with every known lost key back, or when
// Config.RepairWatch has passed.

// DefaultRepairWatch is how long a repaired node waits for its peers before reporting.
const DefaultRepairWatch = 2 * time.Minute

const (
	resyncEvery = 3 * time.Second
	quietTicks  = 3
)

type repairWatch struct {
	n      *Node
	rep    *storeRepair
	before map[string]int // log entries per room after the repair
	lost   [][]byte       // keys the damage is known to have held
	quit   chan struct{}
	done   chan struct{}
}

// startRepairWatch starts the watch; stop it with stop.
func (n *Node) startRepairWatch(rep *storeRepair) *repairWatch {
	w := &repairWatch{n: n, rep: rep, lost: rep.damage.lostKeys(), quit: make(chan struct{}), done: make(chan struct{})}
	w.before = w.countEntries()
	go w.run()
	return w
}

func (w *repairWatch) stop() {
	close(w.quit)
	<-w.done
}

func (w *repairWatch) run() {
	defer close(w.done)
	deadline := time.NewTimer(w.n.cfg.RepairWatch)
	defer deadline.Stop()
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	w.n.fed.fed.Resync(nil)
	last, quiet := w.before, 0
	for {
		select {
		case <-w.quit:
			return
		case <-deadline.C:
			w.report()
			return
		case <-tick.C:
		}
		// Done once what came back has stopped coming for quietTicks and every known loss is
		// back; if nothing comes back, at the deadline.
		now := w.countEntries()
		if maps.Equal(now, last) {
			quiet++
		} else {
			last, quiet = now, 0
		}
		if quiet >= quietTicks && !maps.Equal(now, w.before) && len(w.missing()) == 0 {
			w.report()
			return
		}
		w.n.fed.fed.Resync(nil)
	}
}

// report logs and audits what came back.
func (w *repairWatch) report() {
	after := w.countEntries()
	rooms := make([]string, 0, len(after))
	total := 0
	for room, c := range after {
		if c > w.before[room] {
			rooms = append(rooms, room)
			total += c - w.before[room]
		}
	}
	slices.Sort(rooms)
	var parts []string
	for _, room := range rooms {
		parts = append(parts, fmt.Sprintf("room %s: %s", room, plural(after[room]-w.before[room], "log entry")))
	}
	detail := fmt.Sprintf("fetched again from peers: %s", plural(total, "log entry"))
	if len(parts) > 0 {
		detail += " (" + strings.Join(parts, "; ") + ")"
	}
	if missing := w.missing(); len(missing) > 0 {
		detail += "; still missing: " + summarizeKeys(missing)
	} else if len(w.lost) > 0 {
		detail += "; every record the damaged tables were known to hold is back"
	}
	w.n.log.Info("store repair: "+detail, slog.Int("entries", total), slog.String("aside", w.rep.aside))
	w.n.audit.record(AuditEntry{Actor: "node", Action: "store.refetched", Detail: detail})
}

// missing are the known lost keys the store does not hold (the log index rows and badger's
// own left out: they follow from the entries).
func (w *repairWatch) missing() [][]byte {
	var out [][]byte
	_ = w.n.store.db.View(func(txn *badger.Txn) error {
		for _, k := range w.lost {
			if _, what := keyKind(k); what == "log index row" {
				continue
			}
			if _, err := txn.Get(k); err != nil {
				out = append(out, k)
			}
		}
		return nil
	})
	return out
}

// countEntries counts the log entries of each room in the store.
func (w *repairWatch) countEntries() map[string]int {
	counts := map[string]int{}
	prefix := []byte(federation.DefaultPrefix + "log/")
	_ = w.n.store.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			room, _ := keyKind(it.Item().Key())
			counts[room]++
		}
		return nil
	})
	return counts
}
