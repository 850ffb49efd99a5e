package media

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/media/cascade"
	"parley/media/signal"
)

// Tracks of other nodes' participants (the downstream side of the cascade).
//
// The node tells the SFU, per room and per peer node, which tracks that node's participants
// publish (SetRemoteTracks). While the room has local participants, its remote loop (one
// goroutine per room) holds one cascade subscription per such track, however many local
// participants receive it, and publishes it in the room as an upTrack whose packets come from
// the subscription instead of a peer connection: local participants receive it exactly as
// they receive a local track (same offers, same munging, same NACK cache). A subscriber's
// PLI becomes a keyframe request to the publisher's node, a NACK the cache cannot answer a
// retransmission request there. The loop also chooses the simulcast layer that crosses the
// link (layerPlan) and lowers it when the link's capacity estimate is exceeded.

// PublishedTrack describes a published track to other nodes: the node puts its own
// participants' tracks (PublishedTracks) in its federation record, and hands those of other
// nodes' participants to SetRemoteTracks.
type PublishedTrack struct {
	ID           string // the track's id on the publishing node's SFU
	Participant  string // the publishing participant
	Kind         string // "audio" or "video"
	Source       string // signal.SourceMic, SourceCamera or SourceScreen
	Layers       uint8  // simulcast layers the publisher sends, bit i for layer i (0: layer 0 only)
	AudioLevelID uint8  // id of the audio level header extension in its packets (1-14), 0 if none
}

// Bounds and timings of the remote tracks.
const (
	// MaxRemoteTracks bounds the tracks of one other node in one room; more are ignored.
	MaxRemoteTracks = 1024

	remoteTick    = 250 * time.Millisecond // layer choice and retries
	capacityEvery = 4                      // ticks between two looks at the link capacity
	raiseHold     = 5 * time.Second        // a lowered layer is not raised again sooner
	minRetry      = 250 * time.Millisecond // first wait before subscribing again
	maxRetry      = 5 * time.Second
	silentHold    = 5 * time.Second // a layer found silent is not chosen again sooner
)

// remoteNode is what SetRemoteTracks last said about one peer node in one room.
type remoteNode struct {
	link   *cascade.Link
	tracks []PublishedTrack
}

// remoteKey names a remote track in a room: its node, publisher and id there.
type remoteKey struct{ peer, participant, track string }

// SetRemoteTracks says which tracks the participants of the node at the other end of link
// publish in room (nil or empty: none, the node left the room). The SFU subscribes to them
// over link while the room has local participants, and unsubscribes from those no longer
// listed: they disappear for local participants, who renegotiate. Tracks that are malformed
// (see PublishedTrack) are ignored, as are those after the first MaxRemoteTracks.
func (s *SFU) SetRemoteTracks(room string, link *cascade.Link, tracks []PublishedTrack) {
	if room == "" || link == nil {
		return
	}
	keep := make([]PublishedTrack, 0, min(len(tracks), MaxRemoteTracks))
	seen := make(map[[2]string]bool, len(tracks))
	for _, t := range tracks {
		k := [2]string{t.Participant, t.ID}
		if len(keep) == MaxRemoteTracks || seen[k] || validRemote(t) != nil {
			continue
		}
		seen[k] = true
		keep = append(keep, t)
	}
	if len(keep) < len(tracks) {
		s.log.Debug("remote tracks ignored", "room", room, "given", len(tracks), "kept", len(keep))
	}
	peer := string(link.Peer())
	s.remoteMu.Lock()
	byPeer := s.remote[room]
	if len(keep) == 0 {
		delete(byPeer, peer)
		if len(byPeer) == 0 {
			delete(s.remote, room)
		}
	} else {
		if byPeer == nil {
			byPeer = map[string]remoteNode{}
			s.remote[room] = byPeer
		}
		byPeer[peer] = remoteNode{link: link, tracks: keep}
	}
	s.remoteMu.Unlock()
	if r := s.room(room); r != nil {
		r.kickRemote()
	}
}

var errBadRemote = errors.New("media: bad remote track")

// validRemote checks a track description that came from another node.
func validRemote(t PublishedTrack) error {
	switch {
	case !printableID(t.ID), !printableID(t.Participant):
		return errBadRemote
	case t.Kind != "audio" && t.Kind != "video":
		return errBadRemote
	case t.Source != signal.SourceMic && t.Source != signal.SourceCamera && t.Source != signal.SourceScreen:
		return errBadRemote
	case t.Layers > 1<<maxLayers-1, t.AudioLevelID > 14:
		return errBadRemote
	}
	return nil
}

// printableID reports whether s is 1..signal.MaxIDLen printable ASCII bytes.
func printableID(s string) bool {
	if s == "" || len(s) > signal.MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// remoteWanted is what the room's remote loop should subscribe to now.
func (s *SFU) remoteWanted(room string) map[remoteKey]remoteWant {
	s.remoteMu.Lock()
	defer s.remoteMu.Unlock()
	out := map[remoteKey]remoteWant{}
	for peer, n := range s.remote[room] {
		for _, t := range n.tracks {
			out[remoteKey{peer, t.Participant, t.ID}] = remoteWant{link: n.link, desc: t}
		}
	}
	return out
}

type remoteWant struct {
	link *cascade.Link
	desc PublishedTrack
}

// remoteTrack is one track of another node the room wants, owned by the room's remote loop.
type remoteTrack struct {
	key     remoteKey
	link    *cascade.Link
	desc    PublishedTrack
	sub     *remoteSub // the current subscription attempt; nil between attempts
	ended   bool       // ended by its node, or not forwardable: not subscribed again while listed
	retryAt time.Time
	backoff time.Duration
}

// remoteSub is one subscription to a remote track and the upTrack it feeds. Each attempt has
// its own, so that a packet still in flight for an old attempt cannot reach a new one.
type remoteSub struct {
	room    *room
	up      *upTrack
	levelID uint8
	ctx     context.Context
	cancel  context.CancelFunc
	in      atomic.Pointer[cascade.Inbound] // set once subscribed
	serve   atomic.Uint32                   // layers subscribers may be forwarded from

	mu       sync.Mutex
	answered bool  // Subscribe returned
	err      error // its error
	ended    error // Receiver.Ended's

	// Owned by the room's remote loop.
	published bool
	offered   cascade.LayerSet
	layers    cascade.LayerSet // subscribed
	plan      layerPlan
	since     [maxLayers]int64 // SFU time each subscribed layer was added
	silentTo  [maxLayers]int64 // SFU time until which a silent layer is not chosen
	switched  int64            // SFU time primary last changed
	capLayer  int              // highest layer the link's capacity allows
	capAt     time.Time        // when capLayer was last lowered

	// Owned by the goroutine delivering the packets (the link's datagram goroutine).
	pkt rtpPacket
	ema uint32
}

// newRemoteSub makes a subscription attempt for desc and the upTrack its packets feed.
func (r *room) newRemoteSub(desc PublishedTrack) *remoteSub {
	s := r.sfu
	rs := &remoteSub{room: r, levelID: desc.AudioLevelID, plan: newLayerPlan(), capLayer: maxLayers - 1,
		offered: cascade.LayerSet(desc.Layers)}
	if rs.offered == 0 {
		rs.offered = cascade.Layers(0)
	}
	rs.ctx, rs.cancel = context.WithCancel(context.Background())
	id := "t" + itoa(s.trackSeq.Add(1))
	up := &upTrack{
		sfu: s, ownerID: desc.Participant, remote: rs, id: id, source: desc.Source,
		kind: webrtc.RTPCodecTypeAudio, clock: clockAudio, offered: uint8(rs.offered),
		codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: clockAudio, Channels: 2},
		log:   r.log.With("track", id, "remote_track", desc.ID, "participant", desc.Participant),
		done:  make(chan struct{}),
	}
	if desc.Kind == "video" {
		up.kind, up.video, up.clock = webrtc.RTPCodecTypeVideo, true, clockVideo
		up.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: clockVideo}
	}
	up.initLists()
	rs.up = up
	if up.video {
		rs.layers, _ = rs.plan.next(maxLayers-1, rs.offered, 0, false)
		rs.serve.Store(uint32(rs.plan.serve()))
	} else {
		rs.layers = cascade.Layers(0)
		rs.serve.Store(1)
	}
	return rs
}

// RTP implements cascade.Receiver: one packet of the remote track, handled as if the
// publisher had sent it here.
func (rs *remoteSub) RTP(layer int, pkt []byte) {
	if layer < 0 || layer >= maxLayers || (!rs.up.video && layer != 0) {
		return
	}
	rs.up.remoteLayer(layer).handle(pkt, &rs.pkt, &rs.ema)
}

// Ended implements cascade.Receiver: the loop takes the track away and decides whether to
// subscribe again.
func (rs *remoteSub) Ended(err error) {
	if err == nil {
		err = cascade.ErrClosed
	}
	rs.mu.Lock()
	rs.ended = err
	rs.mu.Unlock()
	rs.room.kickRemote()
}

// requestKeyframe asks the publisher's node for a keyframe of layer.
func (rs *remoteSub) requestKeyframe(layer int) {
	if in := rs.in.Load(); in != nil {
		in.RequestKeyframe(layer)
	}
}

// nack asks the publisher's node to send packet seq of layer again.
func (rs *remoteSub) nack(layer int, seq uint16) {
	if in := rs.in.Load(); in != nil {
		in.Nack(layer, seq)
	}
}

// remoteLayer returns layer idx of a remote track, making it on its first packet.
func (up *upTrack) remoteLayer(idx int) *upLayer {
	if l := up.layers[idx].Load(); l != nil {
		return l
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if l := up.layers[idx].Load(); l != nil {
		return l
	}
	l := &upLayer{up: up, idx: idx, levelID: up.remote.levelID}
	if up.video {
		l.cache = newPacketCache()
	}
	up.layers[idx].Store(l)
	return l
}

// kickRemote wakes the room's remote loop.
func (r *room) kickRemote() {
	select {
	case r.remoteKick <- struct{}{}:
	default:
	}
}

// remoteLoop keeps the room's subscriptions to other nodes' tracks in line with what the node
// said (SetRemoteTracks) until the room stops; then it ends them all.
func (r *room) remoteLoop() {
	tracks := map[remoteKey]*remoteTrack{}
	t := time.NewTicker(remoteTick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-r.done:
			for _, rt := range tracks {
				r.dropSub(rt)
			}
			r.remoteWG.Wait()
			return
		case <-r.remoteKick:
		case <-t.C:
		}
		r.reconcile(tracks)
		if n%capacityEvery == 0 {
			r.checkCapacity(tracks)
		}
	}
}

// reconcile subscribes to the wanted tracks, drops the others, and follows each subscription.
func (r *room) reconcile(tracks map[remoteKey]*remoteTrack) {
	want := r.sfu.remoteWanted(r.id)
	for k, rt := range tracks {
		w, ok := want[k]
		if !ok || w.link != rt.link || !sameTrack(w.desc, rt.desc) {
			r.dropSub(rt)
			delete(tracks, k)
			continue
		}
		if w.desc.Layers != rt.desc.Layers {
			// The publisher's node learnt of more layers: no need to start over.
			rt.desc = w.desc
			if rs := rt.sub; rs != nil {
				rs.offered |= cascade.LayerSet(w.desc.Layers)
			}
		}
	}
	now := time.Now()
	for k, w := range want {
		rt := tracks[k]
		if rt == nil {
			rt = &remoteTrack{key: k, link: w.link, desc: w.desc, retryAt: now}
			tracks[k] = rt
		}
		r.follow(rt, now)
	}
}

// follow moves one remote track on: publish it once subscribed, take it away when its
// subscription ends, subscribe (again) when due, and choose its layers.
func (r *room) follow(rt *remoteTrack, now time.Time) {
	if rs := rt.sub; rs != nil {
		rs.mu.Lock()
		answered, err, ended := rs.answered, rs.err, rs.ended
		rs.mu.Unlock()
		switch {
		case ended != nil:
			r.log.Debug("remote track ended", "track", rs.up.id, "remote_track", rt.desc.ID, "err", ended)
			r.dropSub(rt)
			if errors.Is(ended, cascade.ErrTrackEnded) {
				rt.ended = true
			} else {
				r.retryLater(rt, now)
			}
		case answered && err != nil:
			r.log.Debug("remote track not subscribed", "remote_track", rt.desc.ID, "participant", rt.desc.Participant, "err", err)
			r.dropSub(rt)
			r.retryLater(rt, now)
		case answered && !rs.published:
			if err := compatible(rs.in.Load().Info(), rs.up); err != nil {
				r.log.Warn("remote track cannot be forwarded", "remote_track", rt.desc.ID, "err", err)
				r.dropSub(rt)
				rt.ended = true
				return
			}
			if l := rs.in.Load().Info().Layers; l != 0 && rs.up.video {
				rs.offered = l
			}
			rs.published = true
			rt.backoff = 0
			r.log.Debug("remote track subscribed", "track", rs.up.id, "remote_track", rt.desc.ID, "layers", rs.layers)
			r.publish(rs.up)
		}
	}
	if rt.sub == nil && !rt.ended && !now.Before(rt.retryAt) {
		r.subscribe(rt)
	}
	if rs := rt.sub; rs != nil && rs.published && rs.up.video {
		rs.planLayers(r.sfu.now())
	}
}

// sameTrack reports whether two descriptions name the same track the same way, but for the
// layers it has.
func sameTrack(a, b PublishedTrack) bool {
	a.Layers = b.Layers
	return a == b
}

// compatible checks that what the publisher's node says of a track is what the SFU forwards
// it as.
func compatible(info cascade.TrackInfo, up *upTrack) error {
	kind := cascade.KindAudio
	if up.video {
		kind = cascade.KindVideo
	}
	if info.Kind != kind || !strings.EqualFold(info.MimeType, up.codec.MimeType) || info.ClockRate != up.clock {
		return errors.New("the publisher's node describes it as " + info.Kind.String() + " " + info.MimeType +
			", not " + kind.String() + " " + up.codec.MimeType + " at " + itoa(uint64(up.clock)) + " Hz")
	}
	return nil
}

// retryLater schedules the next subscription attempt, backing off.
func (r *room) retryLater(rt *remoteTrack, now time.Time) {
	rt.backoff = min(max(2*rt.backoff, minRetry), maxRetry)
	rt.retryAt = now.Add(rt.backoff)
}

// subscribe starts a subscription attempt; its goroutine reports the answer to the loop.
func (r *room) subscribe(rt *remoteTrack) {
	rs := r.newRemoteSub(rt.desc)
	rt.sub = rs
	link, id, layers := rt.link, rt.desc.ID, rs.layers
	r.remoteWG.Add(1)
	go func() {
		defer r.remoteWG.Done()
		in, err := link.Subscribe(rs.ctx, r.id, id, layers, rs)
		if err == nil {
			rs.in.Store(in)
			if rs.ctx.Err() != nil {
				in.Close() // dropped while subscribing
			}
		}
		rs.mu.Lock()
		rs.answered, rs.err = true, err
		rs.mu.Unlock()
		r.kickRemote()
	}()
}

// dropSub ends a remote track's current subscription, if any, and takes its upTrack away.
func (r *room) dropSub(rt *remoteTrack) {
	rs := rt.sub
	if rs == nil {
		return
	}
	rt.sub = nil
	rs.cancel()
	if in := rs.in.Load(); in != nil {
		in.Close()
	}
	if rs.published {
		r.unpublish(rs.up)
	} else {
		rs.up.close()
	}
}

// planLayers chooses the layers of a subscribed remote video track: the highest any local
// subscriber asks for, within the link's capacity, among those the publisher sends and that
// are not silent.
func (rs *remoteSub) planLayers(now int64) {
	up := rs.up
	want := -1
	for _, d := range *up.subs.Load() {
		want = max(want, int(d.requested.Load()))
	}
	if want < 0 {
		want = maxLayers - 1 // nobody receives it yet: be ready for the best
	}
	want = min(want, rs.capLayer)
	var silent cascade.LayerSet
	for l := range maxLayers {
		if rs.layers.Has(l) && now-rs.since[l] > int64(layerTimeout) {
			if ul := up.layers[l].Load(); ul == nil || now-ul.lastSeen.Load() > int64(layerTimeout) {
				rs.silentTo[l] = now + int64(silentHold)
			}
		}
		if rs.silentTo[l] > now {
			silent |= cascade.Layers(l)
		}
	}
	keyed := false
	if p := rs.plan.primary; p >= 0 {
		if ul := up.layers[p].Load(); ul != nil && ul.lastKey.Load() > rs.switched {
			keyed = true
		}
	}
	set, changed := rs.plan.next(want, rs.offered, silent, keyed)
	if changed {
		rs.switched = now
	}
	if set != rs.layers {
		for l := range maxLayers {
			if set.Has(l) && !rs.layers.Has(l) {
				rs.since[l] = now
			}
		}
		up.log.Debug("remote track layers", "layers", set, "primary", rs.plan.primary, "want", want)
		rs.layers = set
		if in := rs.in.Load(); in != nil {
			in.SetLayers(set)
		}
	}
	rs.serve.Store(uint32(rs.plan.serve()))
}

// checkCapacity lowers the layer of the room's biggest video subscription on a link that
// carries more than its capacity estimate, and raises one again when there is room.
func (r *room) checkCapacity(tracks map[remoteKey]*remoteTrack) {
	byLink := map[*cascade.Link][]*remoteSub{}
	for _, rt := range tracks {
		if rs := rt.sub; rs != nil && rs.published && rs.up.video {
			byLink[rt.link] = append(byLink[rt.link], rs)
		}
	}
	now := time.Now()
	for link, subs := range byLink {
		var sum float64
		st := link.Stats()
		for _, ts := range st.Inbound {
			for l := range maxLayers {
				if ts.Layers.Has(l) {
					sum += ts.Bitrate[l]
				}
			}
		}
		switch capacityStep(sum, st.CapacityIn) {
		case -1:
			var big *remoteSub
			var bigRate float64
			for _, rs := range subs {
				if rs.plan.primary <= 0 {
					continue
				}
				ts := rs.in.Load().Stats()
				rate := ts.Bitrate[rs.plan.primary]
				if big == nil || rate > bigRate {
					big, bigRate = rs, rate
				}
			}
			if big != nil {
				big.capLayer = big.plan.primary - 1
				big.capAt = now
				r.log.Info("cascade link over capacity: lowering a remote track", "track", big.up.id,
					"to_layer", big.capLayer, "bitrate", int64(sum), "capacity", int64(st.CapacityIn))
			}
		case 1:
			for _, rs := range subs {
				if rs.capLayer < maxLayers-1 && now.Sub(rs.capAt) >= raiseHold {
					rs.capLayer++
					rs.capAt = now
					break
				}
			}
		}
	}
}
