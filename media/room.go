package media

import (
	"fmt"
	"log/slog"
	"sync"
)

// room is the set of participants whose tracks are forwarded to each other.
type room struct {
	sfu *SFU
	id  string
	log *slog.Logger

	mu           sync.Mutex
	participants map[string]*Participant
	tracks       []*upTrack // published, in publication order

	stopOnce sync.Once
	done     chan struct{}
}

func newRoom(s *SFU, id string) *room {
	return &room{
		sfu: s, id: id, log: s.log.With("room", id),
		participants: map[string]*Participant{},
		done:         make(chan struct{}),
	}
}

func (r *room) add(p *Participant) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.participants[p.id]; ok {
		return fmt.Errorf("media: participant %q is already in room %q", p.id, r.id)
	}
	r.participants[p.id] = p
	return nil
}

// remove takes p out of the room and returns the tracks it had published.
func (r *room) remove(p *Participant) []*upTrack {
	r.mu.Lock()
	if r.participants[p.id] == p {
		delete(r.participants, p.id)
	}
	var gone []*upTrack
	kept := r.tracks[:0:0]
	for _, t := range r.tracks {
		if t.owner == p {
			gone = append(gone, t)
		} else {
			kept = append(kept, t)
		}
	}
	r.tracks = kept
	others := r.othersLocked(p)
	r.mu.Unlock()
	r.sfu.tracks.Add(-int64(len(gone)))
	if len(gone) > 0 {
		for _, o := range others {
			o.kickNegotiation()
		}
	}
	return gone
}

func (r *room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.participants) == 0
}

func (r *room) list() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		out = append(out, p)
	}
	return out
}

func (r *room) othersLocked(p *Participant) []*Participant {
	out := make([]*Participant, 0, len(r.participants))
	for _, o := range r.participants {
		if o != p {
			out = append(out, o)
		}
	}
	return out
}

// publish makes t visible to every other participant, who renegotiate to receive it.
func (r *room) publish(t *upTrack) {
	r.mu.Lock()
	if r.participants[t.owner.id] != t.owner {
		r.mu.Unlock()
		return
	}
	r.tracks = append(r.tracks, t)
	others := r.othersLocked(t.owner)
	r.mu.Unlock()
	r.sfu.tracks.Add(1)
	for _, o := range others {
		o.kickNegotiation()
	}
}

// unpublish removes t; every subscriber renegotiates without it.
func (r *room) unpublish(t *upTrack) {
	t.close()
	r.mu.Lock()
	found := false
	kept := r.tracks[:0:0]
	for _, x := range r.tracks {
		if x == t {
			found = true
		} else {
			kept = append(kept, x)
		}
	}
	r.tracks = kept
	others := r.othersLocked(t.owner)
	r.mu.Unlock()
	if !found {
		return
	}
	r.sfu.tracks.Add(-1)
	for _, o := range others {
		o.kickNegotiation()
	}
}

// tracksFor lists the tracks p should receive: everything published by someone else.
func (r *room) tracksFor(p *Participant) []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*upTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		if t.owner != p && !t.closed.Load() {
			out = append(out, t)
		}
	}
	return out
}

func (r *room) audioTracks() []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*upTrack
	for _, t := range r.tracks {
		if !t.video {
			out = append(out, t)
		}
	}
	return out
}

func (r *room) stop() {
	r.stopOnce.Do(func() { close(r.done) })
}
