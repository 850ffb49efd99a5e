package cascade

import (
	"bytes"
	"slices"
	"testing"
)

func TestLossMeter(t *testing.T) {
	var m lossMeter
	var w lossWindow
	// 0..99 with every tenth lost.
	for s := uint32(0); s < 100; s++ {
		if s%10 != 3 {
			m.add(s)
		}
	}
	exp, rcv := m.counts()
	if exp != 100 || rcv != 90 || cumulativeLost(exp, rcv) != 10 {
		t.Fatalf("expected %d received %d", exp, rcv)
	}
	if de, lost := w.advance(exp, rcv); de != 100 || lost != 10 {
		t.Errorf("window: expected %d lost %d", de, lost)
	}
	// Late arrivals of two lost ones, and a reordered pair: the next window has no loss and
	// the cumulative loss shrinks.
	m.add(13)
	m.add(23)
	m.add(101)
	m.add(100)
	exp, rcv = m.counts()
	if de, lost := w.advance(exp, rcv); de != 2 || lost != 0 {
		t.Errorf("window after late arrivals: expected %d lost %d", de, lost)
	}
	if got := cumulativeLost(exp, rcv); got != 8 {
		t.Errorf("cumulative loss %d, want 8", got)
	}
	// The first datagrams lost count too (numbering starts at 0).
	var m2 lossMeter
	m2.add(5)
	if exp, rcv := m2.counts(); exp != 6 || rcv != 1 {
		t.Errorf("start: expected %d received %d", exp, rcv)
	}
}

func TestLossMeterWrap(t *testing.T) {
	var m lossMeter
	start := uint32(1<<32 - 50)
	// Pretend the link already carried 2^32-50 datagrams: feed the mark there first.
	m.next.Store(uint64(start))
	m.received.Store(uint64(start))
	for i := uint32(0); i < 100; i++ {
		if i != 60 {
			m.add(start + i) // wraps past 2^32
		}
	}
	exp, rcv := m.counts()
	if exp != uint64(start)+100 || cumulativeLost(exp, rcv) != 1 {
		t.Errorf("after wrap: expected %d (want %d), lost %d", exp, uint64(start)+100, cumulativeLost(exp, rcv))
	}
}

func TestNackTracker(t *testing.T) {
	var tr nackTracker
	const ms = int64(1e6)
	retry := 50 * ms
	tr.push(100)
	tr.push(101)
	tr.push(105) // 102, 103, 104 missing
	if tr.outstanding() != 3 {
		t.Fatalf("outstanding %d", tr.outstanding())
	}
	seqs, gaveUp := tr.due(10*ms, retry, nil)
	if !slices.Equal(seqs, []uint16{102, 103, 104}) || gaveUp != 0 {
		t.Fatalf("first due = %v, %d", seqs, gaveUp)
	}
	if seqs, _ := tr.due(20*ms, retry, nil); len(seqs) != 0 {
		t.Errorf("asked again before the retry interval: %v", seqs)
	}
	tr.push(103) // repaired
	seqs, _ = tr.due(61*ms, retry, nil)
	if !slices.Equal(seqs, []uint16{102, 104}) {
		t.Fatalf("second due = %v", seqs)
	}
	tr.due(112*ms, retry, nil) // third request
	seqs, gaveUp = tr.due(163*ms, retry, nil)
	if len(seqs) != 0 || gaveUp != 2 || tr.outstanding() != 0 {
		t.Errorf("after %d tries: due %v, gave up on %d, outstanding %d", nackMaxTries, seqs, gaveUp, tr.outstanding())
	}

	// Across the 16-bit wrap.
	tr.reset()
	tr.push(65534)
	tr.push(1) // 65535 and 0 missing
	seqs, _ = tr.due(ms, retry, nil)
	if !slices.Equal(seqs, []uint16{65535, 0}) {
		t.Errorf("wrap: due %v", seqs)
	}

	// A jump larger than nackMaxGap is a restart: nothing requested, old gaps dropped.
	tr.reset()
	tr.push(10)
	tr.push(12)
	if ev := tr.push(12 + nackMaxGap + 1); ev != 1 || tr.outstanding() != 0 {
		t.Errorf("jump: evicted %d, outstanding %d", ev, tr.outstanding())
	}
	// Old and duplicate packets change nothing.
	tr.push(5)
	tr.push(12 + nackMaxGap + 1)
	if tr.outstanding() != 0 {
		t.Errorf("outstanding %d after old packets", tr.outstanding())
	}

	// One request carries at most maxNackSeqs.
	tr.reset()
	tr.push(0)
	tr.push(200)
	seqs, _ = tr.due(ms, retry, nil)
	if len(seqs) != maxNackSeqs || seqs[0] != 1 {
		t.Errorf("large gap: %d seqs from %v", len(seqs), seqs[:1])
	}
	if a := testing.AllocsPerRun(100, func() { tr.push(tr.highest + 2); tr.due(ms, retry, seqs[:0]) }); a != 0 {
		t.Errorf("tracking allocates %v times", a)
	}
}

func TestRTXCache(t *testing.T) {
	c := newRTXCache(10 * 100)
	dst := make([]byte, MaxRTPSize)
	for s := range uint16(25) {
		c.put(s, testRTP(s, 88)) // 100 bytes each: the arena holds 10
	}
	for s := range uint16(25) {
		n := c.get(s, dst)
		if s < 15 && n != 0 {
			t.Errorf("packet %d still cached after the arena wrapped", s)
		}
		if s >= 15 && !bytes.Equal(dst[:n], testRTP(s, 88)) {
			t.Errorf("packet %d: got %d bytes", s, n)
		}
	}
	if c.get(99, dst) != 0 {
		t.Errorf("found a packet never stored")
	}
	// Packets that do not divide the arena: the tail is skipped, never split.
	c = newRTXCache(1000)
	for s := range uint16(40) {
		c.put(s, testRTP(s, 300)) // 312 bytes: three fit
	}
	found := 0
	for s := range uint16(40) {
		if n := c.get(s, dst); n != 0 {
			found++
			if !bytes.Equal(dst[:n], testRTP(s, 300)) {
				t.Fatalf("packet %d corrupted", s)
			}
		}
	}
	if found != 3 {
		t.Errorf("%d packets of 312 bytes cached in 1000 bytes, want 3", found)
	}
	// Index collisions: a newer packet with the same slot replaces the older.
	c = newRTXCache(1 << 20)
	c.put(1, testRTP(1, 10))
	c.put(1+rtxEntries, testRTP(1+rtxEntries, 10))
	if c.get(1, dst) != 0 || c.get(1+rtxEntries, dst) == 0 {
		t.Errorf("slot collision handled wrongly")
	}
	pkt := testRTP(7, 1000)
	if a := testing.AllocsPerRun(100, func() { c.put(7, pkt); c.get(7, dst) }); a != 0 {
		t.Errorf("cache allocates %v times", a)
	}
}

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3)
	for i := range uint16(3) {
		if !q.push(datagramHeader{layer: 1, num: 5}, testRTP(i, 50), int64(i)) {
			t.Fatalf("push %d refused", i)
		}
	}
	if q.push(datagramHeader{num: 5}, testRTP(9, 50), 9) {
		t.Fatalf("push into a full queue accepted")
	}
	if !q.halfFull() {
		t.Errorf("a full queue is not half full")
	}
	b, at := q.peek()
	if at != 0 || b == nil {
		t.Errorf("oldest queued at %d", at)
	}
	// A push while the oldest is being sent does not touch it.
	q.pop()
	if !q.push(datagramHeader{num: 6}, testRTP(3, 10), 10) {
		t.Fatalf("push after pop refused")
	}
	for i := range uint16(4) {
		b, at = q.peek()
		if want := []int64{1, 2, 10}[min(i, 2)]; at != want {
			t.Errorf("datagram %d queued at %d, want %d", i, at, want)
		}
		h, rtp, err := parseDatagram(b)
		if err != nil {
			t.Fatalf("queued datagram %d: %v", i, err)
		}
		if i < 2 && (rtpSeq(rtp) != i+1 || h.num != 5 || h.layer != 1) {
			t.Errorf("datagram %d: %+v seq %d", i, h, rtpSeq(rtp))
		}
		if i == 2 && (rtpSeq(rtp) != 3 || h.num != 6) {
			t.Errorf("last datagram: %+v seq %d", h, rtpSeq(rtp))
		}
		q.pop()
		if i == 2 {
			break
		}
	}
	if b, _ := q.peek(); b != nil || q.len() != 0 || q.halfFull() {
		t.Errorf("queue not empty")
	}
	pkt := testRTP(1, 1200)
	if a := testing.AllocsPerRun(100, func() { q.push(datagramHeader{num: 1}, pkt, 1); q.peek(); q.pop() }); a != 0 {
		t.Errorf("queue allocates %v times", a)
	}
}
