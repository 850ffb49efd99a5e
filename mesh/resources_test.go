package mesh

import (
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// TestLimitsAreExplicit: the resource manager gets the documented numbers, the same on any
// machine, and a caller's values replace them.
func TestLimitsAreExplicit(t *testing.T) {
	def, err := Limits{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	got := def.limitConfig().ToPartialLimitConfig()
	check := func(name string, v rcmgr.LimitVal, want int) {
		t.Helper()
		if int(v) != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	check("system conns", got.System.Conns, 256)
	check("system streams", got.System.Streams, 4096)
	check("system FD", got.System.FD, 512)
	check("transient conns", got.Transient.Conns, 64)
	check("per-peer conns", got.PeerDefault.Conns, 8)
	check("per-peer streams", got.PeerDefault.Streams, 512)
	if got.System.Memory != 256<<20 || got.PeerDefault.Memory != 64<<20 {
		t.Errorf("memory: system %d, per peer %d", got.System.Memory, got.PeerDefault.Memory)
	}

	custom, err := Limits{Conns: 32, StreamsPerPeer: 16, Memory: 64 << 20}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	got = custom.limitConfig().ToPartialLimitConfig()
	check("custom conns", got.System.Conns, 32)
	check("custom per-peer streams", got.PeerDefault.Streams, 16)
	if got.System.Memory != 64<<20 {
		t.Errorf("custom memory %d", got.System.Memory)
	}

	// A host's resource manager runs with them.
	h := newHost(t, func(c *Config) { c.Limits = Limits{Conns: 40} })
	var conns int
	err = h.host.Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
		l, ok := s.(rcmgr.ResourceScopeLimiter)
		if !ok {
			t.Fatalf("system scope %T has no limit", s)
		}
		conns = l.Limit().GetConnTotalLimit()
		return nil
	})
	if err != nil || conns != 40 {
		t.Fatalf("host's system connection limit %d, %v", conns, err)
	}
}

// TestCloseLeavesNoGoroutines: hosts that connected, gossiped and served requests leave no
// goroutines of their own behind once closed.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		a, b := newHost(t), newHost(t)
		defer a.Close()
		defer b.Close()
		ea := watch(a)
		trust(t, a, b)
		trust(t, b, a)
		ea.await(t, b.ID(), true, 10*time.Second)
		topics := joinAll(t, "t", a, b)
		if err := topics[0].Publish(ctxTimeout(t, time.Second), []byte("x")); err != nil {
			t.Fatal(err)
		}
		next(t, topics[1], 5*time.Second)
	}()
	eventually(t, 10*time.Second, "goroutines back to where they were", func() bool {
		return runtime.NumGoroutine() <= before+2
	})
}
