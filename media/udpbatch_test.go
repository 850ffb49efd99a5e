package media

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// TestBatchConnDelivers: datagrams written by several goroutines through a batchConn, in
// fan-outs of ten, all arrive, intact and in each writer's order, over IPv4 and IPv6
// loopback; batches carry more than one datagram; later writes after Close fail.
func TestBatchConnDelivers(t *testing.T) {
	for _, network := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(network, func(t *testing.T) {
			rx, err := net.ListenUDP("udp", mustResolve(t, network))
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer rx.Close()
			_ = rx.SetReadBuffer(8 << 20)
			txc, err := net.ListenUDP("udp", mustResolve(t, network))
			if err != nil {
				t.Fatal(err)
			}
			tx := newBatchConn(txc)
			to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

			const writers, each = 4, 500
			got := make(chan [2]uint32, writers*each)
			go func() {
				buf := make([]byte, 2000)
				for {
					n, err := rx.Read(buf)
					if err != nil {
						return
					}
					if n != 1200 {
						t.Errorf("datagram of %d bytes, want 1200", n)
					}
					got <- [2]uint32{binary.BigEndian.Uint32(buf), binary.BigEndian.Uint32(buf[4:])}
				}
			}()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := make([]byte, 1200)
					for i := range each {
						if i%10 == 0 {
							tx.hold() // fan-outs of 10
						}
						binary.BigEndian.PutUint32(p, uint32(w))
						binary.BigEndian.PutUint32(p[4:], uint32(i))
						if n, err := tx.WriteToAddrPort(p, to); err != nil || n != len(p) {
							t.Errorf("write: %d, %v", n, err)
							return
						}
						if i%10 == 9 {
							tx.release()
						}
					}
				}()
			}
			wg.Wait()
			if err := tx.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.WriteToAddrPort([]byte("late"), to); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after Close: %v, want net.ErrClosed", err)
			}
			next := make([]uint32, writers)
			deadline := time.After(10 * time.Second)
			for range writers * each {
				select {
				case d := <-got:
					if d[1] != next[d[0]] {
						t.Fatalf("writer %d: datagram %d arrived, want %d", d[0], d[1], next[d[0]])
					}
					next[d[0]]++
				case <-deadline:
					t.Fatalf("only %v of %d datagrams per writer arrived", next, each)
				}
			}
			if b, d := tx.batches.Load(), tx.datagrams.Load(); d != writers*each || b > d/2 {
				t.Errorf("%d datagrams in %d sendmmsg calls: no batching", d, b)
			} else {
				t.Logf("%d datagrams in %d sendmmsg calls", d, b)
			}
		})
	}
}

func mustResolve(t *testing.T, addr string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
