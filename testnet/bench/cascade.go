package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// CascadeBenchOptions configures BenchCascade. Zero values mean the documented defaults.
type CascadeBenchOptions struct {
	// Subscribers is how many Go subscribers receive the publisher on each node. Default: 10.
	Subscribers int
	// Duration is how long the measurement lasts, after warm-up. Default: 20s.
	Duration time.Duration
	// Binary is the parley binary whose nodes are measured. Default: the running executable.
	Binary string
	// Log receives the benchmark's and its clients' logs. Default: discard.
	Log *slog.Logger
	// Out receives progress lines and, last, the result as one JSON line. Default: discard.
	Out io.Writer
}

// CascadeBenchResult is what BenchCascade measured. Its JSON form is the benchmark's output
// line; the four figures the cascade is judged by come first.
type CascadeBenchResult struct {
	HopP50Ms                float64       `json:"hop_p50_ms"`                  // first far receive - first near receive
	HopP99Ms                float64       `json:"hop_p99_ms"`                  //
	PPSPerCore              float64       `json:"pps_per_core"`                // far node: forwarded pps / its CPU cores
	LinkCopiesPerTrackLayer float64       `json:"link_copies_per_track_layer"` // link datagrams / packets of the subscribed layers
	Subscribers             int           `json:"subscribers"`
	ForwardedPPS            float64       `json:"forwarded_pps"`     // RTP packets/s the far node's subscribers received
	FarCPUCores             float64       `json:"far_cpu_cores"`     // far node process CPU time / wall time
	NearCPUCores            float64       `json:"near_cpu_cores"`    // publishing node process CPU time / wall time
	LinkPPS                 float64       `json:"link_pps"`          // media datagrams/s from the near to the far node
	EndToEndP50Ms           float64       `json:"end_to_end_p50_ms"` // publisher send -> every far subscriber receive
	EndToEndP99Ms           float64       `json:"end_to_end_p99_ms"` //
	LinkLayers              int           `json:"link_layers"`       // (track, layer) pairs subscribed on the link
	LinkRetransmits         uint64        `json:"link_retransmits"`  // packets resent on the link while measuring
	HopSamples              int           `json:"-"`
	Measured                time.Duration `json:"-"`
}

// BenchCascade measures one cascade hop between two nodes, each running in its own process
// (`Binary init` and `Binary serve` on temporary directories, everything on loopback): it
// federates them with `federation invite` and `federation join`, creates a room on the near
// node, joins there a publisher (Opus and three-layer VP8 simulcast, as BenchSFU), and
// Subscribers receive-only Go clients on each node, all taking the top layer. Once every
// subscriber receives 1280x720 it measures for Duration:
//   - the hop: for each packet, the time the first far subscriber receives it minus the time
//     the first near subscriber does. Each node fans the packet out to as many subscribers,
//     so the difference is what being on the far node costs: the near node's send on the
//     link, the link and the far node's receive from it. The end-to-end figures (publisher to
//     every far subscriber) add the fan-out, as BenchSFU measures it;
//   - the far node's forwarding rate per core of its process's CPU (it receives from the
//     cascade and fans out to its subscribers);
//   - copies per (track, layer): media datagrams the near node sent on the link (less
//     retransmissions, from its /metrics) over the publisher's packets of the subscribed
//     layers (audio and the top video layer).
//
// It prints progress to Out and, last, the result as one JSON line. The nodes and their
// directories are removed on every path.
func BenchCascade(ctx context.Context, opts CascadeBenchOptions) (CascadeBenchResult, error) {
	if opts.Subscribers <= 0 {
		opts.Subscribers = 10
	}
	if opts.Duration <= 0 {
		opts.Duration = 20 * time.Second
	}
	if err := benchDefaults(&opts.Binary, &opts.Log, &opts.Out); err != nil {
		return CascadeBenchResult{}, err
	}
	b := &cascadeBench{opts: opts, log: opts.Log, hop: newFirstLatencyRecorder(), e2e: newLatencyRecorder()}
	defer b.close()
	res, err := b.run(ctx)
	if err != nil {
		return CascadeBenchResult{}, err
	}
	if err := writeResult(opts.Out, res.rounded()); err != nil {
		return CascadeBenchResult{}, err
	}
	return res, nil
}

type cascadeBench struct {
	opts      CascadeBenchOptions
	log       *slog.Logger
	hop, e2e  *latencyRecorder
	near, far *benchNode
	nearBase  string
	nearStats string // the near node's private metrics listener
	farBase   string
	room      string
	pub       *client.Client
	nearSubs  []*client.Client
	subs      []*client.Client // on the far node
	layerSent atomic.Uint64    // the publisher's packets of audio and the top video layer
}

func (b *cascadeBench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Out, format+"\n", args...)
}

func (b *cascadeBench) run(ctx context.Context) (CascadeBenchResult, error) {
	if err := b.startNodes(ctx); err != nil {
		return CascadeBenchResult{}, err
	}
	if err := b.joinNear(ctx); err != nil {
		return CascadeBenchResult{}, err
	}
	if err := b.joinFar(ctx); err != nil {
		return CascadeBenchResult{}, err
	}
	all := append(append([]*client.Client(nil), b.nearSubs...), b.subs...)
	if err := waitTopLayer(ctx, all, b.pub.ID(), b.sleep, b.progress); err != nil {
		return CascadeBenchResult{}, err
	}
	return b.measure(ctx)
}

// startNodes starts the near and far nodes, federates them and creates the room on the near
// node.
func (b *cascadeBench) startNodes(ctx context.Context) error {
	var err error
	b.progress("starting two nodes: %s serve (own processes)", b.opts.Binary)
	if b.near, err = startBenchNode(ctx, b.opts.Binary, "bench near", b.log, nil); err != nil {
		return err
	}
	if b.far, err = startBenchNode(ctx, b.opts.Binary, "bench far", b.log, nil); err != nil {
		return err
	}
	if b.nearBase, b.room, err = b.near.createRoom(ctx); err != nil {
		return err
	}
	if b.nearStats, err = b.near.metricsBase(ctx); err != nil {
		return err
	}
	// The far node's own base URL, from a room of its own (unused).
	if b.farBase, _, err = b.far.createRoom(ctx); err != nil {
		return err
	}
	if err := federatePair(ctx, b.near, b.far); err != nil {
		return err
	}
	b.progress("near node pid %d at %s, far node pid %d at %s, federated; room %s",
		b.near.pid(), b.nearBase, b.far.pid(), b.farBase, b.room)
	return nil
}

func (b *cascadeBench) clientConfig(base, name string) client.Config {
	return benchClientConfig(base, b.room, name, b.log)
}

// joinNear joins the publisher and the near subscribers.
func (b *cascadeBench) joinNear(ctx context.Context) error {
	cfg := b.clientConfig(b.nearBase, "publisher")
	cfg.Publish = client.Publish{Audio: true, Video: true, Simulcast: true}
	cfg.OnPacketSent = func(e client.PacketEvent) {
		b.e2e.sent(e)
		if e.RID == "" || e.RID == signal.RIDHigh {
			b.layerSent.Add(1)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, benchJoinTimeout)
	defer cancel()
	var err error
	if b.pub, err = client.Join(jctx, cfg); err != nil {
		return fmt.Errorf("bench: publisher join: %w", err)
	}
	b.nearSubs, err = joinBenchClients(ctx, b.opts.Subscribers, func(i int) client.Config {
		c := b.clientConfig(b.nearBase, fmt.Sprintf("near-%03d", i))
		c.OnPacketReceived = b.hop.sent // the near node's first delivery of each packet
		return c
	})
	if err != nil {
		return err
	}
	b.progress("publisher and %d subscribers joined the near node", len(b.nearSubs))
	return nil
}

// joinFar joins the subscribers on the far node, once it knows the room from federation.
func (b *cascadeBench) joinFar(ctx context.Context) error {
	cfg := func(i int) client.Config {
		c := b.clientConfig(b.farBase, fmt.Sprintf("far-%03d", i))
		c.OnPacketReceived = func(e client.PacketEvent) {
			b.hop.received(e)
			b.e2e.received(e)
		}
		return c
	}
	var first []*client.Client
	err := Poll(benchReadyTimeout, func() error {
		if err := errors.Join(b.near.alive(), b.far.alive()); err != nil {
			return err
		}
		var err error
		first, err = joinBenchClients(ctx, 1, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: the far node did not admit a subscriber to the near node's room: %w", err)
	}
	rest, err := joinBenchClients(ctx, b.opts.Subscribers-1, func(i int) client.Config { return cfg(i + 1) })
	b.subs = append(first, rest...)
	if err != nil {
		return err
	}
	b.progress("%d subscribers joined the far node", len(b.subs))
	return nil
}

func (b *cascadeBench) measure(ctx context.Context) (CascadeBenchResult, error) {
	nearPID, farPID := b.near.pid(), b.far.pid()
	link := func() (datagrams, retransmits, layers float64, err error) {
		m, err := ScrapeMetrics(b.nearStats)
		if err != nil {
			return 0, 0, 0, err
		}
		return m.SumWhere("parley_cascade_datagrams_total", "direction", "out"),
			m.SumWhere("parley_cascade_retransmits_total", "direction", "out"),
			m.SumWhere("parley_cascade_layers", "direction", "out"), nil
	}
	farCPU0, err := procCPU(farPID)
	if err != nil {
		return CascadeBenchResult{}, err
	}
	nearCPU0, err := procCPU(nearPID)
	if err != nil {
		return CascadeBenchResult{}, err
	}
	dg0, rt0, _, err := link()
	if err != nil {
		return CascadeBenchResult{}, err
	}
	sent0, pkts0 := b.layerSent.Load(), receivedPackets(b.subs)
	t0 := time.Now()
	b.hop.start()
	b.e2e.start()
	b.progress("measuring for %v", b.opts.Duration)
	end := t0.Add(b.opts.Duration)
	for time.Now().Before(end) {
		if err := b.sleep(ctx, min(benchProgressEvery, time.Until(end))); err != nil {
			return CascadeBenchResult{}, err
		}
		if el := time.Since(t0); el < b.opts.Duration-time.Second {
			b.progress("  %3.0fs: %.0f packets/s forwarded by the far node", el.Seconds(),
				float64(receivedPackets(b.subs)-pkts0)/el.Seconds())
		}
	}
	sent1, pkts1 := b.layerSent.Load(), receivedPackets(b.subs)
	farCPU1, err := procCPU(farPID)
	if err != nil {
		return CascadeBenchResult{}, err
	}
	nearCPU1, err := procCPU(nearPID)
	if err != nil {
		return CascadeBenchResult{}, err
	}
	wall := time.Since(t0)
	b.hop.stop()
	b.e2e.stop()
	dg1, rt1, layers, err := link()
	if err != nil {
		return CascadeBenchResult{}, err
	}

	res := CascadeBenchResult{Subscribers: len(b.subs), Measured: wall, LinkLayers: int(layers),
		LinkRetransmits: uint64(rt1 - rt0)}
	res.ForwardedPPS = float64(pkts1-pkts0) / wall.Seconds()
	res.FarCPUCores = (farCPU1 - farCPU0).Seconds() / wall.Seconds()
	res.NearCPUCores = (nearCPU1 - nearCPU0).Seconds() / wall.Seconds()
	if res.FarCPUCores > 0 {
		res.PPSPerCore = res.ForwardedPPS / res.FarCPUCores
	}
	crossed := (dg1 - dg0) - (rt1 - rt0)
	res.LinkPPS = (dg1 - dg0) / wall.Seconds()
	if sent := sent1 - sent0; sent > 0 {
		res.LinkCopiesPerTrackLayer = crossed / float64(sent)
	}
	res.HopP50Ms, res.HopP99Ms, res.HopSamples = b.hop.percentiles()
	res.EndToEndP50Ms, res.EndToEndP99Ms, _ = b.e2e.percentiles()
	b.progress("measured %v: publisher sent %d packets of the subscribed layers, %.0f crossed the link "+
		"(%d retransmitted), %d (track, layer) pairs on it; far node CPU %.3f cores, near %.3f; %d hop samples (%d unmatched)",
		wall.Round(time.Millisecond), sent1-sent0, crossed, res.LinkRetransmits, res.LinkLayers,
		res.FarCPUCores, res.NearCPUCores, res.HopSamples, b.hop.unmatched())
	if res.ForwardedPPS == 0 {
		return res, errors.New("bench: the far node's subscribers received nothing while measuring")
	}
	if res.HopSamples == 0 {
		return res, errors.New("bench: no packet was seen by both the near and the far subscribers")
	}
	return res, nil
}

// sleep waits d unless ctx ends or a node dies first.
func (b *cascadeBench) sleep(ctx context.Context, d time.Duration) error {
	return benchSleep(ctx, d, b.near, b.far)
}

func (b *cascadeBench) close() {
	closeClients(append(append([]*client.Client{b.pub}, b.nearSubs...), b.subs...))
	for _, n := range []*benchNode{b.near, b.far} {
		if n != nil {
			n.Close()
		}
	}
}

// rounded keeps sensible precision for the output line.
func (r CascadeBenchResult) rounded() CascadeBenchResult {
	r.HopP50Ms = round(r.HopP50Ms, 3)
	r.HopP99Ms = round(r.HopP99Ms, 3)
	r.PPSPerCore = round(r.PPSPerCore, 0)
	r.LinkCopiesPerTrackLayer = round(r.LinkCopiesPerTrackLayer, 3)
	r.ForwardedPPS = round(r.ForwardedPPS, 1)
	r.FarCPUCores = round(r.FarCPUCores, 3)
	r.NearCPUCores = round(r.NearCPUCores, 3)
	r.LinkPPS = round(r.LinkPPS, 1)
	r.EndToEndP50Ms = round(r.EndToEndP50Ms, 3)
	r.EndToEndP99Ms = round(r.EndToEndP99Ms, 3)
	return r
}
