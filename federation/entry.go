package federation

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A log entry is one chat message or room event, appended by one node to a room's log and
// signed by it (kind "entry"):
//
//	{"v":1,"room":"<room id>","node":"12D3KooW…","seq":42,"time_ms":1767225600123,
//	 "kind":"chat","data":{…}}
//
// (node, seq) names the entry: each node numbers its entries in a room 1, 2, 3, … with no
// gaps, so a reader knows exactly what it lacks. data is opaque JSON owned by the node layer
// (a chat message's ciphertext, a "hand raised" event, …). Entries are shown in the order of
// (time_ms, node, seq), the same on every node.

// Limits of a log entry.
const (
	MaxEntryData = 48 << 10 // bytes of an entry's data JSON
	maxKindLen   = 32
	// seqWindow bounds how far beyond what a node holds without gaps an entry's seq may be;
	// anything further is refused and fetched in order later.
	seqWindow = 1 << 16
)

// Entry is one entry of a room's log.
type Entry struct {
	Room string
	Node peer.ID
	Seq  uint64
	Time time.Time
	Kind string
	Data json.RawMessage
}

type entryBody struct {
	V      int             `json:"v"`
	Room   string          `json:"room"`
	Node   peer.ID         `json:"node"`
	Seq    uint64          `json:"seq"`
	TimeMS int64           `json:"time_ms"`
	Kind   string          `json:"kind"`
	Data   json.RawMessage `json:"data"`
}

func (b entryBody) entry() Entry {
	return Entry{Room: b.Room, Node: b.Node, Seq: b.Seq, Time: time.UnixMilli(b.TimeMS), Kind: b.Kind, Data: b.Data}
}

// validKind checks an entry kind: 1..32 bytes of a-z, 0-9, '_', '.', '-', starting with a letter.
func validKind(k string) error {
	if k == "" || len(k) > maxKindLen || k[0] < 'a' || k[0] > 'z' {
		return fmt.Errorf("entry kind %q is not 1 to %d lowercase characters starting with a letter", k, maxKindLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return fmt.Errorf("entry kind %q contains %q", k, c)
		}
	}
	return nil
}

func (b entryBody) validate() error {
	if b.V != wireVersion {
		return errVersion
	}
	if !ValidRoomID(b.Room) {
		return fmt.Errorf("room id %q is not a room ID", b.Room)
	}
	if b.Seq == 0 {
		return fmt.Errorf("seq is 0")
	}
	if err := millis("time_ms", b.TimeMS); err != nil {
		return err
	}
	if err := validKind(b.Kind); err != nil {
		return err
	}
	if len(b.Data) > MaxEntryData {
		return fmt.Errorf("data of %d bytes, at most %d", len(b.Data), MaxEntryData)
	}
	return nil
}

func decodeEntry(data []byte, b *entryBody) error {
	if err := decodeStrict(data, b); err != nil {
		return fmt.Errorf("log entry: %w", err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("log entry %s/%d in room %s: %w", b.Node, b.Seq, b.Room, err)
	}
	return nil
}

// CompareEntries orders entries for display: by time, then node, then seq.
func CompareEntries(a, b Entry) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// seqSet is the set of sequence numbers held from one node in one room: every seq up to
// contig, plus the ones in above (all greater than contig+1). delivered (<= contig) is the
// seq up to which entries were handed to EntryAppended (deliver.go).
type seqSet struct {
	contig    uint64
	above     map[uint64]struct{}
	delivered uint64
}

func (s *seqSet) has(seq uint64) bool {
	if seq <= s.contig {
		return true
	}
	_, ok := s.above[seq]
	return ok
}

// add records seq and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	if s.has(seq) {
		return false
	}
	if seq != s.contig+1 {
		if s.above == nil {
			s.above = map[uint64]struct{}{}
		}
		s.above[seq] = struct{}{}
		return true
	}
	s.contig = seq
	for {
		if _, ok := s.above[s.contig+1]; !ok {
			return true
		}
		delete(s.above, s.contig+1)
		s.contig++
	}
}

// max is the greatest seq held.
func (s *seqSet) max() uint64 {
	m := s.contig
	for q := range s.above {
		m = max(m, q)
	}
	return m
}
