package media

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Keyframe requests to a publisher are limited per layer to one per pliInterval (one asked
// for sooner is sent when the interval is over, never dropped); a layer is available for
// selection if it delivered a packet within layerTimeout.
const (
	pliInterval  = 200 * time.Millisecond
	layerTimeout = 1500 * time.Millisecond
)

// upTrack is one published track (a microphone, a camera with up to three simulcast layers,
// or a screen share) and the subscribers it is forwarded to. A local participant publishes it
// (owner set), or a participant of another node (remote set: its packets come over the
// cascade, see remote.go).
type upTrack struct {
	sfu     *SFU
	owner   *Participant // nil for a track of another node
	ownerID string       // the publishing participant's id
	remote  *remoteSub   // the cascade subscription feeding a track of another node; nil if local
	id      string       // unique in the SFU; what subscribers name in "layer" messages
	mid     string       // the publisher's transceiver mid ("" for a remote track)
	source  string
	kind    webrtc.RTPCodecType
	codec   webrtc.RTPCodecCapability
	video   bool
	clock   uint32
	offered uint8 // layers the publisher announced (its simulcast rids), as a bit mask
	log     *slog.Logger

	layers [maxLayers]atomic.Pointer[upLayer]
	subs   atomic.Pointer[[]*downTrack] // copy-on-write; written under mu
	outs   atomic.Pointer[[]*outSub]    // other nodes subscribing (cascade); copy-on-write, under mu

	mu          sync.Mutex
	nextUnknown int  // next layer slot for an unknown rid
	outsClosed  bool // close ended the cascade subscribers; no new ones

	kfKick chan struct{}
	done   chan struct{}
	closed atomic.Bool

	// Audio level for active speaker detection: loudness (127 - dBov) * 256, smoothed.
	loudness  atomic.Uint32
	lastLevel atomic.Int64 // SFU time of the last level seen
}

// upLayer is one received RTP stream of an upTrack (one simulcast encoding).
type upLayer struct {
	up      *upTrack
	idx     int
	rid     string
	track   *webrtc.TrackRemote
	recv    *webrtc.RTPReceiver
	ssrc    uint32
	levelID uint8
	cache   *packetCache // video only

	lastSeen atomic.Int64
	lastKey  atomic.Int64 // SFU time of the last keyframe start
	lastPLI  atomic.Int64
	deferred atomic.Bool // a request waits for the end of the interval
	wantKey  atomic.Bool
}

// newUpTrack makes the track a local participant publishes on mid; rids are the simulcast
// rids its offer announced for mid (none: one layer).
func newUpTrack(owner *Participant, mid, source string, rids []string, track *webrtc.TrackRemote) *upTrack {
	s := owner.sfu
	id := "t" + itoa(s.trackSeq.Add(1))
	codec := track.Codec().RTPCodecCapability
	up := &upTrack{
		sfu: s, owner: owner, ownerID: owner.id, id: id, mid: mid, source: source,
		kind: track.Kind(), codec: codec, video: track.Kind() == webrtc.RTPCodecTypeVideo,
		clock:   codec.ClockRate,
		offered: offeredLayers(rids),
		log:     owner.log.With("track", id, "mid", mid, "source", source),
		kfKick:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if up.clock == 0 {
		up.clock = clockVideo
	}
	up.initLists()
	return up
}

// initLists sets the subscriber lists to empty.
func (up *upTrack) initLists() {
	empty := []*downTrack{}
	up.subs.Store(&empty)
	none := []*outSub{}
	up.outs.Store(&none)
}

// offeredLayers is the mask of layers a publisher sends with these simulcast rids: the known
// rids at their layers, unknown ones in the free slots in order; one layer without rids.
func offeredLayers(rids []string) uint8 {
	if len(rids) == 0 {
		return 1
	}
	var m uint8
	unknown := 0
	for _, rid := range rids {
		if l := ridLayer(rid); l >= 0 {
			m |= 1 << l
		} else {
			unknown++
		}
	}
	for l := 0; l < maxLayers && unknown > 0; l++ {
		if m&(1<<l) == 0 {
			m |= 1 << l
			unknown--
		}
	}
	return m
}

// addLayer registers a received stream; nil if the track already has maxLayers layers or
// the stream's rid is taken.
func (up *upTrack) addLayer(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *upLayer {
	up.mu.Lock()
	defer up.mu.Unlock()
	idx := ridLayer(track.RID())
	if idx < 0 {
		for up.nextUnknown < maxLayers && up.layers[up.nextUnknown].Load() != nil {
			up.nextUnknown++
		}
		idx = up.nextUnknown
	}
	if idx >= maxLayers || up.layers[idx].Load() != nil {
		return nil
	}
	l := &upLayer{up: up, idx: idx, rid: track.RID(), track: track, recv: recv, ssrc: uint32(track.SSRC())}
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == audioLevelURI && e.ID > 0 && e.ID < 15 {
			l.levelID = uint8(e.ID)
		}
	}
	if up.video {
		l.cache = newPacketCache()
	}
	up.layers[idx].Store(l)
	return l
}

func (up *upTrack) addSub(d *downTrack) {
	up.mu.Lock()
	old := *up.subs.Load()
	n := make([]*downTrack, len(old), len(old)+1)
	copy(n, old)
	n = append(n, d)
	up.subs.Store(&n)
	up.mu.Unlock()
}

func (up *upTrack) removeSub(d *downTrack) {
	up.mu.Lock()
	old := *up.subs.Load()
	n := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	up.subs.Store(&n)
	up.mu.Unlock()
}

// close marks the track unpublished, stops its keyframe writer and tells the nodes that
// subscribe to it that it ended.
func (up *upTrack) close() {
	if !up.closed.CompareAndSwap(false, true) {
		return
	}
	close(up.done)
	up.mu.Lock()
	outs := *up.outs.Load()
	none := []*outSub{}
	up.outs.Store(&none)
	up.outsClosed = true
	up.mu.Unlock()
	for _, o := range outs {
		o.out.End("track unpublished")
	}
}

// availMask says which layers delivered a packet recently; if none did, every layer that
// exists (a paused screen share still has a layer to resume on).
func (up *upTrack) availMask(now int64) uint8 {
	var recent, all uint8
	for i := range up.layers {
		if l := up.layers[i].Load(); l != nil {
			all |= 1 << i
			if now-l.lastSeen.Load() < int64(layerTimeout) {
				recent |= 1 << i
			}
		}
	}
	if r := up.remote; r != nil {
		// Only the layers the cascade subscription serves from count: a layer being left
		// still arrives until the new one sends a keyframe.
		serve := uint8(r.serve.Load())
		if recent&serve != 0 {
			return recent & serve
		}
		return serve
	}
	if recent != 0 {
		return recent
	}
	return all
}

// requestKeyframe asks the publisher for a keyframe on layer, at most once per pliInterval;
// one asked for within the interval is sent at its end.
// It never blocks: the request is written by the track's RTCP goroutine.
func (up *upTrack) requestKeyframe(layer int, now int64) {
	if !up.video || layer < 0 || layer >= maxLayers {
		return
	}
	if up.remote != nil {
		up.remote.requestKeyframe(layer) // rate-limited by the cascade
		return
	}
	l := up.layers[layer].Load()
	if l == nil {
		return
	}
	last := l.lastPLI.Load()
	if last != 0 && now-last < int64(pliInterval) {
		// Asked again too soon (a receiver that just got the key to read the keyframe it
		// was sent): ask once more when the interval is over.
		if l.deferred.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(int64(pliInterval)-(now-last)), func() {
				l.deferred.Store(false)
				if !up.closed.Load() {
					up.requestKeyframe(layer, up.sfu.now())
				}
			})
		}
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	l.wantKey.Store(true)
	select {
	case up.kfKick <- struct{}{}:
	default:
	}
}

// rtcpWriter sends the keyframe requests queued by requestKeyframe to the publisher.
func (up *upTrack) rtcpWriter(pc *webrtc.PeerConnection) {
	for {
		select {
		case <-up.done:
			return
		case <-up.owner.done:
			return
		case <-up.kfKick:
		}
		for i := range up.layers {
			l := up.layers[i].Load()
			if l == nil || !l.wantKey.Swap(false) {
				continue
			}
			err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}})
			if err != nil {
				up.log.Debug("keyframe request failed", "layer", i, "err", err)
				continue
			}
			up.sfu.keyframeRequests.Add(1)
		}
	}
}

// readRTCP drains the RTCP the publisher sends on this layer, so that the interceptors see
// its sender reports.
func (l *upLayer) readRTCP() {
	for {
		var err error
		if l.rid != "" {
			_, _, err = l.recv.ReadSimulcastRTCP(l.rid)
		} else {
			_, _, err = l.recv.ReadRTCP()
		}
		if err != nil {
			return
		}
	}
}

// run reads this layer's packets until its connection closes.
func (l *upLayer) run() {
	buf := make([]byte, 1500)
	var p rtpPacket
	var ema uint32 // smoothed loudness (x256), owned by this goroutine
	for {
		n, _, err := l.track.Read(buf)
		if err != nil {
			l.up.log.Debug("layer ended", "rid", l.rid, "err", err)
			return
		}
		l.handle(buf[:n], &p, &ema)
	}
}

// handle is the forwarding hot path of one layer: parse the packet, cache it, and hand it
// to each subscriber. Nothing in it allocates or takes a lock shared with another layer's
// goroutine except the short per-subscriber munging lock.
func (l *upLayer) handle(b []byte, p *rtpPacket, ema *uint32) {
	up := l.up
	s := up.sfu
	if up.closed.Load() {
		return
	}
	if parseRTP(b, p, l.levelID) != nil {
		return
	}
	// Other nodes get the packet as it came, padding and all (see package cascade).
	for _, o := range *up.outs.Load() {
		o.out.WriteRTP(l.idx, b)
	}
	now := s.now()
	l.lastSeen.Store(now)
	var idx uint64
	if up.video {
		if len(p.payload) > 0 && parseVP8(p.payload, &p.vp8) != nil {
			return
		}
		if len(p.payload) == 0 {
			p.vp8 = vp8Desc{}
		}
		if p.vp8.keyframe {
			l.lastKey.Store(now)
		}
		idx = l.cache.put(p.ts, p.marker, p.payload)
	} else if p.audioLevel >= 0 {
		loud := uint32(127-p.audioLevel) << 8
		*ema = *ema - *ema/8 + loud/8
		up.loudness.Store(*ema)
		up.lastLevel.Store(now)
	}
	avail := up.availMask(now)
	var pkts, bytes uint64
	for _, d := range *up.subs.Load() {
		if w := d.forward(l, p, idx, avail, now); w > 0 {
			pkts++
			bytes += uint64(w)
		}
	}
	if pkts > 0 {
		s.forwardedPackets.Add(pkts)
		s.forwardedBytes.Add(bytes)
	}
}
