package cascade

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// nackTick is how often a session looks for RTP packets to request again.
const nackTick = 20 * time.Millisecond

// tick runs a session's timers: NACKs, liveness, and once per stats interval the statistics,
// the stats message to the peer, bitrates and the capacity estimate. When the session ends it
// closes the connection.
func (s *session) tick() {
	defer s.closeConn()
	t := time.NewTicker(nackTick)
	defer t.Stop()
	cfg := &s.ep.cfg
	now := s.ep.now()
	lastStats, lastHeard := now, now
	var lastPackets uint64
	st := statsState{}
	var nackBuf [maxNackSeqs]uint16
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.conn.Context().Done():
			s.close(CodeClosed, "", closeError(context.Cause(s.conn.Context())))
			continue
		case <-t.C:
		}
		now = s.ep.now()
		cs := s.conn.ConnectionStats()
		if cs.PacketsReceived != lastPackets {
			lastPackets, lastHeard = cs.PacketsReceived, now
		} else if time.Duration(now-lastHeard) > cfg.BreakTimeout {
			reason := fmt.Sprintf("nothing heard for %v", time.Duration(now-lastHeard).Round(time.Millisecond))
			s.close(CodeUnresponsive, reason, fmt.Errorf("%w: %s", errUnresponsive, reason))
			continue
		}
		// Ask again after a round trip and a half, so that a repair in flight (which may
		// wait in the peer's send queue) is not requested twice.
		retry := int64(cs.SmoothedRTT + cs.SmoothedRTT/2 + 10*time.Millisecond)
		for num, in := range *s.inSnap.Load() {
			in.nackDue(s, num, now, retry, nackBuf[:0])
		}
		if dt := time.Duration(now - lastStats); dt >= cfg.StatsInterval {
			s.statsTick(&st, dt, cs.SmoothedRTT, cs.MinRTT)
			lastStats = now
		}
	}
}

// statsState is what the stats tick remembers between intervals.
type statsState struct {
	win      lossWindow
	lostSeen uint64 // cumulative loss already added to the link's counter
	rxBytes  uint64
}

// statsTick closes one stats interval of length dt.
func (s *session) statsTick(st *statsState, dt, rtt, minRTT time.Duration) {
	c := &s.l.c
	expected, received := s.loss.counts()
	de, lost := st.win.advance(expected, received)
	if cum := cumulativeLost(expected, received); cum > st.lostSeen {
		c.inLost.Add(cum - st.lostSeen)
		st.lostSeen = cum
	}
	frac := 0.0
	if de > 0 {
		frac = float64(lost) / float64(de)
	}
	storeFloat(&c.inLoss, frac)

	rxBytes := s.rxBytes.Load()
	rxRate := float64(rxBytes-st.rxBytes) * 8 / dt.Seconds()
	st.rxBytes = rxBytes
	drops := s.peerDrops.Swap(0)
	sample := capacitySample{rtt: rtt, minRTT: minRTT, rxRate: rxRate, hasData: de+drops > 0, sample: de + drops}
	if sample.hasData {
		sample.loss = float64(lost+drops) / float64(de+drops)
	}
	storeFloat(&c.capacity, s.l.est.update(sample))

	s.send(&message{typ: msgStats, stats: wireStats{
		rxDatagrams: received,
		rxLost:      cumulativeLost(expected, received),
		rxBytes:     rxBytes,
		txDropped:   s.txDropped.Load(),
	}}, false)

	for _, in := range *s.inSnap.Load() {
		in.c.tick(dt)
	}
	s.mu.Lock()
	outs := make([]*Outbound, 0, len(s.outbound))
	for _, o := range s.outbound {
		outs = append(outs, o)
	}
	s.mu.Unlock()
	for _, o := range outs {
		o.c.tick(dt)
	}
}

func storeFloat(a *atomic.Uint64, v float64) { a.Store(math.Float64bits(v)) }
