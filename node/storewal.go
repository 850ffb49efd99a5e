package node

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dgraph-io/badger/v4/y"
)

// The store's write-ahead logs are badger's memtable files (NNNNN.mem): what was written
// since the last flush to a table. Badger replays one at open up to the first entry that does
// not decode and cuts it there, so damage in the middle of a log would silently drop every
// write after it. scanLog reads a log the way badger does and reports damage instead:
//
//	header (20 bytes): key ID (8, zero: not encrypted) || base IV (12 random bytes)
//	entry:  meta (1) || user meta (1) || uvarint key length || uvarint value length ||
//	        uvarint expiry || key (user key || 8-byte version) || value || CRC-32C (4, BE)
//
// Entries of a transaction carry bitTxn; its end is an entry with bitFinTxn whose value is
// the version. A log is healthy when everything after the last whole transaction is zero,
// or is a transaction or an entry the process died writing (never acknowledged).

const (
	logHeaderSize = 20
	maxLogKey     = 1 << 16

	logBitDelete       = 1 << 0
	logBitValuePointer = 1 << 1
	logBitTxn          = 1 << 6
	logBitFinTxn       = 1 << 7
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logEntry is one decoded entry of a log.
type logEntry struct {
	meta  byte
	key   []byte // with its version suffix
	value []byte
	size  int // bytes it takes in the log
}

// logDamage is damage found in one log.
type logDamage struct {
	file      string // base name
	header    bool   // its header was overwritten: none of it can be trusted to be all
	at        int    // offset of the first byte badger's replay stops at
	lostBytes int    // bytes after at that no committed entry accounts for
	// salvaged are the committed entries found after the damage, in log order; badger's
	// replay would drop them.
	salvaged []logEntry
}

// decodeLogEntry decodes the entry at the start of b; n is its length.
func decodeLogEntry(b []byte) (e logEntry, n int, ok bool) {
	if len(b) < 2 {
		return e, 0, false
	}
	e.meta = b[0]
	p := 2
	var lens [3]uint64
	for i := range lens {
		v, k := binary.Uvarint(b[p:])
		if k <= 0 {
			return e, 0, false
		}
		lens[i], p = v, p+k
	}
	klen, vlen := lens[0], lens[1]
	if klen == 0 || klen > maxLogKey || vlen > uint64(len(b)) {
		return e, 0, false
	}
	end := p + int(klen) + int(vlen)
	if end+crc32.Size > len(b) {
		return e, 0, false
	}
	if crc32.Checksum(b[:end], castagnoli) != binary.BigEndian.Uint32(b[end:]) {
		return e, 0, false
	}
	e.key, e.value, e.size = b[p:p+int(klen)], b[p+int(klen):end], end+crc32.Size
	return e, e.size, true
}

// logReplay follows transactions through a log: committed gives the entries of each whole
// transaction (or a single entry outside one) in order.
type logReplay struct {
	ts        uint64
	pending   []logEntry
	committed []logEntry
}

// add takes the next decoded entry; it reports whether e ended a whole transaction or was
// one entry outside any, and false when the log does not follow on (a transaction of another
// version begun before the last one ended).
func (r *logReplay) add(e logEntry) (whole, ok bool) {
	switch {
	case e.meta&logBitTxn != 0:
		ts := y.ParseTs(e.key)
		if r.ts == 0 {
			r.ts = ts
		}
		if ts != r.ts {
			return false, false
		}
		r.pending = append(r.pending, e)
		return false, true
	case e.meta&logBitFinTxn != 0:
		ts, err := strconv.ParseUint(string(e.value), 10, 64)
		if err != nil || ts != r.ts {
			return false, false
		}
		r.committed = append(r.committed, r.pending...)
		r.pending, r.ts = r.pending[:0], 0
		return true, true
	default:
		if r.ts != 0 {
			return false, false
		}
		r.committed = append(r.committed, e)
		return true, true
	}
}

// scanLog reads the log at path; it returns nil when the log is healthy.
func scanLog(path string) (*logDamage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return scanLogBytes(filepath.Base(path), b), nil
}

// scanLogBytes is scanLog of the log file named file holding b.
func scanLogBytes(file string, b []byte) *logDamage {
	d := &logDamage{file: file}
	if len(b) < logHeaderSize {
		return nil // badger writes the header again
	}
	// Twelve zero bytes of a random IV: the start of the file was overwritten, and with it
	// any number of entries, maybe all of them.
	d.header = isZero(b[8:logHeaderSize])

	// Replay as badger does, to the end of the last whole transaction.
	var r logReplay
	at, end := logHeaderSize, logHeaderSize
	for {
		e, n, ok := decodeLogEntry(b[at:])
		if !ok {
			break
		}
		whole, follows := r.add(e)
		if !follows {
			break
		}
		at += n
		if whole {
			end = at
		}
	}
	d.at = end
	// What follows must be zeros, possibly after entries or an entry being written when the
	// process died: a header whose entry runs past the last non-zero byte.
	last := lastNonZero(b)
	if last < at || tornEntry(b[at:last+1], len(b)-at) {
		if d.header {
			return d
		}
		return nil
	}
	d.salvaged = salvageLog(b[end : last+1])
	d.lostBytes = last + 1 - end
	for _, e := range d.salvaged {
		d.lostBytes -= e.size
	}
	return d
}

// tornEntry reports whether rest (the non-zero bytes after the last decodable entry, within
// room bytes of file) is one entry cut short: its header decodes and its declared length
// reaches past rest.
func tornEntry(rest []byte, room int) bool {
	if len(rest) < 2 {
		return true
	}
	p := 2
	var lens [3]uint64
	for i := range lens {
		v, k := binary.Uvarint(rest[p:])
		if k <= 0 {
			return false
		}
		lens[i], p = v, p+k
	}
	if lens[0] == 0 || lens[0] > maxLogKey {
		return false
	}
	full := uint64(p) + lens[0] + lens[1] + crc32.Size
	return full > uint64(len(rest)) && full <= uint64(room)
}

// salvageLog finds the committed entries in the damaged part b of a log, resynchronising on
// every byte where no entry decodes.
func salvageLog(b []byte) []logEntry {
	var r logReplay
	for at := 0; at < len(b); {
		if b[at] == 0 && (at+1 >= len(b) || b[at+1] == 0) {
			at++
			continue
		}
		e, n, ok := decodeLogEntry(b[at:])
		if !ok {
			at++
			continue
		}
		if _, follows := r.add(e); !follows {
			// A transaction whose end was lost: start again at this entry.
			r.pending, r.ts = r.pending[:0], 0
			r.add(e)
		}
		at += n
	}
	return r.committed
}

func isZero(b []byte) bool { return len(bytes.TrimLeft(b, "\x00")) == 0 }

// lastNonZero is the index of b's last non-zero byte, -1 if none.
func lastNonZero(b []byte) int {
	return len(bytes.TrimRight(b, "\x00")) - 1
}
