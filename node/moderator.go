package node

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
)

// Moderators are the people who hold a room's moderator link: the room URL with ?mod=TOKEN.
// The token is derived from the node key and the room ID, so it needs no storage, the node can
// print it again at any time (`parley room list`), and nobody without the node key can make
// one:
//
//	token = b64u(first 16 bytes of HMAC-SHA256(node key seed, "parley-moderator-v1\n" || room id))
//
// A moderator admits people waiting in the lobby and removes participants.

// moderatorToken returns the moderator token of room.
func (n *Node) moderatorToken(roomID string) string {
	mac := hmac.New(sha256.New, n.key.PrivateKey().Seed())
	mac.Write([]byte("parley-moderator-v1\n" + roomID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// isModerator reports, in constant time, whether token is room's moderator token.
func (n *Node) isModerator(roomID, token string) bool {
	if token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(n.moderatorToken(roomID)))
}

// ModeratorURL is the link to a room that makes whoever opens it a moderator.
func (n *Node) ModeratorURL(roomID string) string {
	return RoomURL(n.publicURL, roomID) + "?mod=" + url.QueryEscape(n.moderatorToken(roomID))
}
