package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Before badger opens the store, inspectStore reads every table (NNNNN.sst) with its
// checksums verified and every write-ahead log (NNNNN.mem, storewal.go): badger reads tables
// on goroutines of its own, where damage is a panic that takes the process down, and cuts a
// damaged log at the damage without a word. What it finds is reported with what the damaged
// files held, as far as they can still be read.

// errDamaged is wrapped by the errors of a store with damage.
var errDamaged = errors.New("the store is damaged")

// storeDamage is what inspectStore found; nil when the store is healthy.
type storeDamage struct {
	tables []tableDamage
	logs   []*logDamage
}

// tableDamage is a table that fails its checks.
type tableDamage struct {
	file string // base name
	id   uint64
	err  string
	keys [][]byte // the keys it can still be read to hold; nil when none can be
}

// inspectStore checks the store at dir.
func inspectStore(dir string) (*storeDamage, error) {
	d := &storeDamage{}
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return nil, err
	}
	for _, p := range ssts {
		if err := checkTable(p); err != nil {
			id, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), ".sst"), 10, 64)
			d.tables = append(d.tables, tableDamage{file: filepath.Base(p), id: id, err: err.Error(), keys: tableKeys(p)})
		}
	}
	mems, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return nil, err
	}
	for _, p := range mems {
		ld, err := scanLog(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if ld != nil {
			d.logs = append(d.logs, ld)
		}
	}
	if len(d.tables) == 0 && len(d.logs) == 0 {
		return nil, nil
	}
	return d, nil
}

// tableOptions are those of the tables badger writes with the store's options.
var tableOptions = table.Options{BlockSize: 4 << 10, Compression: options.Snappy}

// checkTable opens the table at path once with every checksum verified.
func checkTable(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			msg := strings.Join(strings.Fields(fmt.Sprint(r)), " ")
			if strings.Contains(msg, "initIndex") {
				msg = "its index does not read: the file is cut short or overwritten"
			}
			err = errors.New(msg)
		}
	}()
	t, err := openTable(path, options.OnTableRead)
	if err != nil {
		return err
	}
	// Not DecrRef: at no reference left it deletes the table's file.
	return t.MmapFile.Close(-1)
}

func openTable(path string, chk options.ChecksumVerificationMode) (*table.Table, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return nil, errors.New("the file is empty")
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, int(st.Size()))
	if err != nil && !errors.Is(err, z.NewFile) {
		return nil, err
	}
	opts := tableOptions
	opts.ReadOnly, opts.ChkMode = true, chk
	t, err := table.OpenTable(mf, opts)
	if err != nil {
		_ = mf.Close(-1)
		return nil, err
	}
	return t, nil
}

// maxListedKeys bounds the keys listed of one damaged table.
const maxListedKeys = 100_000

// tableKeys lists the user keys a damaged table can still be read to hold, block by block
// without checksums, stopping at the first block that does not read.
func tableKeys(path string) (keys [][]byte) {
	defer func() {
		if r := recover(); r != nil {
			_ = r // what was listed before the block that did not read is kept
		}
	}()
	t, err := openTable(path, options.NoVerification)
	if err != nil {
		return nil
	}
	defer func() { _ = t.MmapFile.Close(-1) }()
	it := t.NewIterator(0)
	defer it.Close()
	for it.Rewind(); it.Valid() && len(keys) < maxListedKeys; it.Next() {
		k := y.ParseKey(it.Key())
		if bytes.HasPrefix(k, []byte("!badger!")) {
			continue // badger's own
		}
		if len(keys) == 0 || string(keys[len(keys)-1]) != string(k) {
			keys = append(keys, slices.Clone(k))
		}
	}
	return keys
}

// describe says, for an operator, what is damaged and what it held.
func (d *storeDamage) describe() string {
	var parts []string
	for _, t := range d.tables {
		s := fmt.Sprintf("table %s does not read (%s)", t.file, t.err)
		if t.keys == nil {
			s += "; what it held cannot be read"
		} else {
			s += "; it held " + summarizeKeys(t.keys)
		}
		parts = append(parts, s)
	}
	for _, l := range d.logs {
		var s string
		switch {
		case l.header:
			s = fmt.Sprintf("write-ahead log %s was overwritten from its start: the writes it held since the last flush are lost, how many cannot be told", l.file)
		default:
			s = fmt.Sprintf("write-ahead log %s is damaged at byte %d: %d bytes after it do not read", l.file, l.at, l.lostBytes)
		}
		if len(l.salvaged) > 0 {
			keys := make([][]byte, len(l.salvaged))
			for i, e := range l.salvaged {
				keys[i] = y.ParseKey(e.key)
			}
			s += fmt.Sprintf("; %d writes after the damage still read (%s) and are written back on repair", len(l.salvaged), summarizeKeys(keys))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// lostKeys are the keys the damaged tables are known to have held.
func (d *storeDamage) lostKeys() [][]byte {
	var out [][]byte
	for _, t := range d.tables {
		out = append(out, t.keys...)
	}
	return out
}

// unknownLoss reports whether the damage lost writes that cannot be listed.
func (d *storeDamage) unknownLoss() bool {
	for _, t := range d.tables {
		if t.keys == nil {
			return true
		}
	}
	for _, l := range d.logs {
		if l.header || l.lostBytes > 0 {
			return true
		}
	}
	return false
}
