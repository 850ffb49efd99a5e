package federation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A state record is one node's part of a room's state: the participants connected to it.
// Only that node writes it (kind "state"):
//
//	{"v":1,"room":"<room id>","node":"12D3KooW…","ver":1767225600123,"time_ms":1767225600123,
//	 "participants":[{"id":"k3j…","info":{…}},…]}
//
// ver grows with every record the node writes for the room (it is at least the unix time
// in milliseconds, so that it keeps growing even if the node lost its store); merging is
// "the greatest ver per node wins". A node that has left a room writes a record with no
// participants ("participants":[]). info is what the participant looks like to others (name,
// certificate, raised hand, published tracks, ...): one JSON value owned by the node layer,
// which federation only bounds, signs inside the record, stores and carries as it is.

// Limits of a state record. A record of MaxParticipants participants fits in
// MaxMessageSize only if their infos average under about 1 KiB; RecordFits tells a writer
// whether a set of participants does.
const (
	MaxParticipants = 1000    // participants in one node's record of a room
	MaxInfoSize     = 4 << 10 // bytes of one participant's info JSON
)

// Participant is one participant as its home node describes it to the federation.
type Participant struct {
	ID   string          `json:"id"`
	Info json.RawMessage `json:"info"` // opaque JSON owned by the node layer; null when absent
}

func (p Participant) validate() error {
	if err := token("participant id", p.ID, maxIDLen); err != nil {
		return err
	}
	if len(p.Info) > MaxInfoSize {
		return fmt.Errorf("participant %s: info of %d bytes, at most %d", p.ID, len(p.Info), MaxInfoSize)
	}
	return nil
}

// participantOverhead bounds the bytes a participant adds to a record besides its info:
// {"id":"…","info":…}, and the comma.
const participantOverhead = len(`{"id":"","info":},`) + maxIDLen

// recordOverhead bounds the bytes of a state body besides its participants.
const recordOverhead = 512

// RecordFits reports whether a state record listing participants whose infos take infoBytes
// bytes in all, n of them, stays within the size of one signed message.
func RecordFits(n, infoBytes int) bool {
	return n <= MaxParticipants && recordOverhead+n*participantOverhead+infoBytes <= maxStateBody
}

// StateRecord is one node's record of its participants in a room.
type StateRecord struct {
	Room         string
	Node         peer.ID
	Version      uint64
	Time         time.Time
	Participants []Participant // empty: the node has left the room
}

type stateBody struct {
	V            int           `json:"v"`
	Room         string        `json:"room"`
	Node         peer.ID       `json:"node"`
	Ver          uint64        `json:"ver"`
	TimeMS       int64         `json:"time_ms"`
	Participants []Participant `json:"participants"`
}

func (b stateBody) record() StateRecord {
	return StateRecord{Room: b.Room, Node: b.Node, Version: b.Ver, Time: time.UnixMilli(b.TimeMS), Participants: b.Participants}
}

func (b stateBody) validate() error {
	if b.V != wireVersion {
		return errVersion
	}
	if !ValidRoomID(b.Room) {
		return fmt.Errorf("room id %q is not a room ID", b.Room)
	}
	if b.Ver == 0 {
		return fmt.Errorf("state version is 0")
	}
	if err := millis("time_ms", b.TimeMS); err != nil {
		return err
	}
	if b.Participants == nil {
		return fmt.Errorf("participants is null")
	}
	if len(b.Participants) > MaxParticipants {
		return fmt.Errorf("%d participants, at most %d", len(b.Participants), MaxParticipants)
	}
	seen := make(map[string]bool, len(b.Participants))
	infoBytes := 0
	for _, p := range b.Participants {
		infoBytes += len(p.Info)
		if err := p.validate(); err != nil {
			return err
		}
		if seen[p.ID] {
			return fmt.Errorf("participant %s appears twice", p.ID)
		}
		seen[p.ID] = true
	}
	if !RecordFits(len(b.Participants), infoBytes) {
		return fmt.Errorf("%d participants with %d bytes of info do not fit in one record", len(b.Participants), infoBytes)
	}
	return nil
}

func decodeStateRecord(data []byte, b *stateBody) error {
	if err := decodeStrict(data, b); err != nil {
		return fmt.Errorf("state record: %w", err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("state record of %s in room %s: %w", b.Node, b.Room, err)
	}
	return nil
}

// roomState is the merged state of one room: the newest record of each node. It is a pure
// value; Federation guards it with its lock.
type roomState map[peer.ID]*storedState

// storedState is a verified state record with the envelope it came in.
type storedState struct {
	body stateBody
	raw  []byte
}

// merge applies a record under "the greatest version per node wins" and reports whether it
// changed the state. Merging is commutative, associative and idempotent: any order of any
// repetition of the same records ends in the same state.
func (s roomState) merge(rec *storedState) bool {
	cur := s[rec.body.Node]
	if cur != nil && cur.body.Ver >= rec.body.Ver {
		return false
	}
	s[rec.body.Node] = rec
	return true
}

// version is the version of node's record, 0 if none.
func (s roomState) version(node peer.ID) uint64 {
	if cur := s[node]; cur != nil {
		return cur.body.Ver
	}
	return 0
}
