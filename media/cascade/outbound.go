package cascade

import (
	"crypto/ed25519"
	"sync/atomic"
)

// TrackSource is the local SFU as the cascade's upstream side sees it. The node passes it in
// Config.Tracks.
type TrackSource interface {
	// OpenTrack is called when a peer node that takes part in the room (by the Authorizer)
	// subscribes to a local track: out.Room(), out.Track(). If the track exists, the SFU
	// starts writing the packets of every layer of it to out (out.WriteRTP drops the layers
	// the peer does not want; checking out.Layers() first saves the call) and returns the
	// track's description and the handler of the peer's requests. If not, it returns an
	// error (wrapping ErrNoTrack, by convention), which the peer receives as the reason.
	//
	// It is called from the link's control goroutine: it must not block, and must not call
	// back into the link other than through out.
	OpenTrack(out *Outbound) (TrackInfo, OutboundHandler, error)
}

// OutboundHandler receives what the subscribing node asks of a local track. Its methods are
// called from the link's control goroutine; they must not block.
type OutboundHandler interface {
	// Keyframe: the subscribing node needs a keyframe on layer (0..MaxLayers-1). The SFU
	// asks the publisher, rate-limited as for its own subscribers.
	Keyframe(layer int)
	// Closed: the subscription is over (the peer unsubscribed, or the connection ended; a
	// new connection brings a new OpenTrack). The SFU stops writing to the Outbound. It is
	// not called after the SFU's own End.
	Closed()
}

// Outbound is a local track a peer node subscribes to, as the SFU writes it. It lives as long
// as the subscription on one connection. Its methods are safe for concurrent use; WriteRTP is
// the forwarding hot path and neither blocks nor allocates.
type Outbound struct {
	s   *session
	num uint16
	key trackKey

	layers atomic.Uint32 // LayerSet the peer wants
	video  atomic.Bool
	closed atomic.Bool
	done   chan struct{}
	cache  [MaxLayers]atomic.Pointer[rtxCache] // video layers, made when first written

	// Set by bind under s.mu, before any request of the peer about the subscription is
	// handled (both happen on the control goroutine).
	h    OutboundHandler
	info TrackInfo

	c layerCounters

	rtxBuf [MaxRTPSize]byte // retransmission scratch, owned by the control goroutine
}

func newOutbound(s *session, num uint16, key trackKey, layers LayerSet) *Outbound {
	o := &Outbound{s: s, num: num, key: key, done: make(chan struct{})}
	o.layers.Store(uint32(layers))
	return o
}

// bind completes the subscription with what the TrackSource returned.
func (o *Outbound) bind(info TrackInfo, h OutboundHandler) {
	o.s.mu.Lock()
	o.info, o.h = info, h
	o.s.mu.Unlock()
	o.video.Store(info.Video())
}

// Room is the room of the subscribed track.
func (o *Outbound) Room() string { return o.key.room }

// Track is the subscribed track's id.
func (o *Outbound) Track() string { return o.key.track }

// Peer is the subscribing node's key.
func (o *Outbound) Peer() ed25519.PublicKey { return o.s.l.peer }

// Layers is the set of layers the peer wants now.
func (o *Outbound) Layers() LayerSet { return LayerSet(o.layers.Load()) }

// Done is closed when the subscription is over.
func (o *Outbound) Done() <-chan struct{} { return o.done }

// WriteRTP queues one RTP packet of layer for the peer, untouched. It reports whether the
// packet was queued: it is not if the peer does not want the layer, the subscription is
// over, the packet is not RTP or larger than MaxRTPSize, or the link's send queue is full
// (counted as dropped). pkt is not retained.
func (o *Outbound) WriteRTP(layer int, pkt []byte) bool {
	if o.closed.Load() || !o.Layers().Has(layer) {
		return false
	}
	c := &o.s.l.c
	if !checkRTP(pkt) {
		c.outDropped.Add(1) // not a sign of congestion: the peer is not told
		return false
	}
	if o.video.Load() {
		o.layerCache(layer).put(rtpSeq(pkt), pkt)
	}
	if !o.s.queue.push(datagramHeader{layer: uint8(layer), num: o.num}, pkt, o.s.ep.now()) {
		o.s.txDropped.Add(1)
		c.outDropped.Add(1)
		return false
	}
	o.c.add(layer, len(pkt))
	return true
}

// layerCache returns layer's retransmission cache, making it on first use.
func (o *Outbound) layerCache(layer int) *rtxCache {
	if c := o.cache[layer].Load(); c != nil {
		return c
	}
	o.cache[layer].CompareAndSwap(nil, newRTXCache(o.s.ep.cfg.RetransmitBytes))
	return o.cache[layer].Load()
}

// End tells the peer the track is gone (it receives ErrTrackEnded with reason) and ends the
// subscription. OutboundHandler.Closed is not called.
func (o *Outbound) End(reason string) {
	if !o.closed.CompareAndSwap(false, true) {
		return
	}
	close(o.done)
	if o.s.takeOutbound(o.num) == o {
		o.s.sendEnd(o.num, endTrackEnded, reason)
	}
}

// shut ends the subscription from the link's side.
func (o *Outbound) shut() {
	if !o.closed.CompareAndSwap(false, true) {
		return
	}
	close(o.done)
	if o.h != nil {
		o.h.Closed()
	}
}

// keyframe relays the peer's keyframe request to the SFU.
func (o *Outbound) keyframe(layer int) {
	if o.h != nil && !o.closed.Load() {
		o.h.Keyframe(layer)
	}
}

// retransmit answers a NACK from the layer's cache. Called from the control goroutine.
func (o *Outbound) retransmit(layer int, seqs []uint16) {
	c := &o.s.l.c
	cache := o.cache[layer].Load()
	if cache == nil || o.closed.Load() {
		c.rtxMisses.Add(uint64(len(seqs)))
		return
	}
	if o.s.queue.halfFull() {
		// Congested: fresh media first. The subscriber gives up and asks for a keyframe.
		c.rtxMisses.Add(uint64(len(seqs)))
		return
	}
	now := o.s.ep.now()
	for _, seq := range seqs {
		n := cache.get(seq, o.rtxBuf[:])
		if n == 0 {
			c.rtxMisses.Add(1)
			continue
		}
		if !o.s.queue.push(datagramHeader{retransmit: true, layer: uint8(layer), num: o.num}, o.rtxBuf[:n], now) {
			o.s.txDropped.Add(1)
			c.outDropped.Add(1)
			continue
		}
		c.outRetransmits.Add(1)
	}
}

// stats describes the subscription. Called with s.mu held.
func (o *Outbound) stats() TrackStats {
	st := TrackStats{Room: o.key.room, Track: o.key.track, Kind: o.info.Kind, Layers: o.Layers()}
	o.c.fill(&st)
	return st
}
