package cascade

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// keyframeGap rate-limits the keyframe requests of one subscription layer.
const keyframeGap = 200 * time.Millisecond

// Receiver takes the packets of a remote track this node subscribes to; the downstream SFU
// implements it (one per subscription) and fans the packets out to its participants.
type Receiver interface {
	// RTP is one RTP packet of layer, exactly as the publisher's node received it (E2EE
	// payload untouched). pkt is valid only during the call. It is called from the link's
	// datagram goroutine, one packet at a time: it must not block.
	RTP(layer int, pkt []byte)
	// Ended: the subscription is over for a reason other than Inbound.Close: the peer
	// ended it (ErrTrackEnded) or refused it again after a reconnection (ErrRoomNotShared,
	// ErrNoTrack), or the link closed (ErrClosed). It is called once, from a link
	// goroutine, and must not block.
	Ended(err error)
}

// Inbound is a subscription to a remote track: Link.Subscribe makes it. It survives
// reconnections of its link. Its methods are safe for concurrent use.
type Inbound struct {
	l    *Link
	key  trackKey
	recv Receiver

	layers    atomic.Uint32 // LayerSet wanted
	video     atomic.Bool
	ended     atomic.Bool
	c         layerCounters
	kfLast    [MaxLayers]atomic.Int64 // endpoint time of the last keyframe request
	kfPending [MaxLayers]atomic.Bool  // a request held back by keyframeGap

	answer chan error // the first answer of the peer (nil: accepted)

	// Guarded by l.mu.
	sess     *session
	num      uint16
	info     TrackInfo
	answered bool

	nackMu sync.Mutex
	nack   [MaxLayers]nackTracker
}

func newInbound(l *Link, key trackKey, layers LayerSet, r Receiver) *Inbound {
	in := &Inbound{l: l, key: key, recv: r, answer: make(chan error, 1)}
	in.layers.Store(uint32(layers))
	return in
}

// Room is the room of the subscribed track.
func (in *Inbound) Room() string { return in.key.room }

// Track is the subscribed track's id.
func (in *Inbound) Track() string { return in.key.track }

// Info is the track's description, as the peer last sent it.
func (in *Inbound) Info() TrackInfo {
	in.l.mu.Lock()
	defer in.l.mu.Unlock()
	return in.info
}

// Layers is the set of layers subscribed to.
func (in *Inbound) Layers() LayerSet { return LayerSet(in.layers.Load()) }

// SetLayers changes the layers the peer sends. Newly added video layers start with a
// keyframe request.
func (in *Inbound) SetLayers(layers LayerSet) {
	if !layers.valid() || in.ended.Load() {
		return
	}
	old := LayerSet(in.layers.Swap(uint32(layers)))
	if old == layers {
		return
	}
	in.nackMu.Lock()
	for l := range MaxLayers {
		if old.Has(l) && !layers.Has(l) {
			in.nack[l].reset()
		}
	}
	in.nackMu.Unlock()
	s, num := in.binding()
	if s == nil {
		return // the next connection subscribes with the new layers
	}
	s.send(&message{typ: msgLayers, num: num, layers: layers}, true)
	if in.video.Load() {
		for l := range MaxLayers {
			if layers.Has(l) && !old.Has(l) {
				in.requestKeyframe(l, true)
			}
		}
	}
}

// RequestKeyframe asks the publisher's node for a keyframe on layer (at most one request per
// layer every 200ms). The link asks by itself when a subscription starts, a layer is added,
// or a lost packet cannot be repaired.
func (in *Inbound) RequestKeyframe(layer int) {
	if layer >= 0 && layer < MaxLayers {
		in.requestKeyframe(layer, false)
	}
}

// requestKeyframe sends a keyframe request for layer, unless one went out less than
// keyframeGap ago (and force is false): then it is sent when the gap has passed.
func (in *Inbound) requestKeyframe(layer int, force bool) {
	if in.ended.Load() {
		return
	}
	now := in.l.ep.now()
	last := in.kfLast[layer].Load()
	if !force && last != 0 && now-last < int64(keyframeGap) {
		in.kfPending[layer].Store(true)
		return
	}
	if !in.kfLast[layer].CompareAndSwap(last, now) {
		return
	}
	in.kfPending[layer].Store(false)
	s, num := in.binding()
	if s == nil {
		return
	}
	in.l.c.keyframesSent.Add(1)
	s.send(&message{typ: msgKeyframe, num: num, layer: uint8(layer)}, false)
}

// Nack asks the publisher's node to resend these RTP sequence numbers of layer. The link
// already requests what it lost itself; this is for packets lost before they reached it.
func (in *Inbound) Nack(layer int, seqs ...uint16) {
	if layer < 0 || layer >= MaxLayers || in.ended.Load() {
		return
	}
	s, num := in.binding()
	if s == nil {
		return
	}
	for chunk := range slices.Chunk(seqs, maxNackSeqs) {
		in.l.c.nacksSent.Add(uint64(len(chunk)))
		s.send(&message{typ: msgNack, num: num, layer: uint8(layer), seqs: chunk}, false)
	}
}

// Close unsubscribes. Receiver.Ended is not called; a packet being delivered as Close is
// called may still reach Receiver.RTP.
func (in *Inbound) Close() {
	in.ended.Store(true)
	l := in.l
	l.mu.Lock()
	_, s, num := l.removeInboundLocked(in)
	if s != nil {
		s.dropInbound(num)
	}
	l.mu.Unlock()
	if s != nil {
		s.send(&message{typ: msgUnsubscribe, num: num}, true)
	}
}

// Stats describes the subscription.
func (in *Inbound) Stats() TrackStats {
	in.l.mu.Lock()
	defer in.l.mu.Unlock()
	return in.statsLocked()
}

func (in *Inbound) statsLocked() TrackStats {
	st := TrackStats{Room: in.key.room, Track: in.key.track, Kind: in.info.Kind, Layers: in.Layers()}
	in.c.fill(&st)
	return st
}

// binding is the connection the subscription is on now and its number there.
func (in *Inbound) binding() (*session, uint16) {
	in.l.mu.Lock()
	defer in.l.mu.Unlock()
	return in.sess, in.num
}

// end finishes a subscription the link already forgot: Subscribe returns err if it still
// waits for the first answer, and otherwise the receiver is told.
func (in *Inbound) end(err error, answered bool) {
	if !in.ended.CompareAndSwap(false, true) {
		return
	}
	if !answered {
		in.answer <- err
		return
	}
	in.recv.Ended(err)
}

// deliver hands one received packet to the receiver. Called from the datagram goroutine.
func (in *Inbound) deliver(layer int, pkt []byte) {
	if in.ended.Load() || !in.Layers().Has(layer) {
		return
	}
	in.c.add(layer, len(pkt))
	if in.video.Load() {
		in.nackMu.Lock()
		evicted := in.nack[layer].push(rtpSeq(pkt))
		in.nackMu.Unlock()
		if evicted > 0 {
			in.requestKeyframe(layer, false)
		}
	}
	in.recv.RTP(layer, pkt)
}

// resetNack forgets the loss state, for a new connection.
func (in *Inbound) resetNack() {
	in.nackMu.Lock()
	for l := range in.nack {
		in.nack[l].reset()
	}
	in.nackMu.Unlock()
}

// nackDue sends the NACKs that are due on subscription num of session s, asks for a keyframe
// where a packet could not be repaired, and sends keyframe requests held back by the rate
// limit. Called from the session's tick.
func (in *Inbound) nackDue(s *session, num uint16, now, retry int64, buf []uint16) {
	if !in.video.Load() || in.ended.Load() {
		return
	}
	for layer := range MaxLayers {
		if in.kfPending[layer].Load() && now-in.kfLast[layer].Load() >= int64(keyframeGap) {
			in.requestKeyframe(layer, false)
		}
		in.nackMu.Lock()
		seqs, gaveUp := in.nack[layer].due(now, retry, buf[:0])
		in.nackMu.Unlock()
		if len(seqs) > 0 {
			in.l.c.nacksSent.Add(uint64(len(seqs)))
			s.send(&message{typ: msgNack, num: num, layer: uint8(layer), seqs: seqs}, false)
		}
		if gaveUp > 0 {
			in.requestKeyframe(layer, false)
		}
	}
}

// sortTrackStats orders subscriptions by room and track.
func sortTrackStats(ts []TrackStats) {
	slices.SortFunc(ts, func(a, b TrackStats) int {
		if c := strings.Compare(a.Room, b.Room); c != 0 {
			return c
		}
		return strings.Compare(a.Track, b.Track)
	})
}
