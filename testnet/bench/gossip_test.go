package bench

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseProcStatusField(t *testing.T) {
	status := []byte("Name:\tparley\nVmPeak:\t 2097152 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n")
	for field, want := range map[string]uint64{"VmHWM": 200 << 20, "VmRSS": 100 << 20} {
		if got, err := parseProcStatusField(status, field); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", field, got, err, want)
		}
	}
	for _, bad := range []string{"VmRSS:\t12\n", "VmRSS:\tx kB\n", "VmRSS:\t12 MB\n", "Name:\tx\n"} {
		if _, err := parseProcStatusField([]byte(bad), "VmRSS"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// A field is matched whole: VmRSS is not taken from a line VmRSSx.
	if _, err := parseProcStatusField([]byte("VmRSSx:\t1 kB\n"), "VmRSS"); err == nil {
		t.Error("matched a longer field name")
	}
}

func TestGossipQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond) // unsorted
	}
	if p50, p99 := quantileMs(ds, 0.50), quantileMs(ds, 0.99); p50 != 51 || p99 != 100 {
		t.Errorf("p50 %v, p99 %v; want 51 and 100", p50, p99)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("quantileMs sorted its argument")
	}
	if got := quantileMs([]time.Duration{1234567 * time.Nanosecond}, 0.5); got != 1.2 {
		t.Errorf("rounding: %v, want 1.2", got)
	}
	if got := quantileMs(nil, 0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestGossipParallel(t *testing.T) {
	var running, peak, calls atomic.Int32
	boom := errors.New("boom")
	err := gossipParallel(20, 3, func(i int) error {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		if i == 7 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 20 || peak.Load() > 3 {
		t.Errorf("err %v, %d calls, %d at once; want boom, 20, at most 3", err, calls.Load(), peak.Load())
	}
}
