package testnet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// MeetThroughLinks joins one Go participant, publishing audio and video, through each
// room link (http://host:port/r/ROOM) and waits until every participant decrypts every
// other's audio and video. It returns how long that took after the last join.
func MeetThroughLinks(t testing.TB, timeout time.Duration, links ...string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cs []*client.Client
	for i, l := range links {
		base, room, ok := strings.Cut(l, "/r/")
		if !ok || room == "" {
			t.Fatalf("%q is not a room link", l)
		}
		c, err := client.Join(ctx, client.Config{URL: base, Room: room, Name: fmt.Sprintf("P%d", i+1),
			Publish: client.Publish{Audio: true, Video: true}, Logger: TestLogger(t)})
		if err != nil {
			t.Fatalf("join %s: %v", l, err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	start := time.Now()
	for _, rx := range cs {
		for _, tx := range cs {
			if rx == tx {
				continue
			}
			Eventually(t, timeout, rx.ID()+" decrypts "+tx.ID()+"'s media", func() error {
				audio, _ := FindTrack(rx, tx.ID(), signal.SourceMic)
				video, _ := FindTrack(rx, tx.ID(), signal.SourceCamera)
				if audio.Decrypted < 10 || video.Decrypted < 10 {
					return fmt.Errorf("decrypted %d audio and %d video frames", audio.Decrypted, video.Decrypted)
				}
				return nil
			})
		}
	}
	return time.Since(start)
}
