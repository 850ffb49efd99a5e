package media

import "parley/media/signal"

// maxLayers is the number of simulcast layers a track may have; layer 0 is the lowest.
const maxLayers = 3

// Layer indices of the known simulcast rids.
const (
	layerLow    = 0
	layerMedium = 1
	layerHigh   = 2
)

// ridLayer maps a known rid to its layer, or -1 for an unknown rid (ordered by arrival).
func ridLayer(rid string) int {
	switch rid {
	case signal.RIDLow:
		return layerLow
	case signal.RIDMedium:
		return layerMedium
	case signal.RIDHigh:
		return layerHigh
	}
	return -1
}

// qualityLayer maps a "layer" message quality to the highest layer it allows.
func qualityLayer(q string) (int, bool) {
	switch q {
	case signal.QualityLow:
		return layerLow, true
	case signal.QualityMedium:
		return layerMedium, true
	case signal.QualityHigh:
		return layerHigh, true
	}
	return 0, false
}

// selectLayer picks the layer a subscriber should receive: the highest layer at or below the
// requested one among the layers set in avail; failing that, the lowest layer above it; -1 if
// no layer is available.
func selectLayer(requested int, avail uint8) int {
	if requested >= maxLayers {
		requested = maxLayers - 1
	}
	for l := requested; l >= 0; l-- {
		if avail&(1<<l) != 0 {
			return l
		}
	}
	for l := requested + 1; l < maxLayers; l++ {
		if avail&(1<<l) != 0 {
			return l
		}
	}
	return -1
}

// verdict says what to do with one received packet for one subscriber.
type verdict uint8

const (
	drop           verdict = iota // not for this subscriber (other layer, too old, padding)
	forward                       // send it with the munged fields
	dropWantKey                   // dropped, and a keyframe of the target layer is needed
	forwardWantKey                // sent, and a keyframe of the target layer is needed
)

// munger keeps one subscriber's view of one track continuous: a single SSRC (set by the
// sender), sequence numbers without gaps or jumps, timestamps that keep running, and VP8
// picture ids and TL0PICIDX that continue across simulcast layer switches. It is pure: the
// caller passes the packet, the layer it came on, the target layer and the arrival time.
type munger struct {
	started bool
	layer   int // layer being forwarded

	seqOff uint16 // in - out
	tsOff  uint32
	pidOff uint16
	tl0Off uint8

	startIn   uint16 // first input seq of the current layer segment
	highestIn uint16 // highest input seq of the current segment

	lastSeq   uint16 // last (highest) output seq
	lastTS    uint32
	lastNanos int64 // arrival time of the packet that set lastTS
	lastPID   uint16
	lastTL0   uint8
	haveVP8   bool
}

// munged is the output of munger.process for a forwarded packet.
type munged struct {
	seq    uint16
	ts     uint32
	pidOff uint16
	tl0Off uint8
}

// process decides what to do with packet p received on layer, given the target layer the
// subscriber should be on. isKey says whether p starts a keyframe (always true for audio).
// clock is the codec clock rate; now is the arrival time in nanoseconds.
func (m *munger) process(p *rtpPacket, layer, target int, isKey bool, video bool, clock uint32, now int64) (verdict, munged) {
	if !m.started || layer != m.layer {
		if layer != target {
			if m.started && m.layer == target {
				return drop, munged{}
			}
			return dropWantKey, munged{}
		}
		if !isKey || len(p.payload) == 0 {
			return dropWantKey, munged{}
		}
		m.switchTo(p, layer, video, clock, now)
	}
	diff := int16(p.seq - m.highestIn)
	if diff <= 0 && int16(p.seq-m.startIn) < 0 {
		return drop, munged{} // from before this segment began
	}
	if len(p.payload) == 0 {
		// Padding only: drop it and close the gap it would leave, if it is the next packet.
		if diff == 1 {
			m.highestIn = p.seq
			m.seqOff++
		}
		return drop, munged{}
	}
	out := munged{seq: p.seq - m.seqOff, ts: p.ts - m.tsOff, pidOff: m.pidOff, tl0Off: m.tl0Off}
	if diff > 0 {
		m.highestIn = p.seq
		m.lastSeq = out.seq
		m.lastTS = out.ts
		m.lastNanos = now
		if video && p.vp8.pidOff != 0 {
			m.lastPID = (p.vp8.pid - m.pidOff) & 0x7fff
			m.lastTL0 = p.vp8.tl0 - m.tl0Off
			m.haveVP8 = true
		}
	}
	if target != m.layer {
		return forwardWantKey, out
	}
	return forward, out
}

// switchTo starts forwarding layer from packet p (a keyframe), choosing offsets so the
// output continues where it left off.
func (m *munger) switchTo(p *rtpPacket, layer int, video bool, clock uint32, now int64) {
	if !m.started {
		m.started = true
		m.seqOff, m.tsOff, m.pidOff, m.tl0Off = 0, 0, 0, 0
	} else {
		m.seqOff = p.seq - (m.lastSeq + 1)
		// Advance the timestamp by the wall time since the last packet sent, at least one tick.
		elapsed := now - m.lastNanos
		if elapsed < 0 {
			elapsed = 0
		}
		step := uint32(uint64(elapsed) * uint64(clock) / 1e9)
		if step == 0 {
			step = 1
		}
		m.tsOff = p.ts - (m.lastTS + step)
		if video && m.haveVP8 && p.vp8.pidOff != 0 {
			m.pidOff = p.vp8.pid - (m.lastPID + 1)
			if !p.vp8.pid15 {
				m.pidOff &= 0x7f
			}
			m.tl0Off = p.vp8.tl0 - (m.lastTL0 + 1)
		}
	}
	m.layer = layer
	m.startIn = p.seq
	m.highestIn = p.seq - 1
}
