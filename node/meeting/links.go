package meeting

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
)

// Which cascade links a room wants, as a pure function of the room's state records, the
// federated peers and this node: a link to a peer while both nodes have participants in the
// room and one of them publishes tracks there (a room of many nodes without media costs no
// link), carrying the peer's tracks.

// RemoteTrack is a track another node's participant publishes.
type RemoteTrack struct {
	Participant string
	Track
}

// Wish is one link a room wants: to Peer, to receive Tracks.
type Wish struct {
	Peer   peer.ID
	Tracks []RemoteTrack
}

// LinkWishes returns the links room wants, ordered by peer. recs are the room's state
// records (this node's included), federated tells whether a node is a federated peer.
// Participant infos that do not decode count as participants without tracks.
func LinkWishes(recs []federation.StateRecord, federated func(peer.ID) bool, self peer.ID) []Wish {
	here, hereTracks := false, false
	for _, rec := range recs {
		if rec.Node == self && len(rec.Participants) > 0 {
			here = true
			hereTracks = len(recordTracks(rec)) > 0
		}
	}
	if !here {
		return nil
	}
	var out []Wish
	for _, rec := range recs {
		if rec.Node == self || len(rec.Participants) == 0 || !federated(rec.Node) {
			continue
		}
		tracks := recordTracks(rec)
		if !hereTracks && len(tracks) == 0 {
			continue
		}
		out = append(out, Wish{Peer: rec.Node, Tracks: tracks})
	}
	slices.SortFunc(out, func(a, b Wish) int {
		switch {
		case a.Peer < b.Peer:
			return -1
		case a.Peer > b.Peer:
			return 1
		}
		return 0
	})
	return out
}

// recordTracks are the tracks of a record's participants.
func recordTracks(rec federation.StateRecord) []RemoteTrack {
	var out []RemoteTrack
	for _, p := range rec.Participants {
		info, err := DecodeInfo(p.Info)
		if err != nil {
			continue
		}
		for _, t := range info.Tracks {
			out = append(out, RemoteTrack{Participant: p.ID, Track: t})
		}
	}
	return out
}
