package media

import (
	"fmt"
	"log/slog"
	"sync"
)

// room is the set of participants whose tracks are forwarded to each other, and the tracks of
// other nodes' participants that reach it over the cascade.
type room struct {
	sfu *SFU
	id  string
	log *slog.Logger

	mu           sync.Mutex
	participants map[string]*Participant
	tracks       []*upTrack // published (local and remote), in publication order

	remoteKick chan struct{} // the remote tracks wanted changed, or a subscription did
	remoteWG   sync.WaitGroup

	stopOnce sync.Once
	done     chan struct{}
}

func newRoom(s *SFU, id string) *room {
	r := &room{
		sfu: s, id: id, log: s.log.With("room", id),
		participants: map[string]*Participant{},
		remoteKick:   make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	r.kickRemote() // subscribe at once to what other nodes already publish
	return r
}

// countTrack counts a track that appears in (+1) or leaves (-1) the room.
func (r *room) countTrack(t *upTrack, delta int64) {
	if t.remote != nil {
		r.sfu.remoteTracks.Add(delta)
		return
	}
	r.sfu.tracks.Add(delta)
	r.sfu.tracksChanged(r.id)
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
	if len(gone) > 0 {
		r.sfu.tracks.Add(-int64(len(gone)))
		r.sfu.tracksChanged(r.id)
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
	if t.owner != nil && r.participants[t.owner.id] != t.owner {
		r.mu.Unlock()
		return
	}
	r.tracks = append(r.tracks, t)
	others := r.othersLocked(t.owner)
	r.mu.Unlock()
	r.countTrack(t, 1)
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
	r.countTrack(t, -1)
	for _, o := range others {
		o.kickNegotiation()
	}
}

// tracksFor lists the tracks p should receive: everything published by someone else (a
// stale record of another node may still list p's tracks there if p moved here).
func (r *room) tracksFor(p *Participant) []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*upTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		if t.owner != p && t.ownerID != p.id && !t.closed.Load() {
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

// localTrack returns the local track id published in the room, if it is still published.
func (r *room) localTrack(id string) *upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tracks {
		if t.id == id && t.owner != nil && !t.closed.Load() {
			return t
		}
	}
	return nil
}

// localTracks lists the tracks local participants publish in the room.
func (r *room) localTracks() []*upTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*upTrack
	for _, t := range r.tracks {
		if t.owner != nil && !t.closed.Load() {
			out = append(out, t)
		}
	}
	return out
}

func (r *room) stop() {
	r.stopOnce.Do(func() { close(r.done) })
}
