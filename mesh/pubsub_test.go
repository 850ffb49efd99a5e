package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// connectedPair returns two hosts that trust each other, once connected.
func connectedPair(t *testing.T, edit ...func(*Config)) (*Host, *Host) {
	t.Helper()
	a, b := newHost(t, edit...), newHost(t, edit...)
	ea := watch(a)
	trust(t, a, b)
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)
	return a, b
}

// TestTopicFilter: a topic that is not allowed cannot be joined; a topic allowed late works
// at once with peers that subscribed long before (their earlier subscriptions were
// tracked); DisallowTopic leaves a joined topic.
func TestTopicFilter(t *testing.T) {
	a, b := connectedPair(t)
	a.AllowTopic("room")
	if _, err := b.Join("room"); !errors.Is(err, ErrTopicNotAllowed) {
		t.Fatalf("Join of a topic not allowed: %v", err)
	}
	ta, err := a.Join("room")
	if err != nil {
		t.Fatal(err)
	}
	joinAll(t, "common", a, b) // a's "room" subscription has reached b by now
	if err := ta.Publish(ctxTimeout(t, time.Second), []byte("before b allowed it")); err != nil {
		t.Fatal(err)
	}

	b.AllowTopic("room")
	tb, err := b.Join("room")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a and b see each other on room", func() bool {
		return slices.Contains(tb.Peers(), a.ID()) && slices.Contains(ta.Peers(), b.ID())
	})
	if err := tb.Publish(ctxTimeout(t, time.Second), []byte("from b")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ta, 5*time.Second); string(m.Data) != "from b" {
		t.Fatalf("a received %q", m.Data)
	}
	if err := ta.Publish(ctxTimeout(t, time.Second), []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tb, 5*time.Second); string(m.Data) != "from a" {
		t.Fatalf("b received %q (a message from before it joined must not be delivered)", m.Data)
	}

	long := string(make([]byte, maxTopicLen+1))
	b.AllowTopic(long)
	if b.filter.CanSubscribe(long) {
		t.Fatal("an over-long topic name was allowed")
	}
	if tp, err := a.Join("room"); err == nil {
		tp.Close()
		t.Fatal("joined the same topic twice")
	}
	a.DisallowTopic("room")
	if _, err := ta.Next(ctxTimeout(t, time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after DisallowTopic: %v", err)
	}
	if err := ta.Publish(ctxTimeout(t, time.Second), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after DisallowTopic: %v", err)
	}
	if _, err := a.Join("room"); !errors.Is(err, ErrTopicNotAllowed) {
		t.Fatalf("Join after DisallowTopic: %v", err)
	}
}

// TestTopicFilterBounds: peers' subscriptions to topics not allowed are tracked up to a
// bound of distinct names, never for over-long names; allowed topics always are.
func TestTopicFilterBounds(t *testing.T) {
	f := newTopicFilter(testLogger(t))
	f.set("allowed", true)
	for i := range maxTrackedTopics {
		if !f.track(fmt.Sprint("t", i)) {
			t.Fatalf("topic %d not tracked", i)
		}
	}
	if f.track("one more") {
		t.Fatal("tracked past the bound")
	}
	if !f.track("t7") || !f.track("allowed") {
		t.Fatal("a known topic was dropped")
	}
	if f.track(string(make([]byte, maxTopicLen+1))) || f.track("") {
		t.Fatal("a bad topic name was tracked")
	}
	if f.CanSubscribe("t7") {
		t.Fatal("a tracked topic may be joined")
	}
}

// TestGossipSizeCaps: a publisher cannot publish over its cap; a receiver drops (and counts)
// messages over its own cap, whether they fit its RPC frame limit or not, and keeps
// receiving messages within it.
func TestGossipSizeCaps(t *testing.T) {
	small := func(c *Config) { c.MaxMessageSize = 1 << 10 }
	a := newHost(t)        // 1 MiB cap
	b := newHost(t, small) // 1 KiB cap
	eb := watch(b)
	trust(t, a, b)
	trust(t, b, a)
	eb.await(t, a.ID(), true, 10*time.Second)
	topics := joinAll(t, "t", a, b)

	if err := topics[1].Publish(ctxTimeout(t, time.Second), make([]byte, 1<<10+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("publishing over the cap: %v", err)
	}
	if err := topics[1].Publish(ctxTimeout(t, time.Second), make([]byte, 1<<10)); err != nil {
		t.Fatalf("publishing at the cap: %v", err)
	}
	if m := next(t, topics[0], 5*time.Second); len(m.Data) != 1<<10 {
		t.Fatalf("a received %d bytes", len(m.Data))
	}

	// 4 KiB: within b's RPC frame limit, over its message cap: the validator rejects it.
	// 512 KiB: over b's RPC frame limit: gossipsub drops the stream, and opens a new one.
	for _, size := range []int{4 << 10, 512 << 10} {
		rejected := b.Stats().RejectedMessages
		if err := topics[0].Publish(ctxTimeout(t, time.Second), bytes.Repeat([]byte{'x'}, size)); err != nil {
			t.Fatal(err)
		}
		marker := fmt.Appendf(nil, "after %d", size)
		eventually(t, 10*time.Second, "b receives the next small message", func() bool {
			if err := topics[0].Publish(ctxTimeout(t, time.Second), marker); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			for {
				m, err := topics[1].Next(ctx)
				if err != nil {
					return false
				}
				if len(m.Data) > 1<<10 {
					t.Fatalf("b delivered a %d-byte message", len(m.Data))
				}
				if bytes.Equal(m.Data, marker) {
					return true
				}
			}
		})
		if size == 4<<10 {
			// validation runs on several workers: the marker may have overtaken it
			eventually(t, 5*time.Second, "the oversized message counted", func() bool { return b.Stats().RejectedMessages > rejected })
		}
	}
}

// TestValidator: a topic validator sees the author and data, and what it rejects or
// ignores is neither delivered nor relayed.
func TestValidator(t *testing.T) {
	a, b := connectedPair(t)
	var mu sync.Mutex
	var seen []peer.ID
	b.AllowTopic("v")
	err := b.SetValidator("v", func(_ context.Context, from peer.ID, data []byte) Verdict {
		mu.Lock()
		seen = append(seen, from)
		mu.Unlock()
		switch string(data) {
		case "bad":
			return Reject
		case "old":
			return Ignore
		}
		return Accept
	})
	if err != nil {
		t.Fatal(err)
	}
	topics := joinAll(t, "v", a, b)
	for _, s := range []string{"bad", "old", "good"} {
		if err := topics[0].Publish(ctxTimeout(t, time.Second), []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if m := next(t, topics[1], 5*time.Second); string(m.Data) != "good" {
		t.Fatalf("b delivered %q", m.Data)
	}
	// Messages are validated concurrently, so delivery order is not publication order.
	eventually(t, 5*time.Second, "all three validated", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range seen {
		if p != a.ID() {
			t.Fatalf("validator saw author %s, want %s", p, a.ID())
		}
	}
	eventually(t, 5*time.Second, "one rejected and one ignored counted", func() bool {
		st := b.Stats()
		return st.RejectedMessages == 1 && st.IgnoredMessages == 1
	})
	if err := b.SetValidator("v", nil); err != nil {
		t.Fatal(err)
	}
}

// TestRelayedAuthorMustBeTrusted: a message relayed by a trusted peer but authored by a node
// this host does not trust is dropped without penalty to the relay.
func TestRelayedAuthorMustBeTrusted(t *testing.T) {
	a, relay, c := newHost(t), newHost(t), newHost(t)
	er := watch(relay)
	// a - relay - c: a and c do not know each other.
	trust(t, a, relay)
	trust(t, relay, a)
	trust(t, c, relay)
	trust(t, relay, c)
	er.await(t, a.ID(), true, 10*time.Second)
	er.await(t, c.ID(), true, 10*time.Second)
	for _, h := range []*Host{a, relay, c} {
		h.AllowTopic("r")
	}
	ta, _ := a.Join("r")
	tr, _ := relay.Join("r")
	tc, _ := c.Join("r")
	eventually(t, 10*time.Second, "relay sees both subscribed", func() bool { return len(tr.Peers()) == 2 })
	eventually(t, 10*time.Second, "a and c see the relay", func() bool { return len(ta.Peers()) == 1 && len(tc.Peers()) == 1 })

	// c publishes until one of its messages has been relayed to a (once the relay's mesh
	// has formed, or through gossip) and dropped there.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; a.Stats().IgnoredMessages == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no message from c reached a's validator")
		}
		if err := tc.Publish(ctxTimeout(t, time.Second), fmt.Appendf(nil, "from c %d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // spacing between publications, not synchronisation
	}
	if m := next(t, tr, 5*time.Second); m.From != c.ID() {
		t.Fatalf("relay got %q from %s", m.Data, m.From)
	}
	if err := tr.Publish(ctxTimeout(t, time.Second), []byte("from relay")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ta, 5*time.Second); string(m.Data) != "from relay" {
		t.Fatalf("a got %q from %s via %s", m.Data, m.From, m.Via)
	}
	if st := a.Stats(); st.RejectedMessages != 0 {
		t.Fatalf("the relay was penalised: %+v", st)
	}
}

// TestGossipSupervisor: a connected peer that gossipsub has given up on (here: its stream
// could not be opened because the remote does not serve the gossip protocol) is
// disconnected, so that it can start over.
func TestGossipSupervisor(t *testing.T) {
	a := newHost(t, func(c *Config) { c.gossipCheck = 100 * time.Millisecond })
	b := newHost(t)
	b.host.RemoveStreamHandler(gossipProtocol)
	ea := watch(a)
	trust(t, a, b)
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)
	start := time.Now()
	ea.await(t, b.ID(), false, 10*time.Second)
	t.Logf("peer without gossip disconnected after %v", time.Since(start).Round(time.Millisecond))
}
