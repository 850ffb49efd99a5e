package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/media/signal"
	"parley/node/meeting"
)

// newMeetings makes the node's live meetings (package node/meeting), wired to its SFU,
// federation and key. The federation's functions are used only once a room is live, after
// startFederation.
func (n *Node) newMeetings() (*meeting.Registry, error) {
	return meeting.NewRegistry(meeting.Config{
		NodeName:     n.cfg.Name,
		Organisation: n.cfg.Organisation,
		Self:         selfPeerID(n),
		Limits: meeting.Limits{
			MaxParticipants: n.cfg.MaxParticipantsPerRoom,
			MaxLobby:        n.cfg.MaxLobby,
			LobbyWait:       time.Duration(n.cfg.LobbyWait),
			MediaDeadline:   time.Duration(n.cfg.MediaDeadline),
		},
		Certify:  n.certify,
		Media:    sfuMedia{n},
		State:    func(room string) []federation.StateRecord { return n.fed.fed.State(room) },
		Hidden:   func(id peer.ID) bool { return n.fed.reach.hidden(id) },
		NodeKeys: n.trustedNodeKeys,
		PeerKey:  peerKey,
		Publish:  n.publishRecord,
		Tracks: func(room string) map[string][]meeting.Track {
			return localTracks(n.sfu.PublishedTracks(room))
		},
		Audit: func(room, actor, action, target string) {
			n.audit.record(AuditEntry{Actor: actor, Action: action, Room: room, Target: target})
		},
		Forward:    func(room string, ev meeting.Event) { go n.forwardEvent(room, ev) },
		AddCohost:  func(room, key string) { go n.addCohost(room, key) },
		Transcribe: n.transcribe,
		Cast: func(room, from string, sframe []byte) {
			if n.fed != nil {
				n.fed.casts.caption(room, from, sframe)
			}
		},
		Metrics: meetingMetrics{n.metrics},
		Log:     n.log.With("component", "meeting"),
	})
}

// selfPeerID is the node's libp2p peer ID, from its key.
func selfPeerID(n *Node) peer.ID {
	pk, err := crypto.UnmarshalEd25519PublicKey(n.key.PublicKey())
	if err != nil {
		return ""
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return ""
	}
	return id
}

// sfuMedia adds the meetings' participants to the SFU.
type sfuMedia struct{ n *Node }

func (m sfuMedia) Join(room, id string, send func(*signal.Message)) (meeting.MediaSession, error) {
	return m.n.sfu.Join(room, id, send)
}
