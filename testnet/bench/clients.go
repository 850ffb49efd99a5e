package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"parley/media/client"
	"parley/media/signal"
)

// benchClientConfig is a benchmark client's configuration: named name, joining room at
// base, its ICE limited to UDP over IPv4 loopback.
func benchClientConfig(base, room, name string, log *slog.Logger) client.Config {
	return client.Config{
		URL: base, Room: room, Name: name,
		Logger:       log.With("client", name),
		NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeUDP4},
		IPFilter:     func(ip net.IP) bool { return ip.IsLoopback() },
	}
}

// joinBenchClients joins n Go clients, configured by cfg(i), a few at a time. On error it
// closes those that joined.
func joinBenchClients(ctx context.Context, n int, cfg func(i int) client.Config) ([]*client.Client, error) {
	cs := make([]*client.Client, n)
	errs := make([]error, n)
	sem := make(chan struct{}, benchJoinParallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, benchJoinTimeout)
			defer cancel()
			cs[i], errs[i] = client.Join(jctx, cfg(i))
		}()
	}
	wg.Wait()
	var joined []*client.Client
	for _, c := range cs {
		if c != nil {
			joined = append(joined, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeClients(joined)
		return nil, fmt.Errorf("bench: %d of %d clients could not join: %w", n-len(joined), n, err)
	}
	return joined, nil
}

// closeClients closes clients in parallel; nil entries are skipped.
func closeClients(cs []*client.Client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	wg.Wait()
}

// waitTopLayer waits until every client in subs receives pubID's top layer (a 1280x720
// keyframe, and packets within the last second), asking each for the high quality once it
// sees the camera track. sleep waits between checks and fails when the benchmark must stop;
// progress reports every benchProgressEvery.
func waitTopLayer(ctx context.Context, subs []*client.Client, pubID string,
	sleep func(context.Context, time.Duration) error, progress func(string, ...any)) error {
	n := len(subs)
	limit := benchWarmupBase + time.Duration(n)*benchWarmupPerSub
	deadline := time.Now().Add(limit)
	asked := make([]bool, n)
	lastProgress := time.Now()
	for {
		ready := 0
		for i, c := range subs {
			tr, ok := FindTrack(c, pubID, signal.SourceCamera)
			if !ok {
				continue
			}
			if !asked[i] {
				if err := c.SetQuality(tr.ID, signal.QualityHigh); err == nil {
					asked[i] = true
				}
			}
			if tr.Keyframes > 0 && tr.Width == 1280 && tr.Height == 720 && time.Since(tr.LastPacket) < time.Second {
				ready++
			}
		}
		if ready == n {
			progress("warm-up done: all %d subscribers receive 1280x720", n)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: only %d of %d subscribers received the 1280x720 layer within %v (e.g. %s)",
				ready, n, limit, DescribeTracks(subs[0]))
		}
		if time.Since(lastProgress) >= benchProgressEvery {
			progress("warm-up: %d of %d subscribers receive 1280x720", ready, n)
			lastProgress = time.Now()
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// receivedPackets is the number of RTP packets the clients have received so far.
func receivedPackets(cs []*client.Client) uint64 {
	var sum uint64
	for _, c := range cs {
		for _, tr := range c.Tracks() {
			sum += tr.Packets
		}
	}
	return sum
}
