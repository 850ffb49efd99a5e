package testnet

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// UDPProxyConfig describes the path a UDPProxy emulates, the same in both directions. Zero
// values: no loss, no delay.
type UDPProxyConfig struct {
	// Loss is the probability that a datagram is dropped (0..1).
	Loss float64
	// Delay is added to every datagram, one way.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter); datagrams may then reorder.
	Jitter time.Duration
	// Seed makes the drops and the jitter reproducible: the same seed and the same sequence
	// of datagrams in a direction give the same decisions. 0 means 1.
	Seed uint64
}

// UDPProxyStats counts what a proxy did in one direction.
type UDPProxyStats struct {
	Forwarded uint64 // delivered to the other side
	Dropped   uint64 // lost to the loss rate
	Cut       uint64 // lost while the path was cut
}

// Proxy directions, as indexes of UDPProxy.Stats.
const (
	ToTarget   = 0 // from the clients to the target
	FromTarget = 1 // from the target back to the clients
)

// UDPProxy is a lossy, slow UDP path between clients and one target, for tests: clients send
// to Addr, the target sees each client as a distinct address of the proxy, and replies go
// back the same way. Loss, delay and jitter apply to both directions; Cut drops everything
// (including datagrams already in flight) until Restore.
type UDPProxy struct {
	t      testing.TB
	cfg    UDPProxyConfig
	target *net.UDPAddr
	front  *net.UDPConn

	cut   atomic.Bool
	stats [2]struct{ forwarded, dropped, cut atomic.Uint64 }

	rngMu sync.Mutex
	rng   [2]*rand.Rand

	mu     sync.Mutex
	flows  map[string]*proxyFlow // by client address
	closed bool

	q     delayQueue
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	close sync.Once
}

// proxyFlow is one client: its address and the socket that stands for it towards the target.
type proxyFlow struct {
	client *net.UDPAddr
	back   *net.UDPConn
}

// NewUDPProxy starts a proxy on 127.0.0.1 (port chosen by the kernel) in front of target. It
// is closed when the test ends.
func NewUDPProxy(t testing.TB, target *net.UDPAddr, cfg UDPProxyConfig) *UDPProxy {
	t.Helper()
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("udp proxy: listen: %v", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	p := &UDPProxy{
		t: t, cfg: cfg, target: target, front: front,
		flows: map[string]*proxyFlow{},
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	for d := range p.rng {
		p.rng[d] = rand.New(rand.NewPCG(seed, uint64(d)+0x9e3779b97f4a7c15))
	}
	p.wg.Add(2)
	go p.readFront()
	go p.deliver()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients send.
func (p *UDPProxy) Addr() *net.UDPAddr { return p.front.LocalAddr().(*net.UDPAddr) }

// Cut drops every datagram, both ways, until Restore.
func (p *UDPProxy) Cut() { p.cut.Store(true) }

// Restore ends a Cut.
func (p *UDPProxy) Restore() { p.cut.Store(false) }

// Stats returns the counters of a direction (ToTarget or FromTarget).
func (p *UDPProxy) Stats(direction int) UDPProxyStats {
	s := &p.stats[direction]
	return UDPProxyStats{Forwarded: s.forwarded.Load(), Dropped: s.dropped.Load(), Cut: s.cut.Load()}
}

// Close stops the proxy and waits for its goroutines.
func (p *UDPProxy) Close() {
	p.close.Do(func() {
		p.mu.Lock()
		p.closed = true
		flows := p.flows
		p.mu.Unlock()
		close(p.done)
		_ = p.front.Close()
		for _, f := range flows {
			_ = f.back.Close()
		}
		p.wg.Wait()
	})
}

// readFront takes datagrams from clients.
func (p *UDPProxy) readFront() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.front.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Logf("udp proxy: read: %v", err)
			}
			return
		}
		f := p.flow(from)
		if f == nil {
			return
		}
		p.admit(ToTarget, buf[:n], func(b []byte) { _, _ = f.back.Write(b) })
	}
}

// flow returns the flow of a client, opening its socket towards the target on first use.
func (p *UDPProxy) flow(client *net.UDPAddr) *proxyFlow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if f := p.flows[client.String()]; f != nil {
		return f
	}
	back, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, p.target)
	if err != nil {
		p.t.Logf("udp proxy: socket towards %s: %v", p.target, err)
		return nil
	}
	f := &proxyFlow{client: client, back: back}
	p.flows[client.String()] = f
	p.wg.Add(1)
	go p.readBack(f)
	return f
}

// readBack takes the target's datagrams for one client.
func (p *UDPProxy) readBack(f *proxyFlow) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.back.Read(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// The target may be gone (ICMP port unreachable): keep the flow.
				select {
				case <-p.done:
					return
				default:
					continue
				}
			}
			return
		}
		p.admit(FromTarget, buf[:n], func(b []byte) { _, _ = p.front.WriteToUDP(b, f.client) })
	}
}

// admit decides the fate of one datagram: dropped by a cut or by the loss rate, or scheduled
// for delivery after the delay.
func (p *UDPProxy) admit(dir int, b []byte, send func([]byte)) {
	s := &p.stats[dir]
	if p.cut.Load() {
		s.cut.Add(1)
		return
	}
	p.rngMu.Lock()
	lost := p.cfg.Loss > 0 && p.rng[dir].Float64() < p.cfg.Loss
	var jitter time.Duration
	if p.cfg.Jitter > 0 {
		jitter = time.Duration(p.rng[dir].Int64N(int64(p.cfg.Jitter)))
	}
	p.rngMu.Unlock()
	if lost {
		s.dropped.Add(1)
		return
	}
	delay := p.cfg.Delay + jitter
	if delay <= 0 {
		s.forwarded.Add(1)
		send(b)
		return
	}
	p.mu.Lock()
	heap.Push(&p.q, &delayed{due: time.Now().Add(delay), seq: p.q.seq, dir: dir, data: append([]byte(nil), b...), send: send})
	p.q.seq++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// deliver sends delayed datagrams when they are due.
func (p *UDPProxy) deliver() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var next *delayed
		due := false
		if p.q.Len() > 0 {
			next = p.q.items[0]
			if due = !time.Now().Before(next.due); due {
				heap.Pop(&p.q)
			}
		}
		p.mu.Unlock()
		if due {
			s := &p.stats[next.dir]
			if p.cut.Load() {
				s.cut.Add(1) // in flight when the path was cut
			} else {
				s.forwarded.Add(1)
				next.send(next.data)
			}
			continue
		}
		wait := time.Hour
		if next != nil {
			wait = time.Until(next.due)
		}
		timer.Reset(wait)
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// delayed is a datagram waiting for its delivery time.
type delayed struct {
	due  time.Time
	seq  uint64 // arrival order, to keep FIFO among equal times
	dir  int
	data []byte
	send func([]byte)
}

// delayQueue is a heap of datagrams ordered by delivery time.
type delayQueue struct {
	items []*delayed
	seq   uint64
}

func (q *delayQueue) Len() int { return len(q.items) }
func (q *delayQueue) Less(i, j int) bool {
	if q.items[i].due.Equal(q.items[j].due) {
		return q.items[i].seq < q.items[j].seq
	}
	return q.items[i].due.Before(q.items[j].due)
}
func (q *delayQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *delayQueue) Push(x any)    { q.items = append(q.items, x.(*delayed)) }
func (q *delayQueue) Pop() any {
	n := len(q.items)
	x := q.items[n-1]
	q.items[n-1] = nil
	q.items = q.items[:n-1]
	return x
}
