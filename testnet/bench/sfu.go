package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// SFUBenchOptions configures BenchSFU. Zero values mean the documented defaults.
type SFUBenchOptions struct {
	// Subscribers is how many Go subscribers receive the publisher. Default: 50.
	Subscribers int
	// Duration is how long the measurement lasts, after warm-up. Default: 20s.
	Duration time.Duration
	// Binary is the parley binary whose node is measured. Default: the running executable.
	Binary string
	// Log receives the benchmark's and its clients' logs. Default: discard.
	Log *slog.Logger
	// Out receives progress lines and, last, the result as one JSON line. Default: discard.
	Out io.Writer
	// Profile, if set, is a file to write the node's CPU profile of the measurement to (Go's
	// pprof format), and Profile+".allocs" its allocations since it started.
	Profile string
}

// SFUBenchResult is what BenchSFU measured. Its JSON form is the benchmark's output line.
type SFUBenchResult struct {
	Subscribers         int     `json:"subscribers"`
	ForwardedPPS        float64 `json:"forwarded_pps"`          // RTP packets/s the subscribers received
	CPUCoresUsed        float64 `json:"cpu_cores_used"`         // node process CPU time / wall time
	PPSPerCore          float64 `json:"pps_per_core"`           // ForwardedPPS / CPUCoresUsed
	AddedLatencyP50Ms   float64 `json:"added_latency_p50_ms"`   // publisher send -> subscriber receive
	AddedLatencyP99Ms   float64 `json:"added_latency_p99_ms"`   //
	RSSPerSubscriberMiB float64 `json:"rss_per_subscriber_mib"` // (RSS at end - RSS with the publisher alone) / N

	// Details for the progress output, not part of the JSON line.
	MetricsForwardedPPS float64       `json:"-"` // from the node's parley_forwarded_packets_total, if exported
	LatencySamples      int           `json:"-"`
	RSSPublisherOnly    uint64        `json:"-"` // bytes
	RSSEnd              uint64        `json:"-"`
	Measured            time.Duration `json:"-"`
}

// Bounds of the benchmark's waits.
const (
	benchJoinTimeout     = 20 * time.Second
	benchJoinParallel    = 8
	benchPublisherSettle = 3 * time.Second
	benchWarmupBase      = 30 * time.Second
	benchWarmupPerSub    = 300 * time.Millisecond
	benchProgressEvery   = 5 * time.Second
	benchMaxSamples      = 4 << 20
)

// BenchSFU measures the SFU of a node running in its own process: it starts `Binary init` and
// `Binary serve` on a temporary directory, creates a room, joins one publisher (Opus 32 kbit/s
// in 20 ms packets and three-layer VP8 simulcast: 320x180/15 fps/150 kbit/s,
// 640x360/20 fps/600 kbit/s, 1280x720/30 fps/2000 kbit/s) and Subscribers receive-only Go
// clients on loopback all taking the top layer, waits until every subscriber receives the top
// layer, then measures for Duration: packets forwarded per second (counted by the
// subscribers), the node process's CPU and memory (/proc), and the latency the node adds
// (subscriber receive time minus publisher send time of the same payload). It prints progress
// to Out and, last, the result as one JSON line. The node and its directory are removed on
// every path.
func BenchSFU(ctx context.Context, opts SFUBenchOptions) (SFUBenchResult, error) {
	if opts.Subscribers <= 0 {
		opts.Subscribers = 50
	}
	if opts.Duration <= 0 {
		opts.Duration = 20 * time.Second
	}
	if err := benchDefaults(&opts.Binary, &opts.Log, &opts.Out); err != nil {
		return SFUBenchResult{}, err
	}
	b := &sfuBench{opts: opts, log: opts.Log, lat: newLatencyRecorder()}
	defer b.close()
	res, err := b.run(ctx)
	if err != nil {
		return SFUBenchResult{}, err
	}
	if err := writeResult(opts.Out, res.rounded()); err != nil {
		return SFUBenchResult{}, err
	}
	return res, nil
}

type sfuBench struct {
	opts    SFUBenchOptions
	log     *slog.Logger
	lat     *latencyRecorder
	node    *benchNode
	base    string
	metrics string // the node's private metrics listener
	room    string
	pub     *client.Client
	subs    []*client.Client
}

func (b *sfuBench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Out, format+"\n", args...)
}

func (b *sfuBench) clientConfig(name string) client.Config {
	return benchClientConfig(b.base, b.room, name, b.log)
}

func (b *sfuBench) run(ctx context.Context) (SFUBenchResult, error) {
	var err error
	b.progress("starting node: %s serve (own process)", b.opts.Binary)
	// The room takes everyone the benchmark brings, and so does the node from one address.
	n := b.opts.Subscribers
	set := map[string]any{"max_participants_per_room": max(100, n+1), "max_sessions_per_address": max(100, n+10)}
	if b.opts.Profile != "" {
		set["metrics_pprof"] = true
	}
	if b.node, err = startBenchNode(ctx, b.opts.Binary, "bench", b.log, set); err != nil {
		return SFUBenchResult{}, err
	}
	if b.base, b.room, err = b.node.createRoom(ctx); err != nil {
		return SFUBenchResult{}, err
	}
	if b.metrics, err = b.node.metricsBase(ctx); err != nil {
		return SFUBenchResult{}, err
	}
	pid := b.node.pid()
	b.progress("node pid %d at %s, room %s", pid, b.base, b.room)

	// The publisher alone.
	cfg := b.clientConfig("publisher")
	cfg.Publish = client.Publish{Audio: true, Video: true, Simulcast: true}
	cfg.OnPacketSent = b.lat.sent
	jctx, cancel := context.WithTimeout(ctx, benchJoinTimeout)
	b.pub, err = client.Join(jctx, cfg)
	cancel()
	if err != nil {
		return SFUBenchResult{}, fmt.Errorf("bench: publisher join: %w", err)
	}
	if err := b.sleep(ctx, benchPublisherSettle); err != nil {
		return SFUBenchResult{}, err
	}
	var res SFUBenchResult
	if res.RSSPublisherOnly, err = procRSS(pid); err != nil {
		return SFUBenchResult{}, err
	}
	b.progress("publisher joined; node RSS %.1f MiB", mib(res.RSSPublisherOnly))

	if err := b.joinSubscribers(ctx); err != nil {
		return SFUBenchResult{}, err
	}
	if err := b.warmUp(ctx); err != nil {
		return SFUBenchResult{}, err
	}

	// Measure.
	cpu0, err := procCPU(pid)
	if err != nil {
		return SFUBenchResult{}, err
	}
	m0, merr := ScrapeMetrics(b.metrics)
	pkts0 := b.received()
	t0 := time.Now()
	b.lat.start()
	b.progress("measuring for %v", b.opts.Duration)
	profiled := make(chan error, 1)
	if b.opts.Profile != "" {
		go func() { profiled <- fetchProfile(ctx, b.metrics, b.opts.Duration, b.opts.Profile) }()
	}
	end := t0.Add(b.opts.Duration)
	for time.Now().Before(end) {
		step := min(benchProgressEvery, time.Until(end))
		if err := b.sleep(ctx, step); err != nil {
			return SFUBenchResult{}, err
		}
		if el := time.Since(t0); el < b.opts.Duration-time.Second {
			b.progress("  %3.0fs: %.0f packets/s forwarded", el.Seconds(), float64(b.received()-pkts0)/el.Seconds())
		}
	}
	pkts1 := b.received()
	cpu1, err := procCPU(pid)
	if err != nil {
		return SFUBenchResult{}, err
	}
	wall := time.Since(t0)
	b.lat.stop()
	m1, merr1 := ScrapeMetrics(b.metrics)
	if res.RSSEnd, err = procRSS(pid); err != nil {
		return SFUBenchResult{}, err
	}
	if b.opts.Profile != "" {
		if err := <-profiled; err != nil {
			return SFUBenchResult{}, err
		}
		if err := fetchProfile(ctx, b.metrics, 0, b.opts.Profile+".allocs"); err != nil {
			return SFUBenchResult{}, err
		}
		b.progress("node profiles written to %s and %s.allocs", b.opts.Profile, b.opts.Profile)
	}

	res.Subscribers = n
	res.Measured = wall
	res.ForwardedPPS = float64(pkts1-pkts0) / wall.Seconds()
	res.CPUCoresUsed = (cpu1 - cpu0).Seconds() / wall.Seconds()
	if res.CPUCoresUsed > 0 {
		res.PPSPerCore = res.ForwardedPPS / res.CPUCoresUsed
	}
	res.AddedLatencyP50Ms, res.AddedLatencyP99Ms, res.LatencySamples = b.lat.percentiles()
	res.RSSPerSubscriberMiB = (mib(res.RSSEnd) - mib(res.RSSPublisherOnly)) / float64(n)
	if merr == nil && merr1 == nil {
		const name = "parley_forwarded_packets_total"
		if _, ok := m1[name]; ok || len(m1.Names(func(s string) bool { return s == name })) > 0 {
			res.MetricsForwardedPPS = (m1.Sum(name) - m0.Sum(name)) / wall.Seconds()
			b.progress("node /metrics: %s rose at %.0f/s (subscribers counted %.0f/s)", name,
				res.MetricsForwardedPPS, res.ForwardedPPS)
		}
	}
	b.progress("measured %v: node CPU %.3f cores, RSS %.1f -> %.1f MiB, %d latency samples (%d unmatched)",
		wall.Round(time.Millisecond), res.CPUCoresUsed, mib(res.RSSPublisherOnly), mib(res.RSSEnd),
		res.LatencySamples, b.lat.unmatched())
	if res.ForwardedPPS == 0 {
		return res, errors.New("bench: the subscribers received nothing while measuring")
	}
	return res, nil
}

// joinSubscribers joins the receive-only subscribers, a few at a time.
func (b *sfuBench) joinSubscribers(ctx context.Context) error {
	var err error
	b.subs, err = joinBenchClients(ctx, b.opts.Subscribers, func(i int) client.Config {
		cfg := b.clientConfig(fmt.Sprintf("sub-%03d", i))
		cfg.OnPacketReceived = b.lat.received
		return cfg
	})
	if err != nil {
		return err
	}
	b.progress("%d subscribers joined", len(b.subs))
	return nil
}

// warmUp waits until every subscriber receives the publisher's top layer.
func (b *sfuBench) warmUp(ctx context.Context) error {
	return waitTopLayer(ctx, b.subs, b.pub.ID(), b.sleep, b.progress)
}

// received is the number of RTP packets all subscribers have received so far.
func (b *sfuBench) received() uint64 { return receivedPackets(b.subs) }

// sleep waits d unless ctx ends or the node dies first.
func (b *sfuBench) sleep(ctx context.Context, d time.Duration) error {
	return benchSleep(ctx, d, b.node)
}

func (b *sfuBench) close() {
	closeClients(append([]*client.Client{b.pub}, b.subs...))
	if b.node != nil {
		b.node.Close()
	}
}

// rounded keeps sensible precision for the output line.
func (r SFUBenchResult) rounded() SFUBenchResult {
	r.ForwardedPPS = round(r.ForwardedPPS, 1)
	r.CPUCoresUsed = round(r.CPUCoresUsed, 3)
	r.PPSPerCore = round(r.PPSPerCore, 0)
	r.AddedLatencyP50Ms = round(r.AddedLatencyP50Ms, 3)
	r.AddedLatencyP99Ms = round(r.AddedLatencyP99Ms, 3)
	r.RSSPerSubscriberMiB = round(r.RSSPerSubscriberMiB, 3)
	return r
}

// round rounds v to places decimal places.
func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// latencyRecorder matches packets sent (by the publisher: top layer and audio; or, for a
// cascade hop, received by a reference subscriber) with the same payloads received by
// subscribers. The SFU rewrites SSRC, sequence numbers and timestamps, and may rewrite the VP8
// descriptor, but not the codec payload, so a hash of client.PayloadBody identifies a packet.
// Sent hashes are kept for two generations of latencyKeep each, long enough for any delivery
// and short enough that the clips' loops (seconds apart) never match the wrong send. A
// receive seen before its send (a reference subscriber scheduled later than a far one) waits
// as long for it, and its sample is negative. With firstOnly, only the first send and the
// first receive of each packet count (each node's first delivery of it, across a cascade hop).
type latencyRecorder struct {
	seed      maphash.Seed
	on        atomic.Bool
	firstOnly bool

	mu               sync.Mutex
	cur, prev        map[uint64]time.Time
	early, earlyPrev map[uint64][]time.Time // receives whose send has not been seen yet
	done, donePrev   map[uint64]bool        // with firstOnly: packets already sampled
	rotated          time.Time
	samples          []float64 // milliseconds
	expired          int       // early receives whose send never came
}

const latencyKeep = time.Second

func newLatencyRecorder() *latencyRecorder {
	return &latencyRecorder{seed: maphash.MakeSeed(), cur: map[uint64]time.Time{}, prev: map[uint64]time.Time{},
		early: map[uint64][]time.Time{}, earlyPrev: map[uint64][]time.Time{},
		done: map[uint64]bool{}, donePrev: map[uint64]bool{}, rotated: time.Now()}
}

// newFirstLatencyRecorder is a latencyRecorder that counts only the first receive of each
// packet.
func newFirstLatencyRecorder() *latencyRecorder {
	l := newLatencyRecorder()
	l.firstOnly = true
	return l
}

func (l *latencyRecorder) start() { l.on.Store(true) }
func (l *latencyRecorder) stop()  { l.on.Store(false) }

func (l *latencyRecorder) sent(e client.PacketEvent) {
	if e.RID != "" && e.RID != signal.RIDHigh {
		return // subscribers take the top layer only
	}
	h := maphash.Bytes(l.seed, client.PayloadBody(e.Kind, e.Payload))
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Time.Sub(l.rotated) > latencyKeep {
		for _, ts := range l.earlyPrev {
			l.expired += len(ts)
		}
		l.prev, l.cur, l.rotated = l.cur, make(map[uint64]time.Time, len(l.cur)), e.Time
		l.earlyPrev, l.early = l.early, map[uint64][]time.Time{}
		l.donePrev, l.done = l.done, map[uint64]bool{}
	}
	if at, ok := l.cur[h]; !ok || !l.firstOnly || e.Time.Before(at) {
		l.cur[h] = e.Time // with firstOnly, the first send of a packet
	}
	for _, m := range []map[uint64][]time.Time{l.early, l.earlyPrev} {
		for _, at := range m[h] {
			l.add(h, at.Sub(e.Time))
		}
		delete(m, h)
	}
}

func (l *latencyRecorder) received(e client.PacketEvent) {
	if !l.on.Load() {
		return
	}
	h := maphash.Bytes(l.seed, client.PayloadBody(e.Kind, e.Payload))
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.cur[h]
	if !ok {
		at, ok = l.prev[h]
	}
	if !ok {
		switch {
		case l.firstOnly && len(l.early[h]) > 0:
			if e.Time.Before(l.early[h][0]) {
				l.early[h][0] = e.Time
			}
		case len(l.early) < benchMaxSamples:
			l.early[h] = append(l.early[h], e.Time)
		}
		return
	}
	l.add(h, e.Time.Sub(at))
}

// add records the sample d of packet h, unless firstOnly and h was sampled; l.mu is held.
func (l *latencyRecorder) add(h uint64, d time.Duration) {
	if l.firstOnly {
		if l.done[h] || l.donePrev[h] {
			return
		}
		l.done[h] = true
	}
	if len(l.samples) < benchMaxSamples {
		l.samples = append(l.samples, float64(d)/float64(time.Millisecond))
	}
}

// unmatched is the number of receives whose send was not seen (yet).
func (l *latencyRecorder) unmatched() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.expired
	for _, m := range []map[uint64][]time.Time{l.early, l.earlyPrev} {
		for _, ts := range m {
			n += len(ts)
		}
	}
	return n
}

// percentiles returns the 50th and 99th percentile latencies in milliseconds and the number
// of samples.
func (l *latencyRecorder) percentiles() (p50, p99 float64, n int) {
	l.mu.Lock()
	s := append([]float64(nil), l.samples...)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), len(s)
}

// fetchProfile writes the node's CPU profile over d (or, with d 0, its allocations profile)
// from its metrics listener (metrics_pprof) to path.
func fetchProfile(ctx context.Context, metricsBase string, d time.Duration, path string) error {
	u := metricsBase + "/debug/pprof/allocs"
	if d > 0 {
		u = fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsBase, int(d.Round(time.Second)/time.Second))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: node profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: node profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("bench: node profile: %w", err)
	}
	return f.Close()
}
