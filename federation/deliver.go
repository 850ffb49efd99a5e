package federation

import (
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Delivery of log entries to Handlers.EntryAppended. Entries of one (room, node) are stored
// in whatever order they arrive (gossip reorders, a partition leaves holes that catch-up
// fills later), but the node layer reads them as a stream: a participant's key envelope must
// reach clients before the chat it opens. So each (room, node) log has a delivered mark
// (seqSet.delivered): every entry up to it has been handed to EntryAppended, and the next
// one is handed on only once it is stored and every entry before it too.
//
//	stored:     1 2 3 . 5 6        (4 missing)
//	delivered:  1 2 3              5 and 6 wait; when 4 is stored, 4 5 6 go out in order
//
// At New the mark is the stored contiguous seq: what the store held before the node
// started is not handed on again (the node layer reads it with History, which shows only
// delivered entries). One goroutine at a time delivers: whoever commits entries and finds
// no delivery running delivers until nothing is left; a committer that finds one running
// leaves its logs to it. Handlers are never called with f.mu held, and a handler that
// appends does not wait for itself. A gap that lasts gapWait prompts catch-up of the room.

const (
	deliverPage = 256                    // entries read from the store at a time
	gapWait     = 500 * time.Millisecond // how long a gap may last before catch-up is asked for
)

// logID names one node's log in one room.
type logID struct {
	room string
	node peer.ID
}

// deliverEntries hands every stored entry that follows a log's delivered mark without a gap
// to EntryAppended, in seq order, unless another goroutine is doing so (which then does it).
func (f *Federation) deliverEntries() {
	f.mu.Lock()
	if f.delivering {
		f.mu.Unlock()
		return
	}
	f.delivering = true
	f.mu.Unlock()
	for {
		f.mu.Lock()
		var todo []logID
		for id := range f.toDeliver {
			delete(f.toDeliver, id)
			if s := f.logs[id.room][id.node]; s != nil && s.delivered < s.contig {
				todo = append(todo, id)
			}
		}
		if len(todo) == 0 {
			f.delivering = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		for _, id := range todo {
			f.deliverLog(id)
		}
	}
}

// deliverLog hands on id's entries past its delivered mark up to its contiguous seq.
func (f *Federation) deliverLog(id logID) {
	for f.ctx.Err() == nil {
		f.mu.Lock()
		s := f.logs[id.room][id.node]
		if s == nil || s.delivered >= s.contig {
			f.mu.Unlock()
			return
		}
		from, to := s.delivered, s.contig
		f.mu.Unlock()

		raws, _, err := f.st.entriesAfter(id.room, id.node, from, int(min(to-from, deliverPage)), maxSyncResponse)
		if err != nil {
			f.log.Warn("read entries to deliver", "room", id.room, "node", id.node, "err", err)
			return
		}
		var page []Entry
		for _, raw := range raws {
			m, err := f.decode(raw)
			if err != nil || m.kind != kindEntry || m.entry.Room != id.room || m.entry.Node != id.node ||
				m.entry.Seq != from+uint64(len(page))+1 {
				// Only a removal (which deletes the log) changes what the store holds here.
				f.log.Debug("stored entries changed while being delivered", "room", id.room, "node", id.node, "err", err)
				return
			}
			page = append(page, m.entry.entry())
		}
		if len(page) == 0 {
			return
		}
		// The mark moves before the handler runs, so that History, read by someone who
		// registers for the events afterwards, never misses an entry they do not get.
		f.mu.Lock()
		if f.logs[id.room][id.node] != s || s.delivered != from {
			f.mu.Unlock()
			return // the peer was removed meanwhile
		}
		s.delivered = page[len(page)-1].Seq
		f.notifyLocked()
		f.mu.Unlock()
		if h := f.cfg.Handlers.EntryAppended; h != nil {
			for _, e := range page {
				h(e)
			}
		}
	}
}

// watchGap asks for catch-up of room if a gap in one of its logs lasts gapWait: from the
// nodes whose logs have gaps (each holds all its own entries) if connected, else from one
// connected peer of the room. One watch runs per room, so at most one request goes out per
// room every gapWait.
func (f *Federation) watchGap(room string) {
	f.mu.Lock()
	_, watching := f.gapWatch[room]
	if !watching {
		f.gapWatch[room] = struct{}{}
	}
	f.mu.Unlock()
	if watching {
		return
	}
	done := func() {
		f.mu.Lock()
		delete(f.gapWatch, room)
		f.mu.Unlock()
	}
	ok := f.goFn(func() {
		defer done()
		t := time.NewTimer(gapWait)
		defer t.Stop()
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		var gaps []peer.ID
		for node, s := range f.logs[room] {
			if len(s.above) > 0 && node != f.self {
				gaps = append(gaps, node)
			}
		}
		f.mu.Unlock()
		if len(gaps) == 0 {
			return
		}
		asked := false
		for _, node := range gaps {
			if f.host.Connected(node) {
				f.requestSync(node, false, []string{room})
				asked = true
			}
		}
		if ids := f.connectedPeers(room); !asked && len(ids) > 0 {
			f.requestSync(ids[rand.IntN(len(ids))], false, []string{room})
		}
		f.cnt.gapSyncs.Add(1)
	})
	if !ok {
		done()
	}
}
