package node

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// A backup is a tar archive of a data directory, taken while the node runs:
//
//	parley-backup    "parley-backup v1\n", first
//	config.json      the configuration
//	node.key         the node's key (mode 0600)
//	<tls files>      the TLS certificate and key, when their paths are inside the directory
//	store.badger     a consistent copy of the store (badger's backup stream)
//
// Restore writes them into an empty directory. A backup holds the node key: keep it as you
// keep the key itself.

const (
	backupMarker = "parley-backup"
	backupMagic  = "parley-backup v1\n"
	backupStore  = "store.badger"
	// maxBackupFile bounds every file of a backup but the store.
	maxBackupFile = 1 << 20
)

// Backup writes a consistent backup of the running node's data directory to the new file
// path (mode 0600; it must not exist), through a temporary file in the same directory.
func (n *Node) Backup(dst string) (err error) {
	if !filepath.IsAbs(dst) {
		return fmt.Errorf("backup: %q is not an absolute path", dst)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("backup: %s exists already; choose a new file", dst)
	}
	store, err := os.CreateTemp(filepath.Dir(dst), ".parley-store-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(store.Name())
	defer store.Close()
	if _, err := n.store.db.Backup(store, 0); err != nil {
		return fmt.Errorf("backup: copy the store: %w", err)
	}
	tmp, err := os.OpenFile(dst+".partial", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	add := func(name string, mode int64, r io.Reader, size int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(backupMarker, 0o644, strings.NewReader(backupMagic), int64(len(backupMagic))); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	for _, name := range n.backupFiles() {
		f, err := os.Open(filepath.Join(n.cfg.Dir, name))
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		st, err := f.Stat()
		if err == nil {
			err = add(name, int64(st.Mode().Perm()), f, st.Size())
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("backup: %s: %w", name, err)
		}
	}
	size, err := store.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = store.Seek(0, io.SeekStart)
	}
	if err == nil {
		err = add(backupStore, 0o600, store, size)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n.log.Info("backup written", "file", dst)
	return nil
}

// backupFiles are the data directory's files a backup carries, relative to it.
func (n *Node) backupFiles() []string {
	files := []string{ConfigFile, NodeKeyFile}
	for _, p := range []string{n.cfg.TLSCert, n.cfg.TLSKey} {
		if p != "" && !filepath.IsAbs(p) && filepath.IsLocal(p) {
			files = append(files, filepath.ToSlash(p))
		}
	}
	return files
}

// Restore writes the backup read from r into dir, which must be empty or not exist, so that
// `parley serve` runs the node it was taken of there. Nothing outside dir is written.
func Restore(dir string, r io.Reader) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore: %s is not empty; restore into a new directory", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: not a Parley backup: %w", err)
		}
		name := path.Clean(h.Name)
		switch {
		case i == 0 && name != backupMarker:
			return errors.New("restore: not a Parley backup (it does not start with parley-backup)")
		case h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || seen[name]:
			return fmt.Errorf("restore: the backup holds an entry %q that a Parley backup never has", h.Name)
		}
		seen[name] = true
		switch name {
		case backupMarker:
			b, err := io.ReadAll(io.LimitReader(tr, 64))
			if err != nil || string(b) != backupMagic {
				return fmt.Errorf("restore: backup format %q is not one this version reads", b)
			}
		case backupStore:
			if err := loadStore(filepath.Join(dir, StoreDir), tr); err != nil {
				return err
			}
		default:
			if h.Size > maxBackupFile {
				return fmt.Errorf("restore: %s is %d bytes, more than a Parley data file", name, h.Size)
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			_, err = io.Copy(f, io.LimitReader(tr, maxBackupFile))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("restore: %s: %w", name, err)
			}
		}
	}
	for _, must := range []string{backupMarker, ConfigFile, NodeKeyFile, backupStore} {
		if !seen[must] {
			return fmt.Errorf("restore: the backup has no %s", must)
		}
	}
	if _, err := LoadConfig(dir); err != nil {
		return fmt.Errorf("restore: the backup's configuration: %w", err)
	}
	return nil
}

// loadStore makes a store at path from a badger backup stream.
func loadStore(path string, r io.Reader) error {
	db, err := badger.Open(badger.DefaultOptions(path).WithLogger(badgerLogger{slog.New(slog.DiscardHandler)}).WithSyncWrites(true))
	if err != nil {
		return fmt.Errorf("restore: create the store: %w", err)
	}
	if err := db.Load(r, 256); err != nil {
		_ = db.Close()
		return fmt.Errorf("restore: load the store: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("restore: close the store: %w", err)
	}
	return nil
}
