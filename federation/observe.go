package federation

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Observation, for tests and benchmarks: convergence of a change across N nodes is the time
// from SetParticipants (or Append) on one node to WaitState (or WaitEntry) returning on all
// the others.

// Stats returns the counters since New.
func (f *Federation) Stats() Stats { return f.cnt.stats() }

// StateVersion is the version of node's state record of room held here, 0 if none.
func (f *Federation) StateVersion(room string, node peer.ID) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[room].version(node)
}

// HasEntry reports whether node's entry seq of room is stored here.
func (f *Federation) HasEntry(room string, node peer.ID, seq uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.logs[room][node]
	return s != nil && s.has(seq)
}

// WaitState blocks until this node holds node's state record of room at version or newer,
// or ctx ends.
func (f *Federation) WaitState(ctx context.Context, room string, node peer.ID, version uint64) error {
	return f.wait(ctx, func() bool { return f.states[room].version(node) >= version },
		func() string { return fmt.Sprintf("state %s/%d of room %s", node, version, room) })
}

// WaitEntries blocks until this node stores every entry of node in room from 1 to seq and
// has delivered them (to EntryAppended, and so to History), or ctx ends.
func (f *Federation) WaitEntries(ctx context.Context, room string, node peer.ID, seq uint64) error {
	return f.wait(ctx, func() bool {
		s := f.logs[room][node]
		return s != nil && s.delivered >= seq
	}, func() string { return fmt.Sprintf("entries %s/1-%d of room %s", node, seq, room) })
}

// WaitRoom blocks until the directory holds room, or ctx ends.
func (f *Federation) WaitRoom(ctx context.Context, room string) error {
	return f.wait(ctx, func() bool { return f.rooms[room] != nil },
		func() string { return "room " + room })
}

// wait blocks until done (called with f.mu held) is true or ctx ends.
func (f *Federation) wait(ctx context.Context, done func() bool, what func() string) error {
	for {
		f.mu.Lock()
		ok, ch, closed := done(), f.changed, f.closed
		f.mu.Unlock()
		switch {
		case ok:
			return nil
		case closed:
			return fmt.Errorf("federation: waiting for %s: %w", what(), ErrClosed)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("federation: waiting for %s: %w", what(), ctx.Err())
		case <-f.ctx.Done():
			return fmt.Errorf("federation: waiting for %s: %w", what(), ErrClosed)
		}
	}
}
