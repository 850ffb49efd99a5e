package cascade

import (
	"math"
	"testing"
	"time"
)

func TestEstimator(t *testing.T) {
	const initial = 10e6
	ms := time.Millisecond
	clean := capacitySample{loss: 0, rtt: 20 * ms, minRTT: 20 * ms, rxRate: 8e6, hasData: true, sample: 700}

	e := newEstimator(initial)
	// Clean intervals grow the estimate towards twice what the link carries, no further.
	var est float64
	for range 30 {
		est = e.update(clean)
	}
	if est != 16e6 {
		t.Errorf("after clean intervals: %.0f, want %.0f", est, 16e6)
	}
	// Moderate loss (between 2% and 10%) holds it.
	if got := e.update(capacitySample{loss: 0.05, rtt: 20 * ms, minRTT: 20 * ms, rxRate: 8e6, hasData: true, sample: 700}); got != est {
		t.Errorf("5%% loss moved the estimate: %.0f -> %.0f", est, got)
	}
	// Heavy loss cuts it in proportion.
	got := e.update(capacitySample{loss: 0.3, rtt: 20 * ms, minRTT: 20 * ms, rxRate: 8e6, hasData: true, sample: 700})
	if want := est * 0.85; got != want {
		t.Errorf("30%% loss: %.0f, want %.0f", got, want)
	}
	// Queueing delay (RTT well above its minimum) that lasts brings it under the rate the link
	// carried lately; a single slow interval does not.
	e = newEstimator(initial)
	e.update(capacitySample{rtt: 20 * ms, minRTT: 20 * ms, rxRate: 4e6, hasData: true, sample: 700})
	slow := capacitySample{loss: 0, rtt: 120 * ms, minRTT: 20 * ms, rxRate: 1e6, hasData: true, sample: 700}
	if got = e.update(slow); got < initial {
		t.Errorf("one slow interval lowered the estimate to %.0f", got)
	}
	got = e.update(slow)
	if want := 0.85 * 4e6 * 0.9 * 0.9; math.Abs(got-want) > 1 {
		t.Errorf("queueing: %.0f, want %.0f (0.85 of the decayed peak)", got, want)
	}
	// A little jitter is not queueing.
	before := got
	got = e.update(capacitySample{loss: 0, rtt: 35 * ms, minRTT: 20 * ms, rxRate: 3e6, hasData: true, sample: 700})
	if got <= before {
		t.Errorf("15ms of jitter lowered the estimate: %.0f -> %.0f", before, got)
	}
	// Repeated total loss never goes below the floor.
	for range 100 {
		got = e.update(capacitySample{loss: 1, hasData: true, sample: 700})
	}
	if got != minCapacity {
		t.Errorf("floor: %.0f", got)
	}
	// A few datagrams, half of them lost, say nothing.
	before = e.update(capacitySample{loss: 0, rtt: 20 * ms, minRTT: 20 * ms, rxRate: 1e6, hasData: true, sample: 700})
	if got := e.update(capacitySample{loss: 0.5, rtt: 20 * ms, minRTT: 20 * ms, rxRate: 1e3, hasData: true, sample: 2}); got != before {
		t.Errorf("a 2-datagram interval moved the estimate: %.0f -> %.0f", before, got)
	}
	// An idle link drifts back to the initial estimate.
	for range 200 {
		got = e.update(capacitySample{})
	}
	if got != initial {
		t.Errorf("idle: %.0f, want %.0f", got, float64(initial))
	}
	// Peer drops count as loss: 20% of datagrams dropped before sending is heavy loss.
	e = newEstimator(initial)
	if got := e.update(capacitySample{loss: 0.2, rxRate: 1e6, hasData: true, sample: 700}); got >= initial {
		t.Errorf("drops did not lower the estimate: %.0f", got)
	}
}
