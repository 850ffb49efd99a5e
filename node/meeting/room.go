package meeting

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// Room is one live room: the goroutine that owns its meeting, and its mailbox. Every method
// posts to the mailbox, never blocking on the meeting; those that answer wait for it.
type Room struct {
	id  string
	reg *Registry
	m   *meeting // owned by run

	mu      sync.Mutex // guards the mailbox
	queue   []func()
	stopped bool
	wake    chan struct{}

	prev <-chan struct{} // closed when the previous room of the same id has ended
	done chan struct{}
	refs int // sessions holding the room; guarded by reg.mu
}

// maxQueue bounds a room's mailbox. Sessions wait for their answers, so they hold at most
// one entry each; the rest comes from the federation, which is bounded by its own limits.
const maxQueue = 1 << 14

// ID is the room's ID.
func (r *Room) ID() string { return r.id }

// post queues f for the room's goroutine. It reports false if the room has stopped or its
// mailbox is full (counted).
func (r *Room) post(f func()) bool {
	r.mu.Lock()
	if r.stopped || len(r.queue) >= maxQueue {
		r.mu.Unlock()
		r.reg.cfg.Metrics.Refused("room_busy")
		return false
	}
	r.queue = append(r.queue, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// call runs f on the room's goroutine and waits for it. It reports false if the room has
// stopped.
func (r *Room) call(f func()) bool {
	ran := make(chan struct{})
	if !r.post(func() { f(); close(ran) }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-r.done:
		return false
	}
}

var errStopped = &Refusal{Code: signal.CodeInternal, Text: "the node is shutting down"}

// Join takes a client's join (see JoinRequest). A nil result means the connection was told
// where it stands: waiting in the lobby, or Admitted and joined.
func (r *Room) Join(req JoinRequest) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.join(req, r.reg.now()) }) {
		return errStopped
	}
	if res != nil {
		r.reg.cfg.Metrics.Refused(res.Code)
	}
	return res
}

// Leave takes id out of the room or its lobby, as having left.
func (r *Room) Leave(id string) {
	r.call(func() { r.m.leave(id, signal.ReasonLeft) })
}

// Admit lets id in from the lobby, on moderator by's word.
func (r *Room) Admit(by, id string) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.admitWaiting(by, id, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// Remove sends id away, on moderator by's word.
func (r *Room) Remove(by, id string) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.remove(by, id) }) {
		return errStopped
	}
	return res
}

// Change applies one of id's changes to how others see it.
func (r *Room) Change(id string, c Change, on bool) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.change(id, c, on, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// Allow rate-limits id's action.
func (r *Room) Allow(id string, a Action) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.allow(id, a, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// Key relays a local member's key envelope; forward reports whether it must go to other
// nodes too (through the room's log).
func (r *Room) Key(k Key) (forward bool, _ *Refusal) {
	var res *Refusal
	if !r.call(func() { forward, res = r.m.key(k, r.reg.now()) }) {
		return false, errStopped
	}
	return forward, res
}

// Moderate applies moderator by's action (see package signal: moderate).
func (r *Room) Moderate(by, action, target string) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.moderate(by, action, target, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// Caption relays a caption of the room's transcriber agent id to everyone in the room.
func (r *Room) Caption(id string, sframe []byte) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.caption(id, sframe, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// React shows id's reaction to everyone in the room.
func (r *Room) React(id, reaction string) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.react(id, reaction, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// SetLang records the language id speaks.
func (r *Room) SetLang(id, lang string) *Refusal {
	var res *Refusal
	if !r.call(func() { res = r.m.setLang(id, lang, r.reg.now()) }) {
		return errStopped
	}
	return res
}

// remoteCaption relays a caption of another node's transcriber.
func (r *Room) remoteCaption(node peer.ID, from string, sframe []byte) {
	r.post(func() {
		if res := r.m.remoteCaption(node, from, sframe, r.reg.now()); res != nil {
			r.m.log.Debug("caption from another node refused", "node", node, "err", res)
		}
	})
}

// remoteEvent applies an event another node put in the room's log at time at.
func (r *Room) remoteEvent(node peer.ID, ev Event, at time.Time) {
	r.post(func() {
		if res := r.m.remoteEvent(node, ev, at, r.reg.now()); res != nil {
			r.m.log.Debug("event from another node refused", "node", node, "err", res)
		}
	})
}

// run is the room's goroutine.
func (r *Room) run() {
	defer close(r.done)
	if r.prev != nil {
		<-r.prev // its last record is handed to the publisher before ours
	}
	cfg := r.reg.cfg
	r.m.refresh(cfg.State(r.id), cfg.Hidden, r.reg.now())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.wake:
		case <-tick.C:
			r.m.tick(r.reg.now())
		}
		r.mu.Lock()
		queue, stopped := r.queue, r.stopped
		r.queue = nil
		r.mu.Unlock()
		for _, f := range queue {
			f()
		}
		r.flush()
		if stopped {
			return
		}
	}
}

// flush hands the meeting's effects on: its record to the publisher, media to close.
func (r *Room) flush() {
	m := r.m
	if m.dirty {
		m.dirty = false
		r.reg.pub.put(r.id, m.snapshot())
	}
	for _, ms := range m.closers {
		r.reg.closeMedia(ms)
	}
	m.closers = nil
}

// stop ends the room's goroutine after what is queued. reg.mu is held.
func (r *Room) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Release gives the room back; the last session to release a room stops it.
func (r *Room) Release() { r.reg.release(r) }

// stateChanged asks the room to follow the federation's state records again.
func (r *Room) stateChanged() {
	r.post(func() { r.m.refresh(r.reg.cfg.State(r.id), r.reg.cfg.Hidden, r.reg.now()) })
}

// chat hands a chat message of the room's log to its members.
func (r *Room) chat(c signal.ChatMessage) { r.post(func() { r.m.chat(c) }) }

// remoteKey relays an envelope another node put in the room's log.
func (r *Room) remoteKey(node peer.ID, env identity.SignedObject) {
	r.post(func() {
		if res := r.m.remoteKey(node, env, r.reg.now()); res != nil {
			r.m.log.Debug("key envelope from another node refused", "node", node, "err", res)
		}
	})
}

// policy replaces the room's record (a new version from its owner); a deleted room sends
// everyone here away.
func (r *Room) policy(room federation.Room) {
	r.post(func() {
		r.m.room = room
		if room.Deleted {
			r.m.end(signal.CodeRoomDeleted, "the meeting is over: its host deleted the room")
			return
		}
		r.m.policyCohosts()
	})
}
