package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// GossipBenchOptions configures BenchGossip. Zero values mean the documented defaults.
type GossipBenchOptions struct {
	// Nodes is how many nodes are federated. Default: 10.
	Nodes int
	// Full runs full nodes (node.Node: store, HTTP, signalling, SFU, media cascade, libp2p),
	// whose participants join over signalling. Otherwise each node is the federation part of
	// one — its libp2p host, federation and badger store, configured as the node configures
	// them — which publishes its participants as the node does on a join; 50 full nodes with
	// every pair linked by the media cascade do not fit on two cores.
	Full bool
	// Changes is how many room-state changes are measured, one after the other. Default: 30.
	Changes int
	// Chats is how many chat messages each node's participant sends during the partition.
	// Default: 5.
	Chats int
	// Log receives the nodes' logs. Default: discard.
	Log *slog.Logger
	// Out receives progress lines, a table and, last, the result as one JSON line. Default:
	// discard.
	Out io.Writer
}

// GossipBenchResult is what BenchGossip measured. Its JSON form is the benchmark's output
// line.
type GossipBenchResult struct {
	Nodes         int     `json:"nodes"`
	ConvergeP50Ms float64 `json:"converge_p50_ms"` // a change on one node -> held by another, over every (change, node)
	ConvergeP99Ms float64 `json:"converge_p99_ms"` //
	HealMs        float64 `json:"heal_ms"`         // partition healed -> every node holds every state record and log entry
	// A participant's action (its join sent) -> another node holds the record it changed,
	// over every (change, node): the source node's own work (signalling, the meeting, the
	// coalesced publish) and the gossip together.
	ActionP50Ms float64 `json:"action_p50_ms"`
	ActionP99Ms float64 `json:"action_p99_ms"`

	// Details for the table, not part of the JSON line.
	SlowestP50Ms float64       `json:"-"` // per change, the last node to hold it
	SlowestP99Ms float64       `json:"-"`
	Samples      int           `json:"-"` // (change, node) pairs measured
	Start        time.Duration `json:"-"` // starting the nodes
	Federate     time.Duration `json:"-"` // every pair federated and connected
	Entries      int           `json:"-"` // log entries every node holds at the end
	HealP50Ms    float64       `json:"-"` // the median node's heal time
	Relinked     time.Duration `json:"-"` // partition healed -> every link between the halves up again
	RSSNodes     uint64        `json:"-"` // process RSS growth from starting the nodes to the end of setup, bytes
	PeakRSS      uint64        `json:"-"` // the process's peak RSS (VmHWM), bytes
	CPU          time.Duration `json:"-"` // the process's CPU time over the run
	Wall         time.Duration `json:"-"`
}

// Bounds of the gossip benchmark.
const (
	gossipStartParallel  = 8
	gossipJoinParallel   = 16
	gossipSetupTimeout   = 3 * time.Minute  // starting, federating, connecting, the room, the first participants
	gossipChangeTimeout  = 30 * time.Second // one change held everywhere
	gossipHealTimeout    = 2 * time.Minute
	gossipInviteLifetime = 10 * time.Minute
	gossipPollEvery      = 20 * time.Millisecond
)

// BenchGossip measures how room state spreads through a federation of Nodes nodes in this
// process, on loopback, each with its own data directory: full nodes (Full: node.Node, as
// deployed, federated by invite, with participants joining over signalling) or the federation
// parts of nodes (libp2p host, federation and badger store as the node configures them,
// federated by exchanging signed node records as a redeemed invite does, publishing their
// participants with SetParticipants as the node does on a join). It federates every pair,
// creates a room and has one participant on every node. Then:
//
//   - convergence: Changes times, a new participant joins on a random node; for each other
//     node, the time from the source applying its new state record to that node holding it;
//   - partition: the nodes are split in halves (every link between them blocked both ways);
//     on every node a participant joins and Chats chat messages are sent; once each half
//     agrees, the links are restored and heal is the time until every node holds every
//     node's latest state record and every log entry. The logs are then checked to be the
//     same, in the same order, on every node.
//
// It prints progress and a table to Out and, last, the result as one JSON line. The nodes
// and their directories are removed on every path.
func BenchGossip(ctx context.Context, opts GossipBenchOptions) (GossipBenchResult, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 10
	}
	if opts.Nodes < 2 {
		return GossipBenchResult{}, errors.New("bench: gossip needs at least 2 nodes")
	}
	if opts.Changes <= 0 {
		opts.Changes = 30
	}
	if opts.Chats <= 0 {
		opts.Chats = 5
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	dir, err := os.MkdirTemp("", "parley-bench-gossip-")
	if err != nil {
		return GossipBenchResult{}, fmt.Errorf("bench: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	b := &gossipBench{opts: opts, dir: dir, rng: rand.New(rand.NewPCG(1, uint64(opts.Nodes)))}
	defer b.close()
	res, err := b.run(ctx)
	if err != nil {
		return GossipBenchResult{}, err
	}
	b.table(res)
	line, err := json.Marshal(res)
	if err != nil {
		return GossipBenchResult{}, fmt.Errorf("bench: encode result: %w", err)
	}
	fmt.Fprintf(opts.Out, "%s\n", line)
	return res, nil
}

type gossipBench struct {
	opts  GossipBenchOptions
	dir   string
	rng   *rand.Rand
	nodes []*gossipNode
	room  string
}

// gossipNode is one node of the benchmark.
type gossipNode struct {
	name   string
	p      gossipPeer
	id     peer.ID
	joined int    // participants joined through it
	chats  uint64 // chat messages its participants sent, so its own log's last seq
}

func (b *gossipBench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Out, format+"\n", args...)
}

func (b *gossipBench) run(ctx context.Context) (GossipBenchResult, error) {
	res := GossipBenchResult{Nodes: b.opts.Nodes}
	cpu0, _ := procCPU(os.Getpid())
	rss0, _ := procStatusBytes("VmRSS")
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, gossipSetupTimeout)
	defer cancel()

	b.progress("starting %d nodes in this process", b.opts.Nodes)
	if err := b.startNodes(sctx); err != nil {
		return res, err
	}
	res.Start = time.Since(t0)
	t1 := time.Now()
	pairs := b.opts.Nodes * (b.opts.Nodes - 1) / 2
	b.progress("  started in %.1f s; federating %d pairs", res.Start.Seconds(), pairs)
	if err := b.federate(sctx); err != nil {
		return res, err
	}
	if err := b.waitLinks(sctx, b.nodes, b.nodes, true); err != nil {
		return res, err
	}
	res.Federate = time.Since(t1)
	b.progress("  federated and connected in %.1f s", res.Federate.Seconds())

	var err error
	if b.room, err = b.nodes[0].p.createRoom("Gossip bench"); err != nil {
		return res, err
	}
	for _, g := range b.nodes {
		if err := g.p.federation().WaitRoom(sctx, b.room); err != nil {
			return res, fmt.Errorf("bench: room in %s's directory: %w", g.name, err)
		}
	}
	err = gossipParallel(len(b.nodes), gossipJoinParallel, func(i int) error {
		_, err := b.join(sctx, b.nodes[i])
		return err
	})
	if err != nil {
		return res, err
	}
	if err := b.converged(sctx, b.nodes, b.nodes); err != nil {
		return res, err
	}
	rss1, _ := procStatusBytes("VmRSS")
	res.RSSNodes = rss1 - min(rss0, rss1)
	b.progress("  room %s: one participant on every node; RSS %.0f MiB (%.1f MiB per node)",
		b.room, mib(rss1), mib(res.RSSNodes)/float64(b.opts.Nodes))

	if err := b.convergence(ctx, &res); err != nil {
		return res, err
	}
	if err := b.partition(ctx, &res); err != nil {
		return res, err
	}
	res.Wall = time.Since(t0)
	if cpu1, err := procCPU(os.Getpid()); err == nil {
		res.CPU = cpu1 - cpu0
	}
	res.PeakRSS, _ = procStatusBytes("VmHWM")
	return res, nil
}

// startNodes initialises and starts the nodes, a few at a time.
func (b *gossipBench) startNodes(ctx context.Context) error {
	b.nodes = make([]*gossipNode, b.opts.Nodes)
	return gossipParallel(b.opts.Nodes, gossipStartParallel, func(i int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := fmt.Sprintf("Bench %02d", i+1)
		dir := filepath.Join(b.dir, strconv.Itoa(i+1))
		log := b.opts.Log.With("node", name)
		var p gossipPeer
		var err error
		if b.opts.Full {
			p, err = startFullGossipNode(dir, name, log)
		} else {
			p, err = startFedGossipNode(dir, name, log)
		}
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		b.nodes[i] = &gossipNode{name: name, p: p, id: p.federation().ID()}
		return nil
	})
}

// federate federates every pair (i, j), i < j, many pairs at once: full nodes by invite
// (node i invites, node j redeems: an invite, one HTTP request and each side storing the
// other's record), the others by adding each other's signed node record, as a redeemed
// invite does.
func (b *gossipBench) federate(ctx context.Context) error {
	var pairs [][2]int
	for j := range b.nodes {
		for i := range j {
			pairs = append(pairs, [2]int{i, j})
		}
	}
	return gossipParallel(len(pairs), gossipJoinParallel, func(k int) error {
		a, c := b.nodes[pairs[k][0]], b.nodes[pairs[k][1]]
		if err := a.p.federateWith(ctx, c.p); err != nil {
			return fmt.Errorf("bench: federate %s and %s: %w", a.name, c.name, err)
		}
		return nil
	})
}

// waitLinks waits until every node of as is connected (up) or not (!up) to every node of bs.
func (b *gossipBench) waitLinks(ctx context.Context, as, bs []*gossipNode, up bool) error {
	for {
		var bad string
		for _, a := range as {
			for _, c := range bs {
				if a != c && a.p.host().Connected(c.id) != up {
					bad = a.name + " – " + c.name
				}
			}
		}
		if bad == "" {
			return nil
		}
		if err := sleepCtx(ctx, gossipPollEvery); err != nil {
			return fmt.Errorf("bench: link %s still %s: %w", bad, map[bool]string{true: "down", false: "up"}[up], err)
		}
	}
}

// join joins a participant to the room through g and waits until g has applied its new
// state record. It returns that record's version.
func (b *gossipBench) join(ctx context.Context, g *gossipNode) (uint64, error) {
	fed := g.p.federation()
	v0 := fed.StateVersion(b.room, g.id)
	g.joined++
	if err := g.p.join(ctx, b.room, fmt.Sprintf("%s p%d", g.name, g.joined)); err != nil {
		return 0, fmt.Errorf("bench: join through %s: %w", g.name, err)
	}
	if err := fed.WaitState(ctx, b.room, g.id, v0+1); err != nil {
		return 0, fmt.Errorf("bench: %s publishes its participants: %w", g.name, err)
	}
	return fed.StateVersion(b.room, g.id), nil
}

// converged waits until every node of at holds the current state record and log of every
// node of from.
func (b *gossipBench) converged(ctx context.Context, at, from []*gossipNode) error {
	_, err := b.convergedAfter(ctx, at, from, time.Now())
	return err
}

// convergedAfter is converged, returning for each node of at how long after t0 it held
// everything.
func (b *gossipBench) convergedAfter(ctx context.Context, at, from []*gossipNode, t0 time.Time) ([]time.Duration, error) {
	took := make([]time.Duration, len(at))
	err := gossipParallel(len(at), len(at), func(i int) error {
		defer func() { took[i] = time.Since(t0) }()
		fed := at[i].p.federation()
		for _, o := range from {
			v := o.p.federation().StateVersion(b.room, o.id)
			if err := fed.WaitState(ctx, b.room, o.id, v); err != nil {
				return fmt.Errorf("bench: %s: %w", at[i].name, err)
			}
			if o.chats == 0 {
				continue
			}
			if err := fed.WaitEntries(ctx, b.room, o.id, o.chats); err != nil {
				return fmt.Errorf("bench: %s: %w", at[i].name, err)
			}
		}
		return nil
	})
	return took, err
}

// convergence makes Changes changes on random nodes, each a participant joining, and
// measures for each the time until every other node holds it.
func (b *gossipBench) convergence(ctx context.Context, res *GossipBenchResult) error {
	b.progress("measuring %d changes (a participant joins on a random node)", b.opts.Changes)
	var perNode, slowest, action []time.Duration
	for i := range b.opts.Changes {
		lat, act, err := b.change(ctx)
		if err != nil {
			return fmt.Errorf("bench: change %d: %w", i+1, err)
		}
		perNode = append(perNode, lat...)
		action = append(action, act...)
		slowest = append(slowest, slices.Max(lat))
		if (i+1)%10 == 0 || i+1 == b.opts.Changes {
			b.progress("  %3d changes: per node p50 %.1f ms, p99 %.1f ms", i+1,
				quantileMs(perNode, 0.50), quantileMs(perNode, 0.99))
		}
	}
	res.ConvergeP50Ms = quantileMs(perNode, 0.50)
	res.ConvergeP99Ms = quantileMs(perNode, 0.99)
	res.ActionP50Ms = quantileMs(action, 0.50)
	res.ActionP99Ms = quantileMs(action, 0.99)
	res.SlowestP50Ms = quantileMs(slowest, 0.50)
	res.SlowestP99Ms = quantileMs(slowest, 0.99)
	res.Samples = len(perNode)
	return nil
}

// change joins a participant through a random node and returns, for every other node, the
// time from the source applying its new record to that node holding it, and the time from
// the join being sent to that node holding it.
func (b *gossipBench) change(ctx context.Context) (lat, action []time.Duration, _ error) {
	src := b.rng.IntN(len(b.nodes))
	s := b.nodes[src]
	v0 := s.p.federation().StateVersion(b.room, s.id)
	wctx, cancel := context.WithTimeout(ctx, gossipChangeTimeout)
	defer cancel()
	at := make([]time.Time, len(b.nodes))
	errs := make([]error, len(b.nodes))
	var wg sync.WaitGroup
	for i, g := range b.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.p.federation().WaitState(wctx, b.room, s.id, v0+1)
			at[i] = time.Now()
		}()
	}
	t0 := time.Now()
	_, err := b.join(wctx, s)
	if err != nil {
		cancel()
	}
	wg.Wait()
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, nil, err
	}
	lat = make([]time.Duration, 0, len(b.nodes)-1)
	action = make([]time.Duration, 0, len(b.nodes)-1)
	for i, t := range at {
		if i != src {
			lat = append(lat, max(0, t.Sub(at[src])))
			action = append(action, max(0, t.Sub(t0)))
		}
	}
	return lat, action, nil
}

// partition cuts the federation in halves, makes changes and chat on both, heals, and
// measures the time until every node holds everything.
func (b *gossipBench) partition(ctx context.Context, res *GossipBenchResult) error {
	half := len(b.nodes) / 2
	left, right := b.nodes[:half], b.nodes[half:]
	b.progress("partition %d|%d: a participant joins and %d chat messages on every node", len(left), len(right), b.opts.Chats)
	pctx, cancel := context.WithTimeout(ctx, gossipHealTimeout)
	defer cancel()
	b.setLinks(left, right, false)
	if err := b.waitLinks(pctx, left, right, false); err != nil {
		return err
	}
	before := make(map[peer.ID]uint64, len(b.nodes))
	for _, g := range b.nodes {
		before[g.id] = g.p.federation().StateVersion(b.room, g.id)
	}
	err := gossipParallel(len(b.nodes), gossipJoinParallel, func(i int) error {
		g := b.nodes[i]
		if _, err := b.join(pctx, g); err != nil {
			return err
		}
		for k := range b.opts.Chats {
			if err := g.p.chat(pctx, b.room, fmt.Sprintf("%s chat %d", g.name, k+1)); err != nil {
				return fmt.Errorf("bench: chat through %s: %w", g.name, err)
			}
		}
		g.chats += uint64(b.opts.Chats)
		return g.p.federation().WaitEntries(pctx, b.room, g.id, g.chats)
	})
	if err != nil {
		return err
	}
	if err := errors.Join(b.converged(pctx, left, left), b.converged(pctx, right, right)); err != nil {
		return err
	}
	for _, pair := range [][2][]*gossipNode{{left, right}, {right, left}} {
		for _, a := range pair[0] {
			for _, o := range pair[1] {
				if a.p.federation().StateVersion(b.room, o.id) != before[o.id] {
					return fmt.Errorf("bench: the partition leaked: %s holds a record %s made after the cut", a.name, o.name)
				}
			}
		}
	}

	b.progress("  each half agrees; restoring the links")
	t0 := time.Now()
	b.setLinks(left, right, true)
	linked := make(chan time.Duration, 1)
	go func() {
		if b.waitLinks(pctx, left, right, true) == nil {
			linked <- time.Since(t0)
		}
		close(linked)
	}()
	took, err := b.convergedAfter(pctx, b.nodes, b.nodes, t0)
	if err != nil {
		return fmt.Errorf("bench: after healing: %w", err)
	}
	res.HealMs = gossipRound(ms(slices.Max(took)))
	res.HealP50Ms = quantileMs(took, 0.5)
	res.Relinked = <-linked
	b.progress("  healed: every node holds every record and entry %.0f ms after the links were restored "+
		"(half of them after %.0f ms; every link up after %.0f ms)", res.HealMs, res.HealP50Ms, ms(res.Relinked))
	n, err := b.sameLogs()
	res.Entries = n
	return err
}

// setLinks blocks (up false) or restores every link between as and bs, both ways.
func (b *gossipBench) setLinks(as, bs []*gossipNode, up bool) {
	for _, a := range as {
		for _, c := range bs {
			if up {
				a.p.host().Unblock(c.id)
				c.p.host().Unblock(a.id)
			} else {
				a.p.host().Block(c.id)
				c.p.host().Block(a.id)
			}
		}
	}
}

// sameLogs checks that every node holds the same log in the same order and returns its
// length.
func (b *gossipBench) sameLogs() (int, error) {
	var want []string
	for i, g := range b.nodes {
		entries, err := g.p.federation().History(b.room, 0)
		if err != nil {
			return 0, fmt.Errorf("bench: %s's log: %w", g.name, err)
		}
		got := make([]string, len(entries))
		for k, e := range entries {
			got[k] = fmt.Sprintf("%s/%d", e.Node, e.Seq)
		}
		if i == 0 {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			return 0, fmt.Errorf("bench: %s's log (%d entries) differs from %s's (%d entries)", g.name, len(got), b.nodes[0].name, len(want))
		}
	}
	return len(want), nil
}

// close makes the participants leave and stops the nodes.
func (b *gossipBench) close() {
	_ = gossipParallel(len(b.nodes), gossipStartParallel, func(i int) error {
		if g := b.nodes[i]; g != nil {
			g.p.close()
		}
		return nil
	})
}

// table prints the result for people.
func (b *gossipBench) table(r GossipBenchResult) {
	tw := tabwriter.NewWriter(b.opts.Out, 0, 4, 2, ' ', 0)
	kind := "federation parts of nodes: libp2p host, federation, badger store"
	if b.opts.Full {
		kind = "full nodes"
	}
	fmt.Fprintf(tw, "\nnodes\t%d (%s; in one process, every pair federated)\n", r.Nodes, kind)
	fmt.Fprintf(tw, "convergence per node\tp50 %.1f ms, p99 %.1f ms (%d samples, %d changes)\n",
		r.ConvergeP50Ms, r.ConvergeP99Ms, r.Samples, b.opts.Changes)
	fmt.Fprintf(tw, "convergence, slowest node\tp50 %.1f ms, p99 %.1f ms\n", r.SlowestP50Ms, r.SlowestP99Ms)
	fmt.Fprintf(tw, "participant's action to another node\tp50 %.1f ms, p99 %.1f ms\n", r.ActionP50Ms, r.ActionP99Ms)
	fmt.Fprintf(tw, "heal after a partition\t%.0f ms, median node %.0f ms (every link up after %.0f ms; %d log entries, identical on every node)\n",
		r.HealMs, r.HealP50Ms, ms(r.Relinked), r.Entries)
	fmt.Fprintf(tw, "setup\tstart %.1f s, federate and connect %.1f s\n", r.Start.Seconds(), r.Federate.Seconds())
	fmt.Fprintf(tw, "memory\tpeak RSS %.0f MiB; %.1f MiB per node\n", mib(r.PeakRSS), mib(r.RSSNodes)/float64(r.Nodes))
	fmt.Fprintf(tw, "cpu\t%.1f s over %.1f s (%.2f cores)\n\n", r.CPU.Seconds(), r.Wall.Seconds(), r.CPU.Seconds()/max(r.Wall.Seconds(), 1e-9))
	_ = tw.Flush()
}

// gossipParallel runs fn(0) … fn(n-1), at most limit at a time, and returns their errors.
func gossipParallel(n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(1, limit))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// quantileMs is the q-quantile of ds in milliseconds, rounded to 0.1 ms.
func quantileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return gossipRound(ms(s[min(len(s)-1, int(q*float64(len(s))))]))
}

func gossipRound(v float64) float64 { return math.Round(v*10) / 10 }

// procStatusBytes reads a "Field:   N kB" line of this process's /proc/self/status (VmRSS,
// VmHWM) in bytes.
func procStatusBytes(field string) (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read memory of this process: %w", err)
	}
	return parseProcStatusField(data, field)
}

func parseProcStatusField(data []byte, field string) (uint64, error) {
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: odd %s line %q", field, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: %w", err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("proc status: no %s line", field)
}
