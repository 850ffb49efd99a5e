package media

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"parley/media/signal"
)

// TestLoopbackLoad forwards the benchmark's load (Opus 50 packets/s, VP8 simulcast at about
// 2000/600/150 kbit/s) from one publisher to PARLEY_LOAD subscribers, all in this process on
// loopback, and reports the forwarded rate and the whole process's CPU time per forwarded
// packet (an upper bound of the SFU's share: the clients' decryption is included). Run with
// PARLEY_LOAD=20 and -cpuprofile to see the SFU's part; PARLEY_HEAPPROFILE=file writes
// a heap profile while everyone is connected.
func TestLoopbackLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARLEY_LOAD"))
	if n <= 0 {
		t.Skip("set PARLEY_LOAD=<subscribers> to run")
	}
	s := newTestSFU(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := join(t, s, "load", "pub")
	pt := pub.publish(true, []string{signal.RIDLow, signal.RIDMedium, signal.RIDHigh})
	var subs []*testPeer
	for i := range n {
		subs = append(subs, join(t, s, "load", fmt.Sprintf("sub%d", i)))
	}
	loadStream(ctx, pub, pt)
	for _, sp := range subs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, ok := sp.received("pub", "video")
			if ok && r.layers['f'] > 10 {
				break
			}
			if time.Now().After(deadline) {
				sp.mu.Lock()
				state := "none"
				if sp.sub != nil {
					state = sp.sub.ConnectionState().String() + "/" + sp.sub.SignalingState().String()
				}
				t.Logf("%s: offers %d tracks %v pc %s video %+v", sp.id, sp.offers, sp.subTracks, state, r.layers)
				sp.mu.Unlock()
				sp.part.mu.Lock()
				for up, d := range sp.part.downs {
					d.mu.Lock()
					t.Logf("down %s: bound %v mg %+v requested %d avail %03b", up.id, d.bound, d.mg, d.requested.Load(), up.availMask(s.now()))
					d.mu.Unlock()
				}
				t.Logf("offering %v dirty %v connected %v", sp.part.offering, sp.part.dirty, sp.part.subConnected.Load())
				sp.part.mu.Unlock()
				t.Fatalf("%s never received the high layer", sp.id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var ru0, ru1 syscall.Rusage
	st0 := s.Stats()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	time.Sleep(5 * time.Second)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	el := time.Since(start)
	st1 := s.Stats()
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	pkts := st1.ForwardedPackets - st0.ForwardedPackets
	pps := float64(pkts) / el.Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("subscribers=%d forwarded_pps=%.0f mbit/s=%.1f process_cpu_cores=%.2f process_cpu_per_forwarded_packet=%v process_heap_per_subscriber_mib=%.2f process_%s",
		n, pps, float64(st1.ForwardedBytes-st0.ForwardedBytes)*8/el.Seconds()/1e6, cpu.Seconds()/el.Seconds(), cpu/time.Duration(pkts),
		float64(ms.HeapInuse)/float64(n)/(1<<20), vmRSS())
	if path := os.Getenv("PARLEY_HEAPPROFILE"); path != "" {
		runtime.GC()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	for _, sp := range subs {
		if r, _ := sp.received("pub", "video"); r.layers['f'] == 0 {
			t.Errorf("%s: no high layer", sp.id)
		}
	}
}

// loadStream sends the benchmark's publisher load: audio every 20 ms (100-byte frames),
// high layer 30 fps of ~8.3 kB frames (2000 kbit/s), medium 20 fps of 3.75 kB (600 kbit/s),
// low 15 fps of 1.25 kB (150 kbit/s), split into packets of at most 1100 bytes.
func loadStream(ctx context.Context, tp *testPeer, pt *pubTracks) {
	type layer struct {
		fps, frameBytes int
	}
	layers := []layer{{15, 1250}, {20, 3750}, {30, 8333}}
	for li, v := range pt.video {
		tp.wg.Add(1)
		go func() {
			defer tp.wg.Done()
			l := layers[li]
			tick := time.NewTicker(time.Second / time.Duration(l.fps))
			defer tick.Stop()
			var seq uint16
			var ts uint32
			var pid uint16
			for frame := 0; ; frame++ {
				select {
				case <-ctx.Done():
					return
				case <-tp.done:
					return
				case <-tick.C:
				}
				tp.mu.Lock()
				key := frame == 0 || tp.wantKey[pt.ssrcs[v.RID()]]
				tp.wantKey[pt.ssrcs[v.RID()]] = false
				tp.mu.Unlock()
				pid++
				ts += uint32(90000 / l.fps)
				for left := l.frameBytes; left > 0; left -= 1100 {
					size := min(left, 1100)
					payload := vp8Frame(pid, key, v.RID()[0], size+14)
					if left != l.frameBytes {
						payload[0] &^= 0x10 // not the start of the frame
					}
					p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, PayloadType: 96, Marker: left <= 1100}, Payload: payload}
					seq++
					_ = p.Header.SetExtension(pt.midID, []byte(pt.vidMid))
					_ = p.Header.SetExtension(pt.ridID, []byte(v.RID()))
					_ = v.WriteRTP(p)
				}
			}
		}()
	}
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		var ts uint32
		for {
			select {
			case <-ctx.Done():
				return
			case <-tp.done:
				return
			case <-tick.C:
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, PayloadType: 111}, Payload: make([]byte, 100)}
			_ = p.Header.SetExtension(pt.lvlID, []byte{40})
			seq++
			ts += 960
			_ = pt.audio.WriteRTP(p)
		}
	}()
}

// vmRSS returns the VmRSS line of /proc/self/status.
func vmRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "rss=unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return "rss=" + strings.Join(strings.Fields(line)[1:], "")
		}
	}
	return "rss=unknown"
}
