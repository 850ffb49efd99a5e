package cascade

import "sync/atomic"

// lossMeter measures the loss of the datagrams a peer sends on one connection from the gaps in
// their link sequence numbers, which start at 0. add is called by the one goroutine that
// receives datagrams; the readers may run on any goroutine.
type lossMeter struct {
	next     atomic.Uint64 // 1 + highest extended sequence number seen (0: none yet)
	received atomic.Uint64
}

// add records a received datagram's link sequence number.
func (m *lossMeter) add(seq uint32) {
	next := m.next.Load()
	// Extend the 32-bit number to the value nearest the highest seen.
	var ext uint64
	if next == 0 {
		ext = uint64(seq)
	} else {
		highest := next - 1
		d := int64(int32(seq - uint32(highest)))
		if d < 0 && uint64(-d) > highest {
			d = 0 // a stray from before the start: count it, do not move the mark
		}
		ext = uint64(int64(highest) + d)
	}
	if ext+1 > next {
		m.next.Store(ext + 1)
	}
	m.received.Add(1)
}

// counts returns the datagrams expected (every number up to the highest seen) and those
// received so far. Late datagrams count as received, so a reordering is not a loss.
func (m *lossMeter) counts() (expected, received uint64) {
	// Received first: a concurrent add can then only make expected larger, never received
	// larger than expected by more than the in-flight datagram.
	received = m.received.Load()
	expected = m.next.Load()
	return expected, received
}

// lossWindow turns two successive readings of counts into the datagrams expected and lost in
// between. Fewer received than expected is loss; more (late arrivals filling an earlier gap)
// reduces it, but never below zero.
type lossWindow struct {
	expected, received uint64
}

// advance takes a new reading and returns the datagrams expected and lost since the previous
// one.
func (w *lossWindow) advance(expected, received uint64) (de, lost uint64) {
	if expected > w.expected {
		de = expected - w.expected
	}
	var dr uint64
	if received > w.received {
		dr = received - w.received
	}
	w.expected, w.received = expected, received
	if dr >= de {
		return de, 0
	}
	return de, de - dr
}

// cumulativeLost is the loss since the start: expected less received, never negative.
func cumulativeLost(expected, received uint64) uint64 {
	if received >= expected {
		return 0
	}
	return expected - received
}
