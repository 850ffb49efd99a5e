package node

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// The data directory's format, kept in the store under formatKey. Format 1 is every store of
// earlier versions (no key): the node's own room table beside the federation's records.
// Format 2 keeps rooms only in the federation's directory; a node of this version moves a
// format 1 store there (migrateRooms) and records 2. A store of a newer format than
// DataFormat is refused: an older binary does not guess at what a newer one wrote.
const DataFormat = 2

var formatKey = []byte("meta/format")

// errNewerFormat is wrapped by checkFormat for a store a newer version wrote.
var errNewerFormat = errors.New("the data directory was written by a newer version of Parley")

// format returns the store's format (1 when it records none).
func (s *store) format() (int, error) {
	f := 1
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 1 {
				return fmt.Errorf("the store's format %q is not a format number", v)
			}
			f = n
			return nil
		})
	})
	return f, err
}

// checkFormat refuses a store of a newer format than this binary's.
func (s *store) checkFormat() (int, error) {
	f, err := s.format()
	if err != nil {
		return 0, fmt.Errorf("read the data format: %w", err)
	}
	if f > DataFormat {
		return f, fmt.Errorf("%w (format %d; this one reads up to %d): run that version or a newer one, or restore a backup taken by this one", errNewerFormat, f, DataFormat)
	}
	return f, nil
}

// setFormat records that the store is of this binary's format.
func (s *store) setFormat() error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(formatKey, []byte(strconv.Itoa(DataFormat)))
	})
}
