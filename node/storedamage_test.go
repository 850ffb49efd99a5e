package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/media/signal"
)

// damageTables applies damage to every table of the store in dir; it skips the test when
// the store has none.
func damageTables(t *testing.T, dir string, damage func(path string, size int64) error) []string {
	t.Helper()
	ssts, _ := filepath.Glob(filepath.Join(dir, StoreDir, "*.sst"))
	if len(ssts) == 0 {
		t.Skip("the store wrote no table to damage")
	}
	for _, p := range ssts {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := damage(p, st.Size()); err != nil {
			t.Fatal(err)
		}
	}
	return ssts
}

// overwrite writes n bytes of 0xA5 at off in the file at path.
func overwrite(path string, off int64, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte(strings.Repeat("\xa5", n)), off)
	return err
}

// auditWith waits up to d for an audit entry of action and returns it.
func auditWith(t *testing.T, n *Node, action string, d time.Duration) AuditEntry {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list, err := n.store.auditList(maxAuditList)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			if e.Action == action {
				return e
			}
		}
	}
	t.Fatalf("no %s in the audit log after %v", action, d)
	return AuditEntry{}
}

func configOf(t *testing.T, dir string) Config {
	t.Helper()
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaUDPAddr = "127.0.0.1:0"
	return cfg
}

// Damaged tables (cut in half; 14 bytes overwritten) do not start the node: the error names
// the file, says what it held and what to do. With Repair the node starts on what is left,
// the damaged file is kept in DIR/damaged/, and the audit log says what the repair did.
func TestDamagedTables(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string, size int64) error
		held   string // what the error must say the table held
	}{
		{"cut in half", func(p string, size int64) error { return os.Truncate(p, size/2) }, "cannot be read"},
		{"14 bytes overwritten", func(p string, size int64) error { return overwrite(p, size/3, 14) }, "room record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			n := startNode(t, dir)
			for i := range 50 {
				if _, err := n.CreateRoom(fmt.Sprintf("room %d with a title long enough to fill tables", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.Close(); err != nil { // flushes the rooms to a table
				t.Fatal(err)
			}
			ssts := damageTables(t, dir, tc.damage)
			cfg := configOf(t, dir)
			_, err := New(cfg, testLogger(t))
			if !errors.Is(err, errDamaged) {
				t.Fatalf("a damaged table: %v, want errDamaged", err)
			}
			for _, want := range []string{filepath.Base(ssts[0]), tc.held, "--repair", "parley restore"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			t.Logf("refused: %v", err)

			cfg.Repair = true
			n, err = New(cfg, testLogger(t))
			if err != nil {
				t.Fatalf("repair: %v", err)
			}
			defer n.Close()
			aside, _ := filepath.Glob(filepath.Join(dir, DamagedDir, "*", filepath.Base(ssts[0])))
			if len(aside) != 1 {
				t.Errorf("the damaged table is not kept in %s: %v", DamagedDir, aside)
			}
			if e := auditWith(t, n, "store.repair", 10*time.Second); !strings.Contains(e.Detail, filepath.Base(ssts[0])) {
				t.Errorf("the repair's audit entry: %+v", e)
			}
			// The repaired store works and starts again without --repair.
			if _, err := n.CreateRoom("after the repair"); err != nil {
				t.Fatal(err)
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			cfg.Repair = false
			n2, err := New(cfg, testLogger(t))
			if err != nil {
				t.Fatalf("a start after the repair: %v", err)
			}
			rooms, err := n2.Rooms()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(rooms, func(r Room) bool { return r.Title == "after the repair" }) {
				t.Error("the room created after the repair is gone")
			}
			if err := n2.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// copyDataDir copies the regular files of a running node's data directory, as a kill -9
// leaves them: every acknowledged write is in the store's files.
func copyDataDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(dst, 0o700)
		case !info.Mode().IsRegular():
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errors.Join(err, out.Close())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A node whose write-ahead log is half zeroed after a kill -9 (its room's chat was only
// there) is refused with what to do; repaired, it fetches the chat again from the federated
// peer that held it, and the audit log says how much came back.
func TestDamagedLogRefetchedFromPeer(t *testing.T) {
	a, b := federatedPair(t)
	room, err := a.CreateRoom("Kept by a peer")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the room in B's directory", func() bool { _, err := b.lookupRoom(room.ID); return err == nil })
	// The federation and the room reach a table; what follows stays in the log.
	dirA := a.cfg.Dir
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = startNode(t, dirA)

	ada := mustDial(t, a, room.ID)
	ada.join("Ada")
	bo := mustDial(t, b, room.ID)
	bo.join("Bo")
	const said = 10
	for i := range said {
		ada.send(&signal.Message{Type: signal.TypeChat, SFrame: fmt.Appendf(nil, "message %d", i)})
		if m := bo.must(signal.TypeChat); string(m.Chat.SFrame) != fmt.Sprintf("message %d", i) {
			t.Fatalf("Bo got %q", m.Chat.SFrame)
		}
	}
	mems, _ := filepath.Glob(filepath.Join(dirA, StoreDir, "*.mem"))
	if len(mems) == 0 {
		t.Fatal("the store has no write-ahead log")
	}
	killed := t.TempDir()
	copyDataDir(t, dirA, killed)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	mems, _ = filepath.Glob(filepath.Join(killed, StoreDir, "*.mem"))
	for _, p := range mems {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(make([]byte, st.Size()/2), 0)
		if err := errors.Join(err, f.Close()); err != nil {
			t.Fatal(err)
		}
	}

	cfg := configOf(t, killed)
	_, err = New(cfg, testLogger(t))
	if !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "overwritten") || !strings.Contains(err.Error(), "--repair") {
		t.Fatalf("a zeroed log: %v, want errDamaged saying it was overwritten and what to do", err)
	}
	t.Logf("refused: %v", err)

	cfg.Repair = true
	r, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	defer r.Close()
	chats := func() int {
		h, err := r.Federation().History(room.ID, 0)
		if err != nil {
			return 0
		}
		return len(h)
	}
	for deadline := time.Now().Add(60 * time.Second); chats() < said && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
	}
	if got := chats(); got < said {
		t.Fatalf("after the repair the room holds %d entries, want at least the %d said", got, said)
	}
	e := auditWith(t, r, "store.refetched", 90*time.Second)
	if !strings.Contains(e.Detail, "room "+room.ID) {
		t.Errorf("the re-fetch report does not name the room: %q", e.Detail)
	}
	t.Logf("re-fetch report: %s", e.Detail)
}
