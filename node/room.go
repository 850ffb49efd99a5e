package node

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/media/signal"
)

// Room is a meeting room stored on the node.
type Room struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	// Lobby makes joiners wait until a moderator admits them.
	Lobby bool `json:"lobby,omitempty"`
	// Orgs are the organisations whose nodes may take part; empty: every federated node.
	Orgs []string `json:"orgs,omitempty"`
	// Owner is the peer ID of the node that owns the room, for rooms of other nodes.
	Owner string `json:"owner,omitempty"`
}

// openTo reports whether the room's policy lets participants of a node of organisation org in.
func (r Room) openTo(org string) bool { return len(r.Orgs) == 0 || slices.Contains(r.Orgs, org) }

// closedText tells a participant of a node of organisation org why the room is closed to them.
func (r Room) closedText(org string) string {
	return fmt.Sprintf("the room is open to %s only, not to %s", strings.Join(r.Orgs, ", "), org)
}

// RoomOptions are what a new room is made of.
type RoomOptions struct {
	Title string
	Lobby bool
	// Orgs restricts the room to participants of nodes of these organisations (the node's own
	// is added); empty opens it to every federated node.
	Orgs []string
}

// roomIDEncoding spells room IDs: 128 random bits, lowercase base32 without padding (26 chars).
var roomIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const roomIDLen = 26

// newRoomID returns a fresh random room ID.
func newRoomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return roomIDEncoding.EncodeToString(b[:])
}

// newParticipantID returns a fresh random participant ID (80 bits, 16 characters).
func newParticipantID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return roomIDEncoding.EncodeToString(b[:])
}

// ValidRoomID reports whether id is spelled like a room ID (26 characters of a-z, 2-7).
func ValidRoomID(id string) bool {
	if len(id) != roomIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// RoomURL is the link to a room: base (the node's public URL) + /r/ + id.
func RoomURL(base, id string) string {
	return strings.TrimSuffix(base, "/") + "/r/" + id
}

// validTitle checks a room title: 1 to MaxTitleLen runes, no control characters.
func validTitle(t string) error {
	if strings.TrimSpace(t) == "" || !utf8.ValidString(t) || utf8.RuneCountInString(t) > MaxTitleLen {
		return fmt.Errorf("a room title must be 1 to %d characters", MaxTitleLen)
	}
	for _, r := range t {
		if unicode.IsControl(r) {
			return errors.New("a room title must not contain control characters")
		}
	}
	return nil
}

func sortRooms(rs []Room) {
	slices.SortFunc(rs, func(a, b Room) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// errRoomFull is returned by hub.join when a room is at its participant limit.
var errRoomFull = errors.New("room is full")

// hub is the node's live rooms: who is connected to which room, with their participant state
// as clients see it, and who waits in which lobby. It fans messages out to sessions without
// blocking: a session whose queue is full is disconnected (see session.enqueue).
type hub struct {
	mu     sync.Mutex
	rooms  map[string]map[string]*session          // room id -> participant id -> admitted session; guarded by mu
	lobby  map[string][]*session                   // room id -> sessions waiting, in order of arrival; guarded by mu
	remote map[string]map[string]remoteParticipant // room id -> participant id -> participant of another node; guarded by mu
}

// remoteParticipant is a participant of another node, as its state record describes it.
type remoteParticipant struct {
	info signal.Participant
	node peer.ID
}

func newHub() *hub {
	return &hub{rooms: map[string]map[string]*session{}, lobby: map[string][]*session{},
		remote: map[string]map[string]remoteParticipant{}}
}

// join adds s to its room unless the room holds max participants already. Under the same
// lock it picks s a sender tag no one else in the room has and calls enter with it and the
// participants already there; enter sets s.info and queues the joined message, so no
// broadcast can overtake it; then everyone already there gets participant_joined. If enter
// fails, s is not added.
func (h *hub) join(s *session, max int, enter func(tag uint32, others []signal.Participant) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	members := h.rooms[s.roomID]
	if len(members) >= max {
		return errRoomFull
	}
	others := make([]signal.Participant, 0, len(members))
	taken := make(map[uint32]bool, len(members))
	for _, o := range members {
		others = append(others, o.info)
		taken[o.tag] = true
	}
	for _, r := range h.remote[s.roomID] {
		others = append(others, r.info)
	}
	slices.SortFunc(others, func(a, b signal.Participant) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	tag := randomTag()
	for taken[tag] {
		tag = randomTag()
	}
	if err := enter(tag, others); err != nil {
		return err
	}
	// Announced under the lock, so that everyone here learns of s (and its certificate)
	// before anything s sends once it has read its joined message, such as its key envelope.
	p := s.info
	if data, err := json.Marshal(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &p}); err == nil {
		for _, o := range members {
			o.enqueue(data)
		}
	}
	if members == nil {
		members = map[string]*session{}
		h.rooms[s.roomID] = members
	}
	members[s.id] = s
	return nil
}

// randomTag returns a random sender tag (see package parley/identity: KID = tag<<16 | epoch).
func randomTag() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// leave removes s from its room; it reports whether s was there.
func (h *hub) leave(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	members := h.rooms[s.roomID]
	if members[s.id] != s {
		return false
	}
	delete(members, s.id)
	if len(members) == 0 {
		delete(h.rooms, s.roomID)
	}
	return true
}

// update applies change to s's participant state; if it reports a change, everyone in the
// room (s included) gets participant_updated, and update reports true.
func (h *hub) update(s *session, change func(p *signal.Participant) bool) bool {
	h.mu.Lock()
	if h.rooms[s.roomID][s.id] != s || !change(&s.info) {
		h.mu.Unlock()
		return false
	}
	p := s.info
	h.mu.Unlock()
	h.broadcast(s.roomID, &signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}, nil)
	return true
}

// localParticipants are room's admitted participants on this node, ordered by id.
func (h *hub) localParticipants(room string) []signal.Participant {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]signal.Participant, 0, len(h.rooms[room]))
	for _, s := range h.rooms[room] {
		out = append(out, s.info)
	}
	slices.SortFunc(out, func(a, b signal.Participant) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// setRemote makes want room's participants of other nodes, telling local clients who came,
// changed and went.
func (h *hub) setRemote(room string, want map[string]remoteParticipant) {
	h.mu.Lock()
	defer h.mu.Unlock()
	have := h.remote[room]
	send := func(m *signal.Message) {
		data, err := json.Marshal(m)
		if err != nil {
			return
		}
		for _, s := range h.rooms[room] {
			s.enqueue(data)
		}
	}
	for id, p := range want {
		if _, local := h.rooms[room][id]; local {
			delete(want, id) // a stale record of a participant that moved here
			continue
		}
		old, ok := have[id]
		switch {
		case !ok:
			send(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &p.info})
		case !sameParticipant(old.info, p.info):
			send(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p.info})
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			send(&signal.Message{Type: signal.TypeParticipantLeft, ID: id})
		}
	}
	if len(want) == 0 {
		delete(h.remote, room)
	} else {
		h.remote[room] = want
	}
}

func sameParticipant(a, b signal.Participant) bool {
	ac, bc := a.Cert, b.Cert
	a.Cert, b.Cert = nil, nil
	return a == b && (ac == nil) == (bc == nil) && (ac == nil || *ac == *bc)
}

// remoteParticipant returns room's participant id of another node.
func (h *hub) remoteParticipant(room, id string) (remoteParticipant, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.remote[room][id]
	return p, ok
}

// broadcast queues m for everyone in room except skip (which may be nil).
func (h *hub) broadcast(room string, m *signal.Message, skip *session) {
	data, err := json.Marshal(m)
	if err != nil {
		return // our own message types always encode
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.rooms[room] {
		if s != skip {
			s.enqueue(data) // never blocks
		}
	}
}

// activeRooms is the number of rooms with at least one participant.
func (h *hub) activeRooms() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms)
}

// participants returns the number of participants in room.
func (h *hub) participants(room string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms[room])
}
