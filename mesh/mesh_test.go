package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTenHostMesh: ten hosts that all trust each other connect, join a topic, and every
// message any of them publishes reaches the nine others, exactly once. It reports the delivery time
// (publish call to Next returning) at p50 and p99.
func TestTenHostMesh(t *testing.T) {
	const n, perHost = 10, 5
	hosts := make([]*Host, n)
	watches := make([]*events, n)
	for i := range hosts {
		hosts[i] = newHost(t)
		watches[i] = watch(hosts[i])
	}
	// Hosts join the federation one after another, as nodes do: host i and every earlier
	// host trust each other, and host i is connected to all of them before host i+1 comes.
	start := time.Now()
	for i, a := range hosts {
		for _, b := range hosts[:i] {
			trust(t, a, b)
			trust(t, b, a)
		}
		for _, b := range hosts[:i] {
			watches[i].await(t, b.ID(), true, 20*time.Second)
		}
	}
	connected := time.Since(start)
	topics := joinAll(t, "room", hosts...)
	t.Logf("%d hosts: full mesh connected in %v, topic joined in %v", n, connected.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// Two phases over the same receivers: "paced", one message every 5 ms from the hosts in
	// turn; "burst", all ten hosts publishing at the same instant, five times.
	var mu sync.Mutex
	published := make(map[string]time.Time)
	latencies := map[string][]time.Duration{}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, tp := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := make(map[string]bool)
			for len(seen) < 2*(n-1)*perHost {
				m, err := tp.Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("host %d after %d messages: %w", i, len(seen), err)
					return
				}
				now := time.Now()
				key := string(m.Data)
				if seen[key] {
					errs <- fmt.Errorf("host %d: %q delivered twice", i, key)
					return
				}
				seen[key] = true
				phase, _, _ := strings.Cut(key, "-")
				mu.Lock()
				latencies[phase] = append(latencies[phase], now.Sub(published[key]))
				mu.Unlock()
			}
		}()
	}
	publish := func(tp *Topic, key string) {
		mu.Lock()
		published[key] = time.Now()
		mu.Unlock()
		if err := tp.Publish(ctx, []byte(key)); err != nil {
			t.Error(err)
		}
	}
	for round := range perHost {
		for i, tp := range topics {
			publish(tp, fmt.Sprintf("paced-%d-%d", i, round))
			time.Sleep(5 * time.Millisecond) // pacing: the phase measures latency without queueing
		}
	}
	for round := range perHost {
		var burst sync.WaitGroup
		for i, tp := range topics {
			burst.Add(1)
			go func() {
				defer burst.Done()
				publish(tp, fmt.Sprintf("burst-%d-%d", i, round))
			}()
		}
		burst.Wait()
		time.Sleep(50 * time.Millisecond) // let one burst drain before the next
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for _, phase := range []string{"paced", "burst"} {
		l := latencies[phase]
		if want := n * (n - 1) * perHost; len(l) != want {
			t.Fatalf("%s: %d deliveries, want %d", phase, len(l), want)
		}
		slices.Sort(l)
		p := func(q float64) time.Duration { return l[int(q*float64(len(l)-1))].Round(time.Microsecond) }
		t.Logf("%s: %d deliveries: p50 %v, p99 %v, max %v", phase, len(l), p(0.5), p(0.99), p(1))
	}
}
