package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/media/client"
)

// RekeyBenchOptions configures BenchRekey. Zero values mean the documented defaults.
type RekeyBenchOptions struct {
	// Participants is how many Go participants are in the room at the start. Default: 50.
	Participants int
	// Leaves is how many of them leave, one after the other, each a measured rekey. Default: 10.
	Leaves int
	// Binary is the parley binary whose node is used. Default: the running executable.
	Binary string
	// Log receives the benchmark's and its clients' logs. Default: discard.
	Log *slog.Logger
	// Out receives progress lines and, last, the result as one JSON line. Default: discard.
	Out io.Writer
}

// RekeyBenchResult is what BenchRekey measured. Its JSON form is the benchmark's output line.
type RekeyBenchResult struct {
	Participants int     `json:"participants"`
	RekeyP50Ms   float64 `json:"rekey_p50_ms"`   // leave -> every remaining sender encrypts with its new key
	RekeyP99Ms   float64 `json:"rekey_p99_ms"`   //
	EnvelopeByte float64 `json:"envelope_bytes"` // bytes of the envelopes the senders sent for one rekey

	Rekeys int `json:"-"`
}

// Bounds of the rekey benchmark's waits.
const (
	rekeyJoinTimeout = 20 * time.Second
	rekeySettle      = 90 * time.Second // for the keys to settle after joins or a leave
	rekeyQuiet       = time.Second      // no key switch for this long: settled
	rekeyRoundLimit  = 10 * time.Second // one leave's rekey must finish within
)

// BenchRekey measures end-to-end rekeying: it starts a node in its own process (as BenchSFU
// does), joins Participants Go clients that all hold and announce keys (publishing no media,
// so that the machine's cores go to the key exchange), waits until the keys have settled, then
// makes Leaves of them leave one at a time. For each leave it measures the time from the
// leave until every remaining participant is encrypting with a new key, and the bytes of the
// key envelopes sent for it. It prints progress to Out and, last, the result as one JSON line.
func BenchRekey(ctx context.Context, opts RekeyBenchOptions) (RekeyBenchResult, error) {
	if opts.Participants <= 0 {
		opts.Participants = 50
	}
	if opts.Leaves <= 0 {
		opts.Leaves = 10
	}
	if opts.Leaves >= opts.Participants {
		return RekeyBenchResult{}, fmt.Errorf("bench: %d leaves need more than %d participants", opts.Leaves, opts.Participants)
	}
	if err := benchDefaults(&opts.Binary, &opts.Log, &opts.Out); err != nil {
		return RekeyBenchResult{}, err
	}
	b := &rekeyBench{opts: opts, switches: map[string][]time.Time{}}
	defer b.close()
	res, err := b.run(ctx)
	if err != nil {
		return RekeyBenchResult{}, err
	}
	if err := writeResult(opts.Out, res); err != nil {
		return RekeyBenchResult{}, err
	}
	return res, nil
}

type rekeyBench struct {
	opts    RekeyBenchOptions
	node    *benchNode
	base    string
	room    string
	clients []rekeyMember

	mu       sync.Mutex
	switches map[string][]time.Time // key switch times by participant name; guarded by mu
	last     time.Time              // latest switch anywhere; guarded by mu
}

type rekeyMember struct {
	name string
	c    *client.Client
}

func (b *rekeyBench) progress(format string, args ...any) {
	fmt.Fprintf(b.opts.Out, format+"\n", args...)
}

func (b *rekeyBench) close() {
	for _, m := range b.clients {
		_ = m.c.Close()
	}
	if b.node != nil {
		b.node.Close()
	}
}

func (b *rekeyBench) run(ctx context.Context) (RekeyBenchResult, error) {
	var err error
	if b.node, err = startBenchNode(ctx, b.opts.Binary, "bench", b.opts.Log, nil); err != nil {
		return RekeyBenchResult{}, err
	}
	if b.base, b.room, err = b.node.createRoom(ctx); err != nil {
		return RekeyBenchResult{}, err
	}
	b.progress("node pid %d at %s, room %s; joining %d participants", b.node.pid(), b.base, b.room, b.opts.Participants)
	for i := range b.opts.Participants {
		if err := b.join(ctx, fmt.Sprintf("p%02d", i)); err != nil {
			return RekeyBenchResult{}, err
		}
	}
	if err := b.settle(ctx); err != nil {
		return RekeyBenchResult{}, err
	}
	var times []time.Duration
	var bytes []uint64
	for round := range b.opts.Leaves {
		d, n, err := b.leaveOne(ctx)
		if err != nil {
			return RekeyBenchResult{}, fmt.Errorf("bench: leave %d: %w", round+1, err)
		}
		times = append(times, d)
		bytes = append(bytes, n)
		b.progress("  leave %2d: %d remaining senders on new keys after %.0f ms; %d envelope bytes",
			round+1, len(b.clients), ms(d), n)
		if err := b.settle(ctx); err != nil {
			return RekeyBenchResult{}, err
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var total uint64
	for _, n := range bytes {
		total += n
	}
	at := func(q float64) float64 {
		return math.Round(ms(times[min(len(times)-1, int(q*float64(len(times))))])*10) / 10
	}
	return RekeyBenchResult{
		Participants: b.opts.Participants,
		RekeyP50Ms:   at(0.50),
		RekeyP99Ms:   at(0.99),
		EnvelopeByte: math.Round(float64(total) / float64(len(bytes))),
		Rekeys:       len(times),
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (b *rekeyBench) join(ctx context.Context, name string) error {
	cfg := client.Config{
		URL: b.base, Room: b.room, Name: name,
		Logger:       b.opts.Log.With("client", name),
		NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4},
		IPFilter:     func(ip net.IP) bool { return ip.IsLoopback() },
		AnnounceKeys: true,
		OnKeySwitch: func(_ uint64, at time.Time) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.switches[name] = append(b.switches[name], at)
			if at.After(b.last) {
				b.last = at
			}
		},
	}
	jctx, cancel := context.WithTimeout(ctx, rekeyJoinTimeout)
	defer cancel()
	c, err := client.Join(jctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %s joins: %w", name, err)
	}
	b.clients = append(b.clients, rekeyMember{name, c})
	return nil
}

// settle waits until the keys have settled: for rekeyQuiet, counted from the call, no client
// has switched keys or sent a key envelope (which announces a switch to come). Counting from
// the call waits out a rekey announced before it whose switch is still to come.
func (b *rekeyBench) settle(ctx context.Context) error {
	start := time.Now()
	deadline := start.Add(rekeySettle)
	active, envelopes := start, b.envelopesSent()
	for time.Now().Before(deadline) {
		if n := b.envelopesSent(); n != envelopes {
			active, envelopes = time.Now(), n
		}
		b.mu.Lock()
		if b.last.After(active) {
			active = b.last
		}
		b.mu.Unlock()
		if time.Since(active) >= rekeyQuiet {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("bench: keys did not settle")
}

// envelopesSent counts the key envelopes the clients in the room have sent.
func (b *rekeyBench) envelopesSent() (n uint64) {
	for _, m := range b.clients {
		count, _ := m.c.EnvelopesSent()
		n += count
	}
	return n
}

// leaveOne closes the first client and waits until every other has switched to a new key. It
// returns the time that took and the envelope bytes the others sent meanwhile.
func (b *rekeyBench) leaveOne(ctx context.Context) (time.Duration, uint64, error) {
	leaver := b.clients[0]
	b.clients = b.clients[1:]
	sent := func() (n uint64) {
		for _, m := range b.clients {
			_, bytes := m.c.EnvelopesSent()
			n += bytes
		}
		return n
	}
	bytes0 := sent()
	b.mu.Lock()
	before := make(map[string]int, len(b.clients))
	for _, m := range b.clients {
		before[m.name] = len(b.switches[m.name])
	}
	b.mu.Unlock()
	t0 := time.Now()
	if err := leaver.c.Close(); err != nil {
		return 0, 0, err
	}
	deadline := t0.Add(rekeyRoundLimit)
	for {
		var done time.Time
		all := true
		b.mu.Lock()
		for _, m := range b.clients {
			sw := b.switches[m.name]
			if len(sw) <= before[m.name] {
				all = false
				break
			}
			if at := sw[before[m.name]]; at.After(done) {
				done = at
			}
		}
		b.mu.Unlock()
		if all {
			return done.Sub(t0), sent() - bytes0, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("not every sender moved to a new key within %v", rekeyRoundLimit)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
