package meeting

import (
	"sync"
	"time"

	"parley/federation"
)

// publisher writes the node's state records of rooms, on its own goroutine: rooms hand it
// snapshots without waiting, and it publishes the latest one of each room at most once per
// interval (the first change at once, the next ones together an interval later). It also
// republishes a room when its tracks change (kick), with the latest snapshot.
type publisher struct {
	cfg *Config

	mu      sync.Mutex
	latest  map[string][]Published // room -> last snapshot handed in
	due     map[string]bool        // rooms with something to publish
	last    map[string]time.Time   // room -> when its record was last published
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

func newPublisher(cfg *Config) *publisher {
	p := &publisher{cfg: cfg, latest: map[string][]Published{}, due: map[string]bool{}, last: map[string]time.Time{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// put hands in room's snapshot.
func (p *publisher) put(room string, ps []Published) {
	p.mu.Lock()
	p.latest[room], p.due[room] = ps, true
	p.mu.Unlock()
	p.poke()
}

// kick republishes room with its latest snapshot (a room with none has nobody here).
func (p *publisher) kick(room string) {
	p.mu.Lock()
	if _, ok := p.latest[room]; ok {
		p.due[room] = true
	}
	p.mu.Unlock()
	p.poke()
}

// close publishes what is due and stops.
func (p *publisher) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.poke()
	<-p.done
}

func (p *publisher) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-p.wake:
		case <-timer.C:
		}
		now := p.cfg.Now()
		p.mu.Lock()
		stopped := p.stopped
		var ready []string
		var next time.Time
		for room := range p.due {
			at := p.last[room].Add(p.cfg.PublishInterval)
			if stopped || !now.Before(at) {
				ready = append(ready, room)
				continue
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		snaps := make([][]Published, len(ready))
		for i, room := range ready {
			snaps[i] = p.latest[room]
			delete(p.due, room)
			p.last[room] = now
			if len(snaps[i]) == 0 {
				delete(p.latest, room) // nobody here: nothing to republish on a kick
			}
		}
		p.mu.Unlock()
		for i, room := range ready {
			p.publish(room, snaps[i])
		}
		if stopped {
			return
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		p.forget(now)
	}
}

// forget drops the publish times of rooms idle for long.
func (p *publisher) forget(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.last) < 1024 {
		return
	}
	for room, t := range p.last {
		if _, live := p.latest[room]; !live && now.Sub(t) > time.Minute {
			delete(p.last, room)
		}
	}
}

// publish writes room's record: the snapshot with each participant's tracks now.
func (p *publisher) publish(room string, snap []Published) {
	var tracks map[string][]Track
	if len(snap) > 0 {
		tracks = p.cfg.Tracks(room)
	}
	ps := make([]federation.Participant, 0, len(snap))
	for _, s := range snap {
		info := s.Info
		info.Tracks = tracks[s.ID]
		if len(info.Tracks) > MaxTracks {
			info.Tracks = info.Tracks[:MaxTracks]
		}
		raw, err := EncodeInfo(info)
		if err != nil {
			info.Tracks = nil // the tracks overflow the info: publish the participant without them
			if raw, err = EncodeInfo(info); err != nil {
				p.cfg.Log.Error("encode a participant for the room's record", "room", room, "participant", s.ID, "err", err)
				continue
			}
		}
		ps = append(ps, federation.Participant{ID: s.ID, Info: raw})
	}
	if err := p.cfg.Publish(room, ps); err != nil {
		p.cfg.Log.Warn("publish the room's participants", "room", room, "err", err)
	}
}
