package federation

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A room record puts a room in the directory of every federated node. The owner node signs
// it (kind "room"):
//
//	{"v":1,"id":"<room id>","owner":"12D3KooW…","title":"Weekly sync","lobby":true,
//	 "orgs":["Ministère A","Défense"],"created_ms":1767225600000,"ver":1}
//
// orgs lists the organisations whose nodes may take part; empty means every federated node.
// Optional members: guests is who may join without signing in at their home node ("lobby":
// they wait for a moderator, "no": they may not join; absent: they join like anyone);
// start_ms is when a scheduled meeting begins; cohosts are the identities (IdentityKey) that
// join as moderators wherever they sign in.
// ver counts the owner's edits of the record from 1; the greatest ver wins. A deleted room's
// last record says "deleted":true: it stays in the directory as a tombstone, so that no older
// record brings the room back, and every node drops the room's state and log.

// Room is a room as the directory knows it.
type Room struct {
	ID      string
	Owner   peer.ID // the node that signed the record
	Title   string
	Lobby   bool     // joiners wait until a moderator admits them
	Orgs    []string // organisations whose nodes may take part; empty: every federated node
	Created time.Time
	Version uint64
	Deleted bool // its owner deleted it: nobody may join, its state and log are gone
	// Guests says who may join without being signed in at their home node: GuestsAllowed,
	// GuestsLobby or GuestsNo.
	Guests string
	// Start is when a scheduled meeting begins; zero for a meeting that starts when people come.
	Start time.Time
	// Cohosts are the identities (IdentityKey) that join the room as moderators.
	Cohosts []string
}

// Guest policies of a room.
const (
	GuestsAllowed = ""      // guests join like anyone
	GuestsLobby   = "lobby" // guests wait in the lobby until a moderator admits them
	GuestsNo      = "no"    // only people signed in at their home node may join
)

// MaxCohosts bounds a room's co-host list.
const MaxCohosts = 32

// IdentityKey is how a room's record names a signed-in person: the hex SHA-256 of their
// identity provider's issuer and subject, so that records gossiped to every federated node
// do not carry anyone's account identifiers.
func IdentityKey(issuer, subject string) string {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return hex.EncodeToString(h[:])
}

// IsCohost reports whether the identity key k is one of the room's co-hosts.
func (r Room) IsCohost(k string) bool { return k != "" && slices.Contains(r.Cohosts, k) }

// Allows reports whether a node of organisation org may take part in the room under its
// policy. The owner's own organisation is always allowed.
func (r Room) Allows(org string) bool {
	return len(r.Orgs) == 0 || slices.Contains(r.Orgs, org)
}

// Spec is the room as a RoomSpec, to edit it.
func (r Room) Spec() RoomSpec {
	return RoomSpec{ID: r.ID, Title: r.Title, Lobby: r.Lobby, Orgs: slices.Clone(r.Orgs), Created: r.Created,
		Guests: r.Guests, Start: r.Start, Cohosts: slices.Clone(r.Cohosts)}
}

// RoomSpec is what CreateRoom makes a room of.
type RoomSpec struct {
	// ID is the room's ID; empty makes a new random one (NewRoomID). A given ID must be a
	// ValidRoomID that the directory does not hold yet.
	ID    string
	Title string
	Lobby bool
	// Orgs restricts the room to nodes of these organisations (the owner's is added);
	// empty lets every federated node take part.
	Orgs []string
	// Created is when the room was made; zero means now (a room moved from an older store
	// keeps its time).
	Created time.Time
	Guests  string    // GuestsAllowed, GuestsLobby or GuestsNo
	Start   time.Time // a scheduled meeting's start; zero for none
	Cohosts []string  // identity keys of co-hosts (IdentityKey)
}

type roomBody struct {
	V         int      `json:"v"`
	ID        string   `json:"id"`
	Owner     peer.ID  `json:"owner"`
	Title     string   `json:"title"`
	Lobby     bool     `json:"lobby"`
	Orgs      []string `json:"orgs"`
	CreatedMS int64    `json:"created_ms"`
	Ver       uint64   `json:"ver"`
	Deleted   bool     `json:"deleted,omitempty"`
	Guests    string   `json:"guests,omitempty"`
	StartMS   int64    `json:"start_ms,omitempty"`
	Cohosts   []string `json:"cohosts,omitempty"`
}

func (b roomBody) room() Room {
	r := Room{
		ID: b.ID, Owner: b.Owner, Title: b.Title, Lobby: b.Lobby, Orgs: b.Orgs,
		Created: time.UnixMilli(b.CreatedMS), Version: b.Ver, Deleted: b.Deleted,
		Guests: b.Guests, Cohosts: b.Cohosts,
	}
	if b.StartMS != 0 {
		r.Start = time.UnixMilli(b.StartMS)
	}
	return r
}

func (b roomBody) validate() error {
	if b.V != wireVersion {
		return errVersion
	}
	if !ValidRoomID(b.ID) {
		return fmt.Errorf("room id %q is not a room ID", b.ID)
	}
	if err := text("title", b.Title, MaxTitleLen, false); err != nil {
		return err
	}
	if len(b.Orgs) > maxOrgs {
		return fmt.Errorf("%d organisations, at most %d", len(b.Orgs), maxOrgs)
	}
	for _, o := range b.Orgs {
		if err := text("organisation", o, MaxOrgLen, false); err != nil {
			return err
		}
	}
	if b.Ver == 0 {
		return fmt.Errorf("room record version is 0")
	}
	switch b.Guests {
	case GuestsAllowed, GuestsLobby, GuestsNo:
	default:
		return fmt.Errorf("guests %q: want %q, %q or none", b.Guests, GuestsLobby, GuestsNo)
	}
	if b.StartMS != 0 {
		if err := millis("start_ms", b.StartMS); err != nil {
			return err
		}
	}
	if len(b.Cohosts) > MaxCohosts {
		return fmt.Errorf("%d co-hosts, at most %d", len(b.Cohosts), MaxCohosts)
	}
	for _, k := range b.Cohosts {
		if !validIdentityKey(k) {
			return fmt.Errorf("co-host %q is not an identity key", k)
		}
	}
	return millis("created_ms", b.CreatedMS)
}

func decodeRoom(data []byte, b *roomBody) error {
	if err := decodeStrict(data, b); err != nil {
		return fmt.Errorf("room record: %w", err)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("room record %s: %w", b.ID, err)
	}
	return nil
}

// validIdentityKey reports whether k spells an IdentityKey: 64 lowercase hex digits.
func validIdentityKey(k string) bool {
	if len(k) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(k)
	return err == nil && strings.ToLower(k) == k
}

// NewRoomID returns a fresh random room ID: 128 random bits as 32 lowercase hex digits.
func NewRoomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// ValidRoomID reports whether id spells a room ID: 128 bits as 32 lowercase hex digits (what
// NewRoomID makes), or as 26 characters of lowercase RFC 4648 base32 without padding (a-z,
// 2-7; the spelling of the node's first rooms).
func ValidRoomID(id string) bool {
	switch len(id) {
	case 32:
		for i := 0; i < len(id); i++ {
			if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
		return true
	case 26:
		for i := 0; i < len(id); i++ {
			if c := id[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
				return false
			}
		}
		return true
	}
	return false
}

// RoomTopic is the gossip topic of a room.
func RoomTopic(id string) string { return "/parley/room/" + id + "/1" }

// FederationTopic is the gossip topic of node and room records, joined by every node.
const FederationTopic = "/parley/federation/1"
