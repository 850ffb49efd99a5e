package federation

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
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
}

// Allows reports whether a node of organisation org may take part in the room under its
// policy. The owner's own organisation is always allowed.
func (r Room) Allows(org string) bool {
	return len(r.Orgs) == 0 || slices.Contains(r.Orgs, org)
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
}

func (b roomBody) room() Room {
	return Room{
		ID: b.ID, Owner: b.Owner, Title: b.Title, Lobby: b.Lobby, Orgs: b.Orgs,
		Created: time.UnixMilli(b.CreatedMS), Version: b.Ver, Deleted: b.Deleted,
	}
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
