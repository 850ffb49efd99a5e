package cascade

import "sync"

// rtxEntries is the number of packets a retransmission cache indexes, by RTP sequence number.
const rtxEntries = 1024

// rtxCache keeps the most recent RTP packets sent on one layer of an outbound video track, so
// that the link answers NACKs itself. Packets are stored back to back in a fixed byte arena
// (its size bounds the memory, its span in time follows the layer's bitrate), indexed by
// sequence number. Storing copies the packet; nothing allocates after the arena.
type rtxCache struct {
	mu      sync.Mutex
	arena   []byte
	written uint64 // bytes ever written, including the skipped tail at each wrap
	entries [rtxEntries]rtxEntry
}

type rtxEntry struct {
	valid bool
	seq   uint16
	n     uint16
	pos   uint64 // value of written where the packet starts
}

func newRTXCache(size int) *rtxCache {
	return &rtxCache{arena: make([]byte, size)}
}

// put stores pkt under its RTP sequence number seq. A packet larger than the arena is not
// stored.
func (c *rtxCache) put(seq uint16, pkt []byte) {
	size := uint64(len(c.arena))
	n := uint64(len(pkt))
	if n > size || n == 0 {
		return
	}
	c.mu.Lock()
	off := c.written % size
	if off+n > size {
		// Never split a packet: skip the tail of the arena.
		c.written += size - off
		off = 0
	}
	copy(c.arena[off:], pkt)
	c.entries[seq%rtxEntries] = rtxEntry{valid: true, seq: seq, n: uint16(n), pos: c.written}
	c.written += n
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns its length, or 0 if it
// is no longer cached.
func (c *rtxCache) get(seq uint16, dst []byte) int {
	size := uint64(len(c.arena))
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[seq%rtxEntries]
	if !e.valid || e.seq != seq || c.written > e.pos+size || int(e.n) > len(dst) {
		return 0
	}
	off := e.pos % size
	return copy(dst, c.arena[off:off+uint64(e.n)])
}
