package node

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
)

// Participants of nodes out of reach. A node that crashes, or is cut off, leaves its last
// state record behind, and every other node would show its participants for ever. So a node
// whose participants are shown here must stay within reach: connected (as the mesh reports
// it), or heard from lately (a newer state record, a fresh log entry). Once it has been out
// of reach for longer than Config.UnreachableGrace, local clients get participant_left with
// reason "unreachable" for each of its participants. The signed records are left as they
// are: when the node is back (connected and caught up with, or heard from), its participants
// of the records then held are shown again with participant_joined. A blip shorter than the
// grace period changes nothing.
//
// A node that is alive but reached only through others (its direct link cut) is shown while
// its records keep coming, and hidden a grace period after the last one.

// DefaultUnreachableGrace is Config.UnreachableGrace's default.
const DefaultUnreachableGrace = 30 * time.Second

// reachability decides which federated nodes' participants are shown. It is a plain state
// machine: callers pass the time and serialise calls.
type reachability struct {
	grace time.Duration
	start time.Time // a node not heard of since the start counts from it
	nodes map[peer.ID]*reach
}

// reach is what is known of one node.
type reach struct {
	connected bool      // as the mesh last reported
	heard     time.Time // its last sign of life: connection made or lost, something new from it
	hidden    bool      // its participants are not shown
	returning bool      // connected again while hidden: shown once caught up with, or a grace later
}

func newReachability(grace time.Duration, start time.Time) reachability {
	return reachability{grace: grace, start: start, nodes: map[peer.ID]*reach{}}
}

func (r *reachability) node(id peer.ID) *reach {
	x := r.nodes[id]
	if x == nil {
		x = &reach{heard: r.start}
		r.nodes[id] = x
	}
	return x
}

// connection records that the mesh connected to id (up) or lost it. A hidden node that
// connects is not shown yet: what this node holds of it may be stale (it may have restarted
// with none of its participants) until catch-up with it has run.
func (r *reachability) connection(id peer.ID, up bool, now time.Time) {
	x := r.node(id)
	x.connected, x.heard = up, now
	x.returning = up && x.hidden
}

// caughtUp records that catch-up with id has run: what is held of it is current.
func (r *reachability) caughtUp(id peer.ID) {
	if x := r.nodes[id]; x != nil && x.connected {
		x.returning = false
	}
}

// heardFrom records something id wrote at t (capped at now, as clocks differ). It reports
// whether that is newer than its last sign of life and id is hidden: whether step would now
// show it.
func (r *reachability) heardFrom(id peer.ID, t, now time.Time) bool {
	if t.After(now) {
		t = now
	}
	x := r.node(id)
	if !t.After(x.heard) {
		return false
	}
	x.heard, x.returning = t, false
	return x.hidden
}

// isHidden reports whether id's participants are not shown.
func (r *reachability) isHidden(id peer.ID) bool {
	x := r.nodes[id]
	return x != nil && x.hidden
}

// step brings every node up to date at now. It returns the nodes to hide and those to show
// again (each sorted), and when step must run next (zero: only on an event). connected asks
// the mesh about a node about to be hidden, which may have connected before its events were
// followed.
func (r *reachability) step(now time.Time, connected func(peer.ID) bool) (hide, show []peer.ID, next time.Time) {
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for id, x := range r.nodes {
		due := x.heard.Add(r.grace)
		if x.returning {
			if now.Before(due) {
				soonest(due)
				continue
			}
			x.returning = false // no catch-up came: show what is held
		}
		gone := !x.connected && !now.Before(due)
		if gone && !x.hidden && connected(id) {
			x.connected, x.heard, gone = true, now, false
		}
		switch {
		case gone && !x.hidden:
			x.hidden = true
			hide = append(hide, id)
		case !gone && x.hidden:
			x.hidden = false
			show = append(show, id)
		}
		if !x.connected && !x.hidden {
			soonest(due)
		}
	}
	slices.Sort(hide)
	slices.Sort(show)
	return hide, show, next
}

// unreachable applies reachability to the node's rooms. Its goroutine wakes on events and on
// the next deadline.
type unreachable struct {
	mu   sync.Mutex // guards r and seen
	r    reachability
	seen map[string]map[peer.ID]uint64 // room -> node -> newest state record version seen

	wake chan struct{}
	stop chan struct{}
	done chan struct{} // closed when the goroutine ends; nil until started
}

func newUnreachable(grace time.Duration, start time.Time) *unreachable {
	return &unreachable{r: newReachability(grace, start), seen: map[string]map[peer.ID]uint64{},
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// poke asks the goroutine to run a step.
func (u *unreachable) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// connection is the federation's PeerConnection handler.
func (u *unreachable) connection(id peer.ID, up bool) {
	u.mu.Lock()
	u.r.connection(id, up, time.Now())
	u.mu.Unlock()
	u.poke()
}

// caughtUp is the federation's PeerCaughtUp handler.
func (u *unreachable) caughtUp(id peer.ID) {
	u.mu.Lock()
	u.r.caughtUp(id)
	u.mu.Unlock()
	u.poke()
}

// observe notes room's state records (those of self excepted): a record newer than the one
// seen before is a sign of life of its node now; one seen for the first time, as of the
// time it was written. It reports whether a hidden node is to be shown.
func (u *unreachable) observe(room string, recs []federation.StateRecord, self peer.ID) bool {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	seen := u.seen[room]
	if seen == nil {
		seen = map[peer.ID]uint64{}
		u.seen[room] = seen
	}
	present := make(map[peer.ID]bool, len(recs))
	back := false
	for _, rec := range recs {
		if rec.Node == self {
			continue
		}
		present[rec.Node] = true
		old, known := seen[rec.Node]
		if known && rec.Version <= old {
			continue
		}
		seen[rec.Node] = rec.Version
		t := rec.Time
		if known {
			t = now
		}
		back = u.r.heardFrom(rec.Node, t, now) || back
	}
	for id := range seen {
		if !present[id] {
			delete(seen, id) // a removed peer's record, dropped
		}
	}
	if len(seen) == 0 {
		delete(u.seen, room)
	}
	return back
}

// entry notes a log entry of another node: a sign of life as of when it was written. It
// reports whether a hidden node is to be shown.
func (u *unreachable) entry(e federation.Entry) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.r.heardFrom(e.Node, e.Time, time.Now())
}

// hidden reports whether id's participants are not shown.
func (u *unreachable) hidden(id peer.ID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.r.isHidden(id)
}

// startReach starts the goroutine that hides and shows the participants of nodes as they go
// out of reach and come back.
func (n *Node) startReach() {
	u := n.fed.reach
	u.done = make(chan struct{})
	go func() {
		defer close(u.done)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			if next := n.stepReach(); next.IsZero() {
				timer.Stop()
			} else {
				timer.Reset(time.Until(next))
			}
			select {
			case <-u.stop:
				return
			case <-u.wake:
			case <-timer.C:
			}
		}
	}()
}

// closeReach stops the goroutine of startReach and waits for it.
func (n *Node) closeReach() {
	u := n.fed.reach
	if u.done == nil {
		return
	}
	close(u.stop)
	<-u.done
	u.done = nil
}

// reachNow runs a step at once, from a goroutine other than startReach's, which it then
// wakes to follow the deadlines.
func (n *Node) reachNow() {
	n.stepReach()
	n.fed.reach.poke()
}

// stepReach hides the participants of nodes gone out of reach and shows those of nodes back
// in reach: the live meetings look again at whom to show. It returns when it must run next
// (zero: on an event).
func (n *Node) stepReach() time.Time {
	u := n.fed.reach
	u.mu.Lock()
	hide, show, next := u.r.step(time.Now(), n.fed.host.Connected)
	u.mu.Unlock()
	for _, id := range hide {
		n.log.Info("a federated node is out of reach: its participants are no longer shown", "node", id)
	}
	for _, id := range show {
		n.log.Info("a federated node is back in reach: its participants are shown again", "node", id)
	}
	if len(hide) > 0 || len(show) > 0 {
		n.meetings.ReachChanged()
	}
	return next
}
