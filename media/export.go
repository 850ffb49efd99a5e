package media

import (
	"fmt"

	"parley/media/cascade"
)

// Local tracks for other nodes (the upstream side of the cascade).
//
// The SFU is the cascade's TrackSource: when another node subscribes to a local track, the
// cascade.Outbound becomes one more subscriber of the track. The track's forwarding goroutine
// writes every packet to it as it arrived (no munging: the other node munges for its own
// participants); the other node's keyframe requests reach the publisher like a local
// subscriber's PLI; unpublishing the track ends the subscription. Only tracks of local
// participants are served: a node never relays another node's tracks.

// outSub is another node subscribing to a local track.
type outSub struct {
	up  *upTrack
	out *cascade.Outbound
}

// Keyframe implements cascade.OutboundHandler: the other node needs a keyframe of layer.
func (o *outSub) Keyframe(layer int) { o.up.requestKeyframe(layer, o.up.sfu.now()) }

// Closed implements cascade.OutboundHandler: the subscription is over.
func (o *outSub) Closed() { o.up.removeOut(o) }

// OpenTrack implements cascade.TrackSource: it makes the peer node's subscription to a local
// track (out.Room(), out.Track()) one more subscriber of the track. The node hands the SFU to
// cascade.New as Config.Tracks.
func (s *SFU) OpenTrack(out *cascade.Outbound) (cascade.TrackInfo, cascade.OutboundHandler, error) {
	var up *upTrack
	if r := s.room(out.Room()); r != nil {
		up = r.localTrack(out.Track())
	}
	if up == nil {
		return cascade.TrackInfo{}, nil, fmt.Errorf("%w: no track %s published in room %s", cascade.ErrNoTrack, out.Track(), out.Room())
	}
	o := &outSub{up: up, out: out}
	if !up.addOut(o) {
		return cascade.TrackInfo{}, nil, fmt.Errorf("%w: track %s was unpublished", cascade.ErrNoTrack, out.Track())
	}
	up.log.Debug("track sent to another node", "layers", out.Layers())
	return up.cascadeInfo(), o, nil
}

// addOut adds a node subscribing to the track; false once the track is closed.
func (up *upTrack) addOut(o *outSub) bool {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.outsClosed {
		return false
	}
	old := *up.outs.Load()
	n := make([]*outSub, len(old), len(old)+1)
	copy(n, old)
	n = append(n, o)
	up.outs.Store(&n)
	return true
}

func (up *upTrack) removeOut(o *outSub) {
	up.mu.Lock()
	defer up.mu.Unlock()
	old := *up.outs.Load()
	n := make([]*outSub, 0, len(old))
	for _, x := range old {
		if x != o {
			n = append(n, x)
		}
	}
	up.outs.Store(&n)
}

// layerMask is the mask of layers the publisher sends: those it announced and those that
// arrived.
func (up *upTrack) layerMask() uint8 {
	m := up.offered
	for i := range up.layers {
		if up.layers[i].Load() != nil {
			m |= 1 << i
		}
	}
	if m == 0 || !up.video {
		m = 1
	}
	return m
}

// cascadeInfo describes the track to a subscribing node.
func (up *upTrack) cascadeInfo() cascade.TrackInfo {
	info := cascade.TrackInfo{Kind: cascade.KindAudio, MimeType: up.codec.MimeType, ClockRate: up.clock,
		Channels: uint8(min(up.codec.Channels, 255)), Layers: cascade.LayerSet(up.layerMask())}
	if up.video {
		info.Kind, info.Channels = cascade.KindVideo, 0
	}
	return info
}

// PublishedTracks describes the tracks local participants publish in room, for the other
// nodes of the room (see SetRemoteTracks).
func (s *SFU) PublishedTracks(room string) []PublishedTrack {
	r := s.room(room)
	if r == nil {
		return nil
	}
	ups := r.localTracks()
	out := make([]PublishedTrack, 0, len(ups))
	for _, up := range ups {
		t := PublishedTrack{ID: up.id, Participant: up.ownerID, Kind: "audio", Source: up.source, Layers: up.layerMask()}
		if up.video {
			t.Kind = "video"
		} else if l := up.layers[0].Load(); l != nil {
			t.AudioLevelID = l.levelID
		}
		out = append(out, t)
	}
	return out
}

// ReceivedLayers reports, for each local track of room by id, the simulcast layers whose
// packets have arrived from the publisher (bit i: layer i).
func (s *SFU) ReceivedLayers(room string) map[string]uint8 {
	r := s.room(room)
	if r == nil {
		return nil
	}
	out := map[string]uint8{}
	for _, up := range r.localTracks() {
		var m uint8
		for i := range up.layers {
			if up.layers[i].Load() != nil {
				m |= 1 << i
			}
		}
		out[up.id] = m
	}
	return out
}
