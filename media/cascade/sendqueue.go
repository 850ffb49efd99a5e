package cascade

import "sync"

// sendQueue holds the datagrams waiting for one connection's sender goroutine, so that the
// SFU's forwarding goroutines never block on QUIC (whose datagram queue blocks when full).
// It is a ring of fixed slots allocated once: push copies the RTP packet behind a datagram
// header into the next free slot, or drops it if the ring is full.
type sendQueue struct {
	mu    sync.Mutex
	buf   []byte // slots, each maxDatagramSize bytes
	lens  []uint16
	at    []int64 // when each slot was queued
	head  int     // oldest queued slot
	count int
	kick  chan struct{} // a datagram was queued
}

func newSendQueue(slots int) *sendQueue {
	return &sendQueue{
		buf:  make([]byte, slots*maxDatagramSize),
		lens: make([]uint16, slots),
		at:   make([]int64, slots),
		kick: make(chan struct{}, 1),
	}
}

// push queues one datagram, h (its seq is set when it is sent) and pkt, at time now. It
// reports false if the queue was full.
func (q *sendQueue) push(h datagramHeader, pkt []byte, now int64) bool {
	n := datagramHeaderLen + len(pkt)
	q.mu.Lock()
	if q.count == len(q.lens) {
		q.mu.Unlock()
		return false
	}
	i := (q.head + q.count) % len(q.lens)
	slot := q.buf[i*maxDatagramSize : i*maxDatagramSize+n]
	putDatagramHeader(slot, h)
	copy(slot[datagramHeaderLen:], pkt)
	q.lens[i] = uint16(n)
	q.at[i] = now
	q.count++
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return true
}

// peek returns the oldest queued datagram and when it was queued, or nil. The slot stays the
// caller's until pop: push never writes it meanwhile.
func (q *sendQueue) peek() ([]byte, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count == 0 {
		return nil, 0
	}
	off := q.head * maxDatagramSize
	return q.buf[off : off+int(q.lens[q.head])], q.at[q.head]
}

// pop releases the datagram peek returned.
func (q *sendQueue) pop() {
	q.mu.Lock()
	q.head = (q.head + 1) % len(q.lens)
	q.count--
	q.mu.Unlock()
}

// len is the number of queued datagrams.
func (q *sendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// halfFull reports whether at least half of the slots are taken: the link is congested, and
// retransmissions give way to fresh media.
func (q *sendQueue) halfFull() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return 2*q.count >= len(q.lens)
}
