package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNodeKeySaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	k, err := GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadNodeKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.PrivateKey(), k.PrivateKey()) || got.ID() != k.ID() {
		t.Fatal("loaded key differs from the saved one")
	}
	msg := []byte("node record")
	if sig := got.Sign(msg); !bytes.Equal(sig, k.Sign(msg)) {
		t.Error("signatures differ")
	}
	if len(k.ID()) != 16 {
		t.Errorf("ID %q, want 16 characters", k.ID())
	}
	if err := k.Save(path); !errors.Is(err, ErrKeyExists) {
		t.Errorf("second Save: %v, want ErrKeyExists", err)
	}
}

func TestNodeKeyRefusesOpenPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	k, err := GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadNodeKey(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err %v, want a refusal telling to chmod 600", mode, err)
		}
	}
}

func TestNodeKeyRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateNodeKey()
	good := filepath.Join(dir, "good.key")
	if err := k.Save(good); err != nil {
		t.Fatal(err)
	}
	valid, _ := os.ReadFile(good)
	cases := map[string][]byte{
		"empty":      nil,
		"not pem":    []byte("hello"),
		"wrong type": bytes.Replace(valid, []byte("PRIVATE KEY"), []byte("PUBLIC KEY"), 2),
		"trailing":   append(append([]byte{}, valid...), []byte("junk")...),
		"bad der":    []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
	}
	for name, data := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadNodeKey(path); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
	if _, err := NodeKeyFromSeed(make([]byte, 5)); err == nil {
		t.Error("short seed accepted")
	}
}
