package media

import (
	"slices"
	"sort"
	"time"

	"parley/media/signal"
)

// Active speaker detection: every speakerInterval the room ranks its audio tracks by their
// smoothed audio level (RFC 6464 ssrc-audio-level, 0 dBov loudest, 127 silence) and tells
// everyone when the set of speakers changes.
const (
	speakerInterval = 400 * time.Millisecond
	// speakerThreshold is the smoothed loudness (127 - dBov) at or above which a participant
	// is speaking: about -55 dBov, above room noise and below quiet speech.
	speakerThreshold = 72
	// levelStale: a track that sent no level for this long (muted, DTX) is silent.
	levelStale  = time.Second
	maxSpeakers = 8
)

// speakerLevel is one participant's loudness (127 - dBov).
type speakerLevel struct {
	id   string
	loud int
}

// rankSpeakers returns the participants at or above the threshold, loudest first (ties by
// id), at most maxSpeakers, each once (their loudest track counts).
func rankSpeakers(levels []speakerLevel) []string {
	best := map[string]int{}
	for _, l := range levels {
		if l.loud >= speakerThreshold && l.loud > best[l.id] {
			best[l.id] = l.loud
		}
	}
	out := make([]speakerLevel, 0, len(best))
	for id, loud := range best {
		out = append(out, speakerLevel{id, loud})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].loud != out[j].loud {
			return out[i].loud > out[j].loud
		}
		return out[i].id < out[j].id
	})
	if len(out) > maxSpeakers {
		out = out[:maxSpeakers]
	}
	ids := make([]string, len(out))
	for i, l := range out {
		ids[i] = l.id
	}
	return ids
}

// sameSet reports whether a and b hold the same ids, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// speakersLoop runs for the room's lifetime.
func (r *room) speakersLoop() {
	t := time.NewTicker(speakerInterval)
	defer t.Stop()
	var last []string
	told := map[*Participant]bool{} // participants who have been sent last
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		ps := r.list()
		now := r.sfu.now()
		var levels []speakerLevel
		for _, up := range r.audioTracks() {
			if now-up.lastLevel.Load() > int64(levelStale) {
				continue
			}
			levels = append(levels, speakerLevel{up.ownerID, int(up.loudness.Load() >> 8)})
		}
		cur := rankSpeakers(levels)
		changed := !sameSet(cur, last)
		if changed {
			last = cur
		}
		present := make(map[*Participant]bool, len(ps))
		for _, p := range ps {
			present[p] = true
			// Everyone learns of a change; a newcomer learns who is speaking now.
			if changed || (!told[p] && len(last) > 0) {
				p.sendMsg(&signal.Message{Type: signal.TypeSpeakers, Speakers: last})
			}
			told[p] = true
		}
		for p := range told {
			if !present[p] {
				delete(told, p)
			}
		}
	}
}
