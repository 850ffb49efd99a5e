package cascade

// Loss repair on the receiving side of a video layer: which RTP sequence numbers are missing,
// and when to ask for them again.
const (
	nackWindow   = 512 // sequence numbers tracked behind the highest received
	nackMaxGap   = 256 // a larger jump is a restart, not loss: nothing is requested
	nackMaxTries = 3   // requests per missing packet before giving up on it
)

// nackTracker follows one received RTP stream and lists the sequence numbers to request. It
// is pure: the caller passes the time (nanoseconds on any monotonic clock) and serialises
// calls.
type nackTracker struct {
	started bool
	highest uint16
	pending int // valid entries
	missing [nackWindow]nackEntry
}

type nackEntry struct {
	valid bool
	seq   uint16
	tries uint8
	last  int64 // when last requested (0: never)
}

// reset forgets the stream, as after a reconnection.
func (t *nackTracker) reset() { *t = nackTracker{} }

// push records a received sequence number. It returns the number of missing packets it gave
// up on because newer gaps took their place in the window.
func (t *nackTracker) push(seq uint16) (evicted int) {
	if !t.started {
		t.started, t.highest = true, seq
		return 0
	}
	d := int16(seq - t.highest)
	switch {
	case d == 0:
		return 0
	case d < 0:
		// Late or repaired.
		e := &t.missing[seq%nackWindow]
		if e.valid && e.seq == seq {
			e.valid = false
			t.pending--
		}
		return 0
	case d > nackMaxGap:
		// The stream restarted or jumped: the old gaps will not be repaired.
		evicted = t.pending
		t.missing = [nackWindow]nackEntry{}
		t.pending = 0
		t.highest = seq
		return evicted
	}
	for s := t.highest + 1; s != seq; s++ {
		e := &t.missing[s%nackWindow]
		if e.valid {
			evicted++
			t.pending--
		}
		*e = nackEntry{valid: true, seq: s}
		t.pending++
	}
	t.highest = seq
	return evicted
}

// due appends to dst, up to maxNackSeqs in all, the sequence numbers to request now: those
// never requested, and those last requested at least retry ago. It returns dst and the number
// of packets it gave up on after nackMaxTries requests.
func (t *nackTracker) due(now, retry int64, dst []uint16) ([]uint16, int) {
	if t.pending == 0 {
		return dst, 0
	}
	gaveUp := 0
	// Oldest first: walk the window from just after the highest.
	for i := 1; i <= nackWindow && len(dst) < maxNackSeqs; i++ {
		s := t.highest + uint16(i)
		e := &t.missing[s%nackWindow]
		if !e.valid {
			continue
		}
		if e.last != 0 && now-e.last < retry {
			continue
		}
		if e.tries >= nackMaxTries {
			e.valid = false
			t.pending--
			gaveUp++
			continue
		}
		e.tries++
		e.last = now
		dst = append(dst, e.seq)
	}
	return dst, gaveUp
}

// outstanding is the number of packets still missing.
func (t *nackTracker) outstanding() int { return t.pending }
