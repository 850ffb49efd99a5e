package node

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"parley/media/signal"
)

// A backup taken while the node runs restores into a new directory as the same node: its key,
// its rooms with their policy and their chat.
func TestBackupRestore(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, err := n.NewRoom(RoomOptions{Title: "Défense only", Orgs: []string{"Défense"}})
	if err != nil {
		t.Fatal(err)
	}
	c := mustDial(t, n, room.ID)
	c.join("Ada")
	c.send(&signal.Message{Type: signal.TypeChat, SFrame: []byte("kept")})
	c.must(signal.TypeChat)

	file := filepath.Join(t.TempDir(), "node.backup")
	if err := n.Backup(file); err != nil {
		t.Fatal(err)
	}
	if err := n.Backup(file); err == nil {
		t.Error("a backup over an existing file was written")
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", st, err)
	}
	id := n.NodeID()

	restored := filepath.Join(t.TempDir(), "restored")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Restore(restored, f); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil { // the same node must not run twice
		t.Fatal(err)
	}
	m := startNode(t, restored)
	if m.NodeID() != id {
		t.Errorf("restored node %s, want %s", m.NodeID(), id)
	}
	r, err := m.lookupRoom(room.ID)
	if err != nil || !slices.Equal(r.Orgs, room.Orgs) {
		t.Fatalf("restored room %+v, %v", r, err)
	}
	h, err := m.chatHistory(room.ID)
	if err != nil || len(h) != 1 || string(h[0].SFrame) != "kept" {
		t.Fatalf("restored chat %+v, %v", h, err)
	}

	// Restore refuses a directory in use and what is not a backup of ours.
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := Restore(restored, f); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a used directory: %v", err)
	}
	evil := func(name string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range []struct{ name, body string }{{backupMarker, backupMagic}, {name, "x"}} {
			_ = tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(e.body))
		}
		_ = tw.Close()
		return b.Bytes()
	}
	for name, data := range map[string][]byte{
		"an entry outside the directory": evil("../outside"),
		"an absolute entry":              evil("/etc/passwd"),
		"no store":                       evil("config.json"),
		"not a tar":                      []byte("hello"),
	} {
		dir := filepath.Join(t.TempDir(), "x")
		if err := Restore(dir, bytes.NewReader(data)); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(restored), "outside")); err == nil {
		t.Error("restore wrote outside its directory")
	}
}

func TestAdminBackupRequest(t *testing.T) {
	if _, err := DecodeAdminRequest([]byte(`{"op":"backup","path":"/var/backups/x"}`)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{`{"op":"backup"}`, `{"op":"backup","path":"relative"}`, `{"op":"backup","path":"/x","title":"t"}`,
		`{"op":"status","path":"/x"}`} {
		if _, err := DecodeAdminRequest([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
