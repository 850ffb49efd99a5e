package federation

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkConvergence measures, across N in-process nodes on loopback, how long a room-state
// change takes to be applied on every other node (per node: p50/p99; per change: the
// slowest node), and how long all nodes take to hold the same log after a 50|50 partition
// heals. It shows how `parley bench gossip` is built on SetParticipants, Append, WaitState
// and WaitEntries.
//
//	go test ./federation -run '^$' -bench Convergence -benchtime 50x
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchConvergence(b, n) })
	}
}

func benchConvergence(b *testing.B, n int) {
	log := testLogger(b, slog.LevelError)
	nodes := startNodes(b, log, n, nil)
	federate(b, nodes...)
	connectedAll(b, nodes)
	room, err := nodes[0].fed.CreateRoom(RoomSpec{Title: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	versions := map[peer.ID]uint64{}
	for _, nd := range nodes {
		if err := nd.fed.WaitRoom(ctxTimeout(b, 30*time.Second), room.ID); err != nil {
			b.Fatal(err)
		}
		v, err := nd.fed.SetParticipants(room.ID, []Participant{participant("p-"+nd.name, nd.name)})
		if err != nil {
			b.Fatal(err)
		}
		versions[nd.id()] = v
	}
	for _, nd := range nodes {
		for id, v := range versions {
			if err := nd.fed.WaitState(ctxTimeout(b, 30*time.Second), room.ID, id, v); err != nil {
				b.Fatal(err)
			}
		}
	}

	var perNode, perChange []time.Duration
	b.ResetTimer()
	for i := range b.N {
		src := nodes[i%n]
		start := time.Now()
		v, err := src.fed.SetParticipants(room.ID, []Participant{participant("p-"+src.name, fmt.Sprintf("%s %d", src.name, i))})
		if err != nil {
			b.Fatal(err)
		}
		lat := waitEverywhere(b, nodes, src, func(nd *testNode) error {
			return nd.fed.WaitState(ctxTimeout(b, 30*time.Second), room.ID, src.id(), v)
		}, start)
		perNode = append(perNode, lat...)
		perChange = append(perChange, slices.Max(lat))
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(perNode, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(perNode, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(perChange, 99)), "slowest-p99-ms")

	// Partition in halves, 5 entries per node on each side, heal, wait for every log.
	left, right := nodes[:n/2], nodes[n/2:]
	cut(left, right)
	seqs := map[peer.ID]uint64{}
	for _, nd := range nodes {
		var last Entry
		for k := range 5 {
			if last, err = nd.fed.Append(room.ID, "chat", chatData(nd.name, k)); err != nil {
				b.Fatal(err)
			}
		}
		seqs[nd.id()] = last.Seq
	}
	start := time.Now()
	heal(left, right)
	var wg sync.WaitGroup
	for _, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id, s := range seqs {
				if err := nd.fed.WaitEntries(ctxTimeout(b, 60*time.Second), room.ID, id, s); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(ms(time.Since(start)), "heal-ms")
}

// waitEverywhere runs wait on every node but src and returns how long after start each
// returned.
func waitEverywhere(b *testing.B, nodes []*testNode, src *testNode, wait func(*testNode) error, start time.Time) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	for _, nd := range nodes {
		if nd == src {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := wait(nd); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(start)
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return out
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
