package testnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/identity"
	"parley/media/cascade"
)

// The cascade transport between two nodes, over a UDPProxy: loss measurement, repair, and
// reconnection after a cut. The nodes here are bare cascade endpoints with stand-ins for the
// federation (linkAuth) and the SFU (linkSource, linkReceiver).

// linkAuth admits one peer node, in every room.
type linkAuth struct{ peer ed25519.PublicKey }

func (a linkAuth) AllowNode(pub ed25519.PublicKey) bool           { return pub.Equal(a.peer) }
func (a linkAuth) AllowRoom(pub ed25519.PublicKey, _ string) bool { return pub.Equal(a.peer) }

// linkSource serves every track asked for, video if its id starts with "v"; it keeps the
// newest Outbound of each track (a reconnection opens the track again).
type linkSource struct {
	mu   sync.Mutex
	outs map[string]*cascade.Outbound
}

func (s *linkSource) OpenTrack(out *cascade.Outbound) (cascade.TrackInfo, cascade.OutboundHandler, error) {
	s.mu.Lock()
	s.outs[out.Track()] = out
	s.mu.Unlock()
	if out.Track()[0] == 'v' {
		return cascade.TrackInfo{Kind: cascade.KindVideo, MimeType: "video/VP8", ClockRate: 90000, Layers: cascade.Layers(0)}, linkHandler{}, nil
	}
	return cascade.TrackInfo{Kind: cascade.KindAudio, MimeType: "audio/opus", ClockRate: 48000, Channels: 2, Layers: cascade.Layers(0)}, linkHandler{}, nil
}

// write sends an RTP packet on the current Outbound of track, if there is one.
func (s *linkSource) write(track string, pkt []byte) bool {
	s.mu.Lock()
	out := s.outs[track]
	s.mu.Unlock()
	return out != nil && out.WriteRTP(0, pkt)
}

type linkHandler struct{}

func (linkHandler) Keyframe(int) {}
func (linkHandler) Closed()      {}

// linkReceiver records the RTP sequence numbers received and when the last packet came.
type linkReceiver struct {
	mu    sync.Mutex
	seqs  map[uint16]int
	last  time.Time
	bad   int
	ended atomic.Bool
}

func (r *linkReceiver) RTP(_ int, pkt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := binary.BigEndian.Uint16(pkt[2:])
	if !bytes.Equal(pkt, linkRTP(seq, len(pkt)-12)) {
		r.bad++
	}
	r.seqs[seq]++
	r.last = time.Now()
}

func (r *linkReceiver) Ended(error) { r.ended.Store(true) }

func (r *linkReceiver) snapshot() (distinct int, last time.Time, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs), r.last, r.bad
}

// linkRTP is an RTP packet whose payload depends on its sequence number.
func linkRTP(seq uint16, payload int) []byte {
	p := make([]byte, 12+payload)
	p[0], p[1] = 0x80, 111
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*960)
	binary.BigEndian.PutUint32(p[8:], 0xcafe)
	for i := 12; i < len(p); i++ {
		p[i] = byte(int(seq)*7 + i)
	}
	return p
}

// linkPair is two cascade endpoints: dialer reaches acceptor through proxy.
type linkPair struct {
	dialer, acceptor *cascade.Endpoint
	src              *linkSource // the acceptor's tracks
	link             *cascade.Link
	proxy            *UDPProxy
}

func newLinkPair(t *testing.T, cfg UDPProxyConfig, initialCapacity float64) *linkPair {
	t.Helper()
	var keys [2]*identity.NodeKey
	for i := range keys {
		k, err := identity.GenerateNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	// The node whose key sorts lower dials.
	if bytes.Compare(keys[0].PublicKey(), keys[1].PublicKey()) > 0 {
		keys[0], keys[1] = keys[1], keys[0]
	}
	lp := &linkPair{src: &linkSource{outs: map[string]*cascade.Outbound{}}}
	endpoint := func(i int, src cascade.TrackSource) *cascade.Endpoint {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ep, err := cascade.New(conn, cascade.Config{
			Key: keys[i], Auth: linkAuth{peer: keys[1-i].PublicKey()}, Tracks: src,
			InitialCapacity: initialCapacity,
			Logger:          TestLogger(t).With("node", fmt.Sprint("n", i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ep.Close() })
		return ep
	}
	lp.dialer = endpoint(0, nil)
	lp.acceptor = endpoint(1, lp.src)
	lp.proxy = NewUDPProxy(t, lp.acceptor.Addr().(*net.UDPAddr), cfg)
	l, err := lp.dialer.Link(keys[1].PublicKey(), lp.proxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	lp.link = l
	if _, err := lp.acceptor.Link(keys[0].PublicKey(), nil); err != nil {
		t.Fatal(err)
	}
	return lp
}

func (lp *linkPair) subscribe(t *testing.T, track string) *linkReceiver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := &linkReceiver{seqs: map[uint16]int{}}
	if _, err := lp.link.Subscribe(ctx, "room", track, cascade.Layers(0), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCascadeLossyLink: through 5% loss and 30ms each way, the link measures the loss it
// suffers (both ends agree with the proxy) and an RTT of at least the added 60ms, and NACKs
// repair a video stream.
func TestCascadeLossyLink(t *testing.T) {
	lp := newLinkPair(t, UDPProxyConfig{Loss: 0.05, Delay: 30 * time.Millisecond, Seed: 5}, 0)
	audio := lp.subscribe(t, "a1")
	video := lp.subscribe(t, "v1")

	// 5s of a 50 packet/s audio track and a 200 packet/s video track (about 0.5 Mbit/s, which
	// QUIC's congestion control lets through at this loss and RTT).
	const n, audioEvery = 1000, 4
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range uint16(n) {
		<-tick.C
		if i%audioEvery == 0 {
			lp.src.write("a1", linkRTP(i/audioEvery, 100))
		}
		lp.src.write("v1", linkRTP(i, 300))
	}
	Eventually(t, 10*time.Second, "video repaired", func() error {
		if got, _, _ := video.snapshot(); got < n*995/1000 {
			return fmt.Errorf("%d of %d video packets; dialer %+v; acceptor %+v", got, n, lp.link.Stats(), lp.acceptor.Stats()[0])
		}
		return nil
	})
	// Let the last stats interval pass so that both ends have counted everything.
	Eventually(t, 5*time.Second, "stats settle", func() error {
		d := lp.link.Stats()
		a := lp.acceptor.Stats()[0]
		// A loss at the very end shows no gap, hence the slack of two.
		seen := d.In.Datagrams + d.In.Lost
		if a.Out.Datagrams == 0 || seen > a.Out.Datagrams || seen+2 < a.Out.Datagrams || a.Out.Lost != d.In.Lost {
			return fmt.Errorf("dialer in %+v, acceptor out %+v", d.In, a.Out)
		}
		return nil
	})
	d := lp.link.Stats()
	px := lp.proxy.Stats(FromTarget)
	measured := float64(d.In.Lost) / float64(d.In.Datagrams+d.In.Lost)
	actual := float64(px.Dropped) / float64(px.Dropped+px.Forwarded)
	gotAudio, _, badA := audio.snapshot()
	gotVideo, _, badV := video.snapshot()
	t.Logf("link loss %.2f%% (proxy dropped %.2f%% of all packets), RTT %v (min %v), audio %d/%d, video %d/%d, retransmits %d, dropped unsent %d, capacity %.1f Mbit/s",
		100*measured, 100*actual, d.RTT, d.MinRTT, gotAudio, n/audioEvery, gotVideo, n, d.In.Retransmits, d.In.Dropped, d.CapacityIn/1e6)
	if math.Abs(measured-0.05) > 0.02 || math.Abs(measured-actual) > 0.015 {
		t.Errorf("measured loss %.3f, proxy dropped %.3f, configured 0.05", measured, actual)
	}
	if d.RTT < 60*time.Millisecond || d.MinRTT < 60*time.Millisecond {
		t.Errorf("RTT %v (min %v), want at least the 60ms the proxy adds", d.RTT, d.MinRTT)
	}
	if lossFrac := 1 - float64(gotAudio)/(n/audioEvery); lossFrac == 0 || lossFrac > 0.1 {
		t.Errorf("audio (not repaired) lost %.3f", lossFrac)
	}
	if d.In.Retransmits == 0 || d.In.Nacks == 0 {
		t.Errorf("no repair traffic: %+v", d.In)
	}
	if badA+badV != 0 {
		t.Errorf("%d packets arrived altered", badA+badV)
	}
}

// TestCascadeReconnectAfterCut: the path is cut for 3s; the link notices, redials, subscribes
// again, and media flows within 2s of the restore, on the same subscription.
func TestCascadeReconnectAfterCut(t *testing.T) {
	lp := newLinkPair(t, UDPProxyConfig{Delay: 5 * time.Millisecond, Seed: 9}, 0)
	rx := lp.subscribe(t, "a1")

	// An audio source at 100 packets per second, writing to whatever Outbound is current.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lp.src.write("a1", linkRTP(seq, 100))
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	Eventually(t, 5*time.Second, "media flows", func() error {
		if got, _, _ := rx.snapshot(); got < 50 {
			return fmt.Errorf("%d packets", got)
		}
		return nil
	})
	lp.proxy.Cut()
	cutAt := time.Now()
	Eventually(t, 10*time.Second, "the link notices the cut", func() error {
		if lp.link.Connected() {
			return errors.New("still connected")
		}
		return nil
	})
	noticed := time.Since(cutAt)
	if wait := 3*time.Second - time.Since(cutAt); wait > 0 {
		time.Sleep(wait) // the cut lasts 3s: nothing to wait for but time
	}
	before, _, _ := rx.snapshot()
	lp.proxy.Restore()
	restoredAt := time.Now()
	Eventually(t, 5*time.Second, "media resumes", func() error {
		if got, last, _ := rx.snapshot(); got <= before || last.Before(restoredAt) {
			return errors.New("no new packets")
		}
		return nil
	})
	resumed := time.Since(restoredAt)
	st := lp.link.Stats()
	t.Logf("cut noticed after %v; media resumed %v after restore; connects %d; last error %q", noticed, resumed, st.Connects, st.LastError)
	if resumed > 2*time.Second {
		t.Errorf("media resumed %v after restore, want within 2s", resumed)
	}
	if st.Connects != 2 {
		t.Errorf("%d connections, want 2", st.Connects)
	}
	if rx.ended.Load() {
		t.Errorf("the subscription ended instead of resuming")
	}
}

// TestCascadeCapacityEstimate: offered 3 Mbit/s over a path whose loss and RTT let QUIC's
// congestion control carry much less, the upstream drops what waits too long, and the
// downstream's capacity estimate falls below the offered rate, for the SFU to lower layers.
func TestCascadeCapacityEstimate(t *testing.T) {
	// Starting from 6 Mbit/s rather than the default 20 keeps the test short.
	lp := newLinkPair(t, UDPProxyConfig{Loss: 0.05, Delay: 30 * time.Millisecond, Seed: 11}, 6e6)
	lp.subscribe(t, "v1")
	const offered = 3e6 // bits/s: 375 packets of 1000 bytes per second
	initial := lp.link.Capacity()
	tick := time.NewTicker(8 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(8 * time.Second)
	var seq uint16
	for lp.link.Capacity() >= offered {
		if time.Now().After(deadline) {
			t.Fatalf("capacity estimate still %.2f Mbit/s with 3 Mbit/s offered: %+v", lp.link.Capacity()/1e6, lp.link.Stats().In)
		}
		<-tick.C
		for range 3 {
			lp.src.write("v1", linkRTP(seq, 988))
			seq++
		}
	}
	st := lp.link.Stats()
	t.Logf("estimate %.2f -> %.2f Mbit/s after %d packets; in %+v", initial/1e6, st.CapacityIn/1e6, seq, st.In)
	if st.In.Dropped == 0 {
		t.Errorf("the upstream reported no drops")
	}
}
