package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// killedStore writes n keys (one transaction each) to a store in a fresh directory and
// returns a copy of the store's files taken while it was open, as a kill -9 leaves them, with
// the path of its write-ahead log.
func killedStore(t *testing.T, n int) (dir, wal string) {
	t.Helper()
	live := filepath.Join(t.TempDir(), StoreDir)
	s, _, err := openStore(live, testLogger(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(fmt.Appendf(nil, "fed/log/r/p/%04d", i), fmt.Appendf(nil, "value %d, long enough to take some room in the log", i))
		}); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(t.TempDir(), StoreDir)
	copyDataDir(t, live, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	if len(mems) != 1 {
		t.Fatalf("the store has %d write-ahead logs, want 1", len(mems))
	}
	return dir, mems[0]
}

func keysIn(t *testing.T, s *store, n int) (have []int) {
	t.Helper()
	_ = s.db.View(func(txn *badger.Txn) error {
		for i := range n {
			item, err := txn.Get(fmt.Appendf(nil, "fed/log/r/p/%04d", i))
			if err != nil {
				continue
			}
			_ = item.Value(func(v []byte) error {
				if string(v) != fmt.Sprintf("value %d, long enough to take some room in the log", i) {
					t.Errorf("key %d holds %q", i, v)
				}
				return nil
			})
			have = append(have, i)
		}
		return nil
	})
	return have
}

// A log as a kill -9 leaves it is healthy, also with an entry cut short at its end (the
// process died writing it).
func TestScanLogHealthy(t *testing.T) {
	_, wal := killedStore(t, 100)
	if d, err := scanLog(wal); err != nil || d != nil {
		t.Fatalf("a log after kill -9: %+v, %v", d, err)
	}
	b, _ := os.ReadFile(wal)
	end := lastNonZero(b) + 1
	torn := append([]byte{0x40, 0, 20, 200, 0}, "half a key"...)
	copy(b[end:], torn)
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := scanLog(wal); err != nil || d != nil {
		t.Fatalf("a log with a torn last entry: %+v, %v", d, err)
	}
}

// A log zeroed in its middle is damage: the store is refused; repaired, it keeps the writes
// before the damage (badger's replay) and those after it (written back), and only those in
// the zeroed part are gone.
func TestDamagedLogMiddle(t *testing.T) {
	const n = 200
	dir, wal := killedStore(t, n)
	b, _ := os.ReadFile(wal)
	end := lastNonZero(b) + 1
	clear(b[end/3 : end/2])
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := scanLog(wal)
	if err != nil || d == nil || d.header {
		t.Fatalf("a log zeroed in its middle: %+v, %v", d, err)
	}
	if d.at > end/3 || d.lostBytes < end/2-end/3-200 || len(d.salvaged) < n/3 {
		t.Fatalf("damage at %d, %d bytes lost, %d writes after it (log of %d bytes)", d.at, d.lostBytes, len(d.salvaged), end)
	}
	if _, _, err := openStore(dir, testLogger(t), ""); !errors.Is(err, errDamaged) {
		t.Fatalf("open: %v, want errDamaged", err)
	}
	aside := filepath.Join(t.TempDir(), "aside")
	s, rep, err := openStore(dir, testLogger(t), aside)
	if err != nil {
		t.Fatal(err)
	}
	have := keysIn(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep == nil || rep.written != len(d.salvaged) {
		t.Fatalf("repair %+v, want %d writes written back", rep, len(d.salvaged))
	}
	// Keys are written in order: a run at the start, the zeroed gap, a run to the end.
	if len(have) < n/2 || have[0] != 0 || have[len(have)-1] != n-1 {
		t.Fatalf("after the repair the store holds %d of %d keys: %v", len(have), n, have)
	}
	gaps := 0
	for i := 1; i < len(have); i++ {
		if have[i] != have[i-1]+1 {
			gaps++
		}
	}
	if gaps != 1 {
		t.Errorf("keys kept %v: want one gap, where the log was zeroed", have)
	}
	if _, err := os.Stat(filepath.Join(aside, filepath.Base(wal))); err != nil {
		t.Errorf("the damaged log is not kept aside: %v", err)
	}
	// The repaired store opens without damage.
	s, rep, err = openStore(dir, testLogger(t), "")
	if err != nil || rep != nil {
		t.Fatalf("open after the repair: %v, %+v", err, rep)
	}
	if again := keysIn(t, s, n); len(again) != len(have) {
		t.Errorf("%d keys after a restart, %d after the repair", len(again), len(have))
	}
	_ = s.Close()
}

// scanLog never panics and never reports more salvaged bytes than the file holds.
func FuzzScanLog(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add(append(make([]byte, 20), 0x40, 0, 3, 1, 0, 'k', 'e', 'y', 'v', 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := scanLogBytes("00001.mem", data)
		if d == nil {
			return
		}
		total := 0
		for _, e := range d.salvaged {
			total += e.size
		}
		if total > len(data) || d.at > len(data) {
			t.Fatalf("salvaged %d bytes, damage at %d, of %d", total, d.at, len(data))
		}
	})
}
