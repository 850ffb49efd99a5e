package node

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/federation"
)

// Room is a meeting room: the federation's directory record, the one source of truth for
// rooms (this node's own and those of its peers).
type Room = federation.Room

// ErrNotFound is returned for a room neither this node nor its federation holds.
var ErrNotFound = errors.New("not found")

// ErrRoomDeleted is returned for a room its owner deleted.
var ErrRoomDeleted = errors.New("room deleted")

// MaxTitleLen bounds a room title, in runes.
const MaxTitleLen = federation.MaxTitleLen

// RoomOptions are what a new room is made of.
type RoomOptions struct {
	Title string
	Lobby bool
	// Orgs restricts the room to participants of nodes of these organisations (the node's own
	// is added); empty opens it to every federated node.
	Orgs []string
	// Guests says who may join without signing in: federation.GuestsAllowed, GuestsLobby or
	// GuestsNo.
	Guests string
	// Start is when a scheduled meeting begins; zero for none.
	Start time.Time
}

// maxScheduleAhead bounds how far ahead a meeting may be scheduled.
const maxScheduleAhead = 2 * 366 * 24 * time.Hour

// openTo reports whether the room's policy lets participants of this node in.
func (n *Node) openTo(r Room) bool { return r.Owner == n.fed.self || r.Allows(n.cfg.Organisation) }

// closedText tells a participant of this node why the room is closed to them.
func (n *Node) closedText(r Room) string {
	return fmt.Sprintf("the room is open to %s only, not to %s", strings.Join(r.Orgs, ", "), n.cfg.Organisation)
}

// participantIDEncoding spells participant IDs: lowercase base32 without padding.
var participantIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newParticipantID returns a fresh random participant ID (80 bits, 16 characters).
func newParticipantID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return participantIDEncoding.EncodeToString(b[:])
}

// ValidRoomID reports whether id is spelled like a room ID (see federation.ValidRoomID).
func ValidRoomID(id string) bool { return federation.ValidRoomID(id) }

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

// lookupRoom finds a room in the federation's directory (this node's own are there too).
func (n *Node) lookupRoom(id string) (Room, error) {
	r, ok := n.fed.fed.Lookup(id)
	if !ok {
		return Room{}, ErrNotFound
	}
	if r.Deleted {
		return Room{}, ErrRoomDeleted
	}
	return r, nil
}
