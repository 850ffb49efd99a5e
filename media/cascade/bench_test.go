package cascade

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingReceiver counts packets and does nothing else.
type countingReceiver struct {
	n        atomic.Int64
	want     atomic.Int64
	done     chan struct{}
	progress chan struct{} // a packet arrived
}

func newCountingReceiver() *countingReceiver {
	r := &countingReceiver{done: make(chan struct{}), progress: make(chan struct{}, 1)}
	r.want.Store(-1)
	return r
}

func (r *countingReceiver) RTP(int, []byte) {
	if r.n.Add(1) == r.want.Load() {
		close(r.done)
	}
	select {
	case r.progress <- struct{}{}:
	default:
	}
}
func (r *countingReceiver) Ended(error) {}

// waitWindow waits until fewer than window of sent packets are in flight, as a paced sender
// would: QUIC's receive queue holds 128 datagrams and drops what a burst brings beyond that.
// A lost packet never arrives, so it waits 5ms at most.
func (r *countingReceiver) waitWindow(sent int64) {
	if sent-r.n.Load() < window {
		return
	}
	timeout := time.NewTimer(5 * time.Millisecond)
	defer timeout.Stop()
	for sent-r.n.Load() >= window {
		select {
		case <-r.progress:
		case <-timeout.C:
			return
		}
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// window is the number of packets BenchmarkLinkThroughput keeps in flight.
const window = 64

// BenchmarkLinkThroughput sends video RTP packets of 1000 bytes from one node to another over
// a real QUIC link on loopback, both in this process. ns/op and allocs/op are per packet and
// include both QUIC stacks; pkts/s is the delivery rate, pkts/cpu-s the packets per second of
// CPU time used (the rate one core sustains), delivered_% the share of packets that arrived
// (QUIC drops datagrams when the receiver falls behind).
func BenchmarkLinkThroughput(b *testing.B) {
	lo, hi := newKeyPair(b)
	quiet := func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }
	a := newTestNode(b, lo, quiet)
	c := newTestNode(b, hi, quiet)
	federate(a, c, "r")
	c.src.add("r", "cam", vp8Info)
	ac, _ := link(b, a, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rx := newCountingReceiver()
	if _, err := ac.Subscribe(ctx, "r", "cam", Layers(0), rx); err != nil {
		b.Fatal(err)
	}
	out := c.src.outbound(b, "cam")
	pkts := make([][]byte, 1024)
	for i := range pkts {
		pkts[i] = testRTP(uint16(i), 1000-rtpHeaderLen)
	}
	rx.n.Store(0)
	rx.want.Store(int64(b.N))
	runtime.GC()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.SetBytes(1000)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		p := pkts[i%len(pkts)]
		p[2], p[3] = byte(i>>8), byte(i) // consecutive sequence numbers: no NACKs
		rx.waitWindow(int64(i))
		for !out.WriteRTP(0, p) {
			time.Sleep(50 * time.Microsecond) // the send queue is full: let QUIC drain it
		}
	}
	// Wait for the last packets, or for delivery to stall (QUIC dropped some).
	last, lastChange := rx.n.Load(), time.Now()
	for wait := true; wait; {
		select {
		case <-rx.done:
			wait = false
		case <-time.After(10 * time.Millisecond):
			if n := rx.n.Load(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > 200*time.Millisecond {
				wait = false
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	got := rx.n.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "pkts/s")
	if cpu > 0 {
		b.ReportMetric(float64(got)/cpu.Seconds(), "pkts/cpu-s")
	}
	b.ReportMetric(100*float64(got)/float64(b.N), "delivered_%")
	if s := c.ep.Links()[0].sessNow(); s != nil {
		cs := s.conn.ConnectionStats()
		b.Logf("N %d: sender quic lost %d of %d packets, cwnd %d; link %+v", b.N, cs.PacketsLost, cs.PacketsSent, cs.CongestionWindow, ac.Stats().In)
	}
}

// BenchmarkSendPath is the cascade's own per-packet work on the sending side, without QUIC:
// WriteRTP (layer check, retransmission cache, send queue) and the sender's dequeue.
func BenchmarkSendPath(b *testing.B) {
	s := benchSession(b)
	o := newOutbound(s, 1, trackKey{"r", "t"}, AllLayers)
	o.video.Store(true)
	pkt := testRTP(1, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := range b.N {
		pkt[3] = byte(i)
		if !o.WriteRTP(0, pkt) {
			b.Fatal("queue full")
		}
		if dg, _ := s.queue.peek(); dg == nil {
			b.Fatal("nothing queued")
		}
		s.queue.pop()
	}
}

// BenchmarkReceivePath is the cascade's own per-packet work on the receiving side, without
// QUIC: header parsing, loss metering, NACK tracking and delivery.
func BenchmarkReceivePath(b *testing.B) {
	s := benchSession(b)
	rx := newCountingReceiver()
	in := newInbound(s.l, trackKey{"r", "t"}, AllLayers, rx)
	in.video.Store(true)
	dg := testDatagram(datagramHeader{layer: 0, num: 1}, testRTP(0, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for i := range b.N {
		dg[4], dg[5], dg[6], dg[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		dg[datagramHeaderLen+2], dg[datagramHeaderLen+3] = byte(i>>8), byte(i)
		h, pkt, err := parseDatagram(dg)
		if err != nil {
			b.Fatal(err)
		}
		s.loss.add(h.seq)
		in.deliver(int(h.layer), pkt)
	}
}

// benchSession is a session with no connection, for the per-packet benchmarks.
func benchSession(b *testing.B) *session {
	cfg, err := Config{Key: mustKey(b), Auth: newTestAuth()}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	e := &Endpoint{cfg: cfg, log: cfg.Logger, epoch: time.Now()}
	l := newLink(e, mustKey(b).PublicKey(), true, nil)
	return &session{l: l, ep: e, queue: newSendQueue(cfg.SendQueue)}
}
