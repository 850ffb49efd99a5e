package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"google.golang.org/protobuf/proto"
)

// Repair (`parley serve --repair`) keeps what the damage left: a damaged table is moved into
// DIR/damaged/<time>/ and dropped from badger's manifest, so that the store opens with every
// other table; a damaged write-ahead log is copied there, badger cuts it at the damage, and
// the writes that still read after the damage are written back once the store is open. Nothing
// is deleted: the damaged files stay for whoever wants to look at them. A federated node then
// asks its peers for every room again (repairwatch.go).

// DamagedDir is the folder of the data directory that repairs set damaged files aside in.
const DamagedDir = "damaged"

// setAside moves d's damaged tables from the store at dir into aside and drops them from
// the manifest, and copies its damaged logs there.
func setAside(dir, aside string, d *storeDamage) error {
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return err
	}
	for _, l := range d.logs {
		if err := copyFile(filepath.Join(dir, l.file), filepath.Join(aside, l.file)); err != nil {
			return fmt.Errorf("copy %s aside: %w", l.file, err)
		}
	}
	for _, t := range d.tables {
		if err := dropFromManifest(dir, t.id); err != nil {
			return fmt.Errorf("drop table %s from the manifest: %w", t.file, err)
		}
		if err := os.Rename(filepath.Join(dir, t.file), filepath.Join(aside, t.file)); err != nil {
			return fmt.Errorf("move %s aside: %w", t.file, err)
		}
	}
	return nil
}

// dropFromManifest records in the store's manifest that table id is gone, as badger does
// when a compaction deletes one: a change set appended to the log of change sets,
//
//	length (4, BE) || CRC-32C (4, BE) || protobuf ManifestChangeSet
//
// A table the manifest does not hold needs no change (badger deletes unlisted files).
func dropFromManifest(dir string, id uint64) error {
	path := filepath.Join(dir, badger.ManifestFilename)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	m, _, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir))
	if err != nil {
		return fmt.Errorf("read the manifest: %w", err)
	}
	if _, ok := m.Tables[id]; !ok {
		return nil
	}
	set, err := proto.Marshal(&pb.ManifestChangeSet{Changes: []*pb.ManifestChange{{Id: id, Op: pb.ManifestChange_DELETE}}})
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(set)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(set, castagnoli))
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	if _, err := f.Write(append(buf, set...)); err != nil {
		return err
	}
	return f.Sync()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeBack writes the writes that still read after the damage in d's logs into the open
// store, each only where the store holds no later version of its key. It returns how many
// it wrote.
func (s *store) writeBack(d *storeDamage) (int, error) {
	written := 0
	for _, l := range d.logs {
		for _, e := range l.salvaged {
			k := y.ParseKey(e.key)
			if bytes.HasPrefix(k, []byte("!badger!")) || e.meta&logBitValuePointer != 0 {
				continue // badger's own, or a value kept in a value log
			}
			ver := y.ParseTs(e.key)
			err := s.db.Update(func(txn *badger.Txn) error {
				item, err := txn.Get(k)
				switch {
				case err == nil && item.Version() >= ver:
					return errSkip
				case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
					return err
				case e.meta&logBitDelete != 0:
					if err != nil {
						return errSkip
					}
					return txn.Delete(k)
				}
				return txn.Set(k, bytes.Clone(e.value))
			})
			if errors.Is(err, errSkip) {
				continue
			}
			if err != nil {
				return written, fmt.Errorf("write back %q: %w", k, err)
			}
			written++
		}
	}
	return written, nil
}

var errSkip = errors.New("skip")
