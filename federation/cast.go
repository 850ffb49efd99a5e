package federation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A cast is a signed message to the nodes taking part in a room that is not kept: no seq, not
// stored, not caught up after a partition (kind "cast"):
//
//	{"v":1,"room":"<room id>","node":"12D3KooW…","time_ms":1767225600123,"kind":"caption","data":{…}}
//
// It is for what is worth nothing a few seconds later, a live caption line. It reaches the
// nodes subscribed to the room's topic at the time; one older or newer than CastFresh is
// refused (ReasonStale), so that a copy replayed after gossip's duplicate cache forgot it
// does nothing.

// Limits of a cast.
const (
	MaxCastData = 24 << 10 // bytes of a cast's data JSON
	maxCastBody = MaxCastData + 1<<10
	// CastFresh is how far a cast's time may be from the receiving node's clock.
	CastFresh = 30 * time.Second
)

// Cast is one cast received.
type Cast struct {
	Room string
	Node peer.ID
	Time time.Time
	Kind string
	Data json.RawMessage
}

type castBody struct {
	V      int             `json:"v"`
	Room   string          `json:"room"`
	Node   peer.ID         `json:"node"`
	TimeMS int64           `json:"time_ms"`
	Kind   string          `json:"kind"`
	Data   json.RawMessage `json:"data"`
}

func (b castBody) validate() error {
	if b.V != wireVersion {
		return errVersion
	}
	if !ValidRoomID(b.Room) {
		return fmt.Errorf("room id %q is not a room ID", b.Room)
	}
	if err := millis("time_ms", b.TimeMS); err != nil {
		return err
	}
	if err := validKind(b.Kind); err != nil {
		return err
	}
	if len(b.Data) > MaxCastData {
		return fmt.Errorf("data of %d bytes, at most %d", len(b.Data), MaxCastData)
	}
	return nil
}

func decodeCast(data []byte, b *castBody) error {
	if err := decodeStrict(data, b); err != nil {
		return fmt.Errorf("cast: %w", err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("cast in room %s: %w", b.Room, err)
	}
	return nil
}

// Cast sends data of kind (as an entry's kind) to the nodes taking part in room now. It
// fails if the room's policy does not admit this node; it sends nothing, without error,
// while this node has no participants in the room (it is not subscribed to the room's
// topic then).
func (f *Federation) Cast(room, kind string, data json.RawMessage) error {
	if !json.Valid(data) {
		return fmt.Errorf("federation: cast to room %s: data is not JSON", room)
	}
	f.mu.Lock()
	_, err := f.memberLocked(room, f.self)
	f.mu.Unlock()
	if err != nil {
		return roomErr(room, err)
	}
	b := castBody{V: wireVersion, Room: room, Node: f.self, TimeMS: nowMS(), Kind: kind, Data: data}
	if err := b.validate(); err != nil {
		return fmt.Errorf("federation: cast to room %s: %w", room, err)
	}
	raw, err := seal(f.key, f.self, kindCast, b)
	if err != nil {
		return err
	}
	f.publish(room, raw)
	f.cnt.casts.Add(1)
	return nil
}

// applyCast checks a cast from another node against the federation and the clock and hands
// it to Handlers.CastReceived.
func (f *Federation) applyCast(m message) error {
	b := m.cast
	if m.origin == f.self {
		return reject(ReasonReplay, "own cast")
	}
	if err := fresh(b); err != nil {
		return err
	}
	f.mu.Lock()
	err := f.originLocked(m.origin)
	if err == nil {
		_, err = f.memberLocked(b.Room, m.origin)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.cnt.accepted.Add(1)
	if h := f.cfg.Handlers.CastReceived; h != nil {
		h(Cast{Room: b.Room, Node: b.Node, Time: time.UnixMilli(b.TimeMS), Kind: b.Kind, Data: b.Data})
	}
	return nil
}

// fresh refuses a cast whose time is further than CastFresh from this node's clock.
func fresh(b *castBody) error {
	if d := time.Since(time.UnixMilli(b.TimeMS)); d > CastFresh || d < -CastFresh {
		return reject(ReasonStale, "cast of %s in room %s sent %v from now", b.Node, b.Room, d.Round(time.Millisecond))
	}
	return nil
}
