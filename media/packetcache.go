package media

import "sync"

// Sizes of the retransmission caches. A layer cache holds about two seconds of a 2 Mbit/s
// layer; a subscriber's sequence ring covers the same span of its output.
const (
	cacheSlots     = 512
	maxPayload     = 1460
	seqRingEntries = 1024
)

// packetCache keeps the last cacheSlots packets received on one layer of a video track, for
// retransmission to subscribers who lost them. It is allocated once: storing a packet copies
// its payload into a fixed slot, so the steady state allocates nothing.
//
// Packets are addressed by their arrival index (a counter the cache returns from put), which
// a subscriber's seqRing records against the sequence number it sent the packet with.
type packetCache struct {
	mu    sync.Mutex
	next  uint64 // arrival index of the next packet
	slots []cacheSlot
}

type cacheSlot struct {
	idx    uint64 // arrival index + 1 (0: empty)
	ts     uint32
	marker bool
	n      uint16
	buf    [maxPayload]byte
}

func newPacketCache() *packetCache {
	return &packetCache{slots: make([]cacheSlot, cacheSlots)}
}

// put stores the packet and returns its arrival index. A payload over maxPayload is not
// stored (it could not be received over a 1500-byte path anyway); its index is still taken.
func (c *packetCache) put(ts uint32, marker bool, payload []byte) uint64 {
	c.mu.Lock()
	idx := c.next
	c.next++
	s := &c.slots[idx%cacheSlots]
	if len(payload) <= maxPayload {
		s.idx = idx + 1
		s.ts = ts
		s.marker = marker
		s.n = uint16(copy(s.buf[:], payload))
	} else {
		s.idx = 0
	}
	c.mu.Unlock()
	return idx
}

// get copies the packet with arrival index idx into dst and reports whether it was still
// cached.
func (c *packetCache) get(idx uint64, dst []byte) (n int, ts uint32, marker bool, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.slots[idx%cacheSlots]
	if s.idx != idx+1 {
		return 0, 0, false, false
	}
	return copy(dst, s.buf[:s.n]), s.ts, s.marker, true
}

// seqRing maps the sequence numbers one subscriber was sent to where the packets came from
// and how they were munged: a fixed ring keyed by the outgoing sequence number.
type seqRing struct {
	entries [seqRingEntries]seqEntry
}

type seqEntry struct {
	valid  bool
	outSeq uint16
	inSeq  uint16 // the sequence number the packet arrived with
	layer  uint8
	tl0Off uint8
	pidOff uint16
	idx    uint64 // arrival index in the layer's packetCache
	outTS  uint32
}

func (r *seqRing) add(e seqEntry) {
	e.valid = true
	r.entries[e.outSeq%seqRingEntries] = e
}

func (r *seqRing) lookup(outSeq uint16) (seqEntry, bool) {
	e := r.entries[outSeq%seqRingEntries]
	if !e.valid || e.outSeq != outSeq {
		return seqEntry{}, false
	}
	return e, true
}
