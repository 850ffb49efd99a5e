package cascade

import "time"

// Bounds and steps of the capacity estimate.
const (
	minCapacity = 64_000         // bits/s: below this nothing useful fits anyway
	maxCapacity = 10_000_000_000 // bits/s

	lossHigh  = 0.10 // above: cut the estimate in proportion to the loss
	lossLow   = 0.02 // below (and no queueing delay): grow it
	growStep  = 1.08 // per clean interval
	minSample = 20   // datagrams an interval needs before its loss fraction means anything
	peakDecay = 0.9  // per interval, of the remembered peak received rate
	delayCut  = 0.85 // of the received rate, when queueing delay builds up
	minQDelay = 30 * time.Millisecond
)

// capacitySample is what one stats interval tells about the direction from the peer to us.
type capacitySample struct {
	loss    float64       // fraction of datagrams lost, counting those the peer dropped unsent
	sample  uint64        // datagrams the loss fraction is taken over
	rtt     time.Duration // smoothed round-trip time
	minRTT  time.Duration // lowest round-trip time seen on the connection
	rxRate  float64       // bits/s received over the interval
	hasData bool          // datagrams were expected in the interval
}

// estimator turns stats samples into an estimate of the bitrate the peer can send us without
// loss or queueing: loss-based like the sender side of Google congestion control, with a
// queueing-delay brake from the RTT trend. It is pure; the link feeds it once per stats
// interval and the downstream SFU reads the result to choose the layers it subscribes to.
type estimator struct {
	initial float64
	est     float64
	peak    float64 // received rate, following rises at once and falls by a tenth per interval
	queued  int     // consecutive intervals with queueing delay
}

func newEstimator(initial float64) *estimator {
	return &estimator{initial: initial, est: initial}
}

// update folds in one interval's sample and returns the new estimate in bits/s.
func (e *estimator) update(s capacitySample) float64 {
	e.peak = max(s.rxRate, e.peak*peakDecay)
	if s.minRTT > 0 && s.rtt-s.minRTT > max(minQDelay, s.minRTT/2) {
		e.queued++
	} else {
		e.queued = 0
	}
	// Queueing delay counts when it lasts: one slow interval may be a scheduling hiccup.
	queueing := e.queued >= 2
	switch {
	case !s.hasData:
		// Nothing to learn from an idle link; drift back towards the initial estimate.
		if e.est < e.initial {
			e.est = min(e.initial, e.est*growStep)
		}
		return e.est
	case queueing:
		// Under the rate the link carried lately, by the peak rather than this interval's
		// rate, which may cover only part of it.
		if e.peak > 0 {
			e.est = min(e.est, delayCut*e.peak)
		} else {
			e.est *= delayCut
		}
	case s.sample < minSample:
		// A handful of datagrams (the tail of a stream, a lone retransmission) says little
		// about loss.
	case s.loss > lossHigh:
		e.est *= 1 - s.loss/2
	case s.loss < lossLow:
		// Grow, but not far past what the link has shown it carries: to twice the received
		// rate, or the initial estimate if that is more. An estimate already above that
		// ceiling is kept, since a quieter interval says nothing against it.
		ceiling := max(e.initial, 2*s.rxRate)
		if e.est < ceiling {
			e.est = min(ceiling, e.est*growStep)
		}
	}
	e.est = min(max(e.est, minCapacity), maxCapacity)
	return e.est
}
