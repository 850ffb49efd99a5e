package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// checkTables opens every table of the store at dir once, with its checksums verified, before
// badger opens them on goroutines of its own, where damage is a panic that takes the process
// down. A damaged table is an error naming the file.
func checkTables(dir string) error {
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return err
	}
	for _, p := range ssts {
		if err := checkTable(p); err != nil {
			return err
		}
	}
	return nil
}

// errDamaged is wrapped by checkTables' errors.
var errDamaged = errors.New("the store is damaged")

func checkTable(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: table %s: %v", errDamaged, path, r)
		}
	}()
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return fmt.Errorf("%w: table %s is empty", errDamaged, path)
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, int(st.Size()))
	if err != nil && !errors.Is(err, z.NewFile) {
		return fmt.Errorf("%w: table %s: %v", errDamaged, path, err)
	}
	t, err := table.OpenTable(mf, table.Options{ReadOnly: true, ChkMode: options.OnTableRead,
		BlockSize: 4 << 10, Compression: options.Snappy})
	if err != nil {
		return fmt.Errorf("%w: table %s: %v", errDamaged, path, err)
	}
	// Not DecrRef: at no reference left it deletes the table's file.
	return t.MmapFile.Close(-1)
}
