package meeting

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/media/signal"
)

// Participants of other nodes, as their state records describe them. A node out of reach
// (Config.Hidden) is not shown: its participants leave with reason "unreachable" and come
// back when it does.

// remote is a participant of another node.
type remote struct {
	node peer.ID
	info Info
	kids kidSet    // key IDs it announced here
	left time.Time // when it left, in remoteSet.gone

	key, moderate, react, caption Bucket
}

// decodedRecord is one node's record with its participants' infos decoded.
type decodedRecord struct {
	version uint64
	ids     []string
	infos   []Info
}

// remoteSet is what the meeting shows of other nodes.
type remoteSet struct {
	cache map[peer.ID]decodedRecord
	shown map[string]*remote
	// gone are the participants who left within EventFreshness: an event they wrote just
	// before leaving (a moderator ending the meeting) may arrive after the record without them.
	gone map[string]*remote
}

func newRemoteSet() remoteSet {
	return remoteSet{cache: map[peer.ID]decodedRecord{}, shown: map[string]*remote{}, gone: map[string]*remote{}}
}

// author returns the participant of node who wrote an event as id: shown, or gone lately.
func (s *remoteSet) author(node peer.ID, id string) *remote {
	r := s.shown[id]
	if r == nil {
		r = s.gone[id]
	}
	if r == nil || r.node != node {
		return nil
	}
	return r
}

func (s *remoteSet) len() int { return len(s.shown) }

// decode returns rec's participants, decoded once per version; infos that do not decode
// are left out.
func (m *meeting) decode(rec federation.StateRecord) decodedRecord {
	if d, ok := m.remote.cache[rec.Node]; ok && d.version == rec.Version {
		return d
	}
	d := decodedRecord{version: rec.Version}
	for _, p := range rec.Participants {
		info, err := DecodeInfo(p.Info)
		if err != nil {
			m.log.Debug("participant info of another node refused", "node", rec.Node, "participant", p.ID, "err", err)
			continue
		}
		if rec.Node != m.room.Owner {
			info.Owner = false // only the room's node knows who made it
		}
		d.ids = append(d.ids, p.ID)
		d.infos = append(d.infos, info)
	}
	m.remote.cache[rec.Node] = d
	return d
}

// refresh makes the shown participants of other nodes those of recs, but for nodes that
// hidden reports out of reach, telling members who came, changed and went.
func (m *meeting) refresh(recs []federation.StateRecord, hidden func(peer.ID) bool, now time.Time) {
	want := map[string]*remote{}
	present := map[peer.ID]bool{}
	for _, rec := range recs {
		if rec.Node == m.cfg.Self {
			continue
		}
		present[rec.Node] = true
		if hidden(rec.Node) {
			continue
		}
		d := m.decode(rec)
		for i, id := range d.ids {
			if m.members[id] != nil || m.waiting(id) >= 0 || want[id] != nil {
				continue // a stale record of someone who moved here, or listed twice
			}
			want[id] = &remote{node: rec.Node, info: d.infos[i]}
		}
	}
	for node := range m.remote.cache {
		if !present[node] {
			delete(m.remote.cache, node)
		}
	}
	for id, r := range want {
		old := m.remote.shown[id]
		switch {
		case old == nil:
			l := m.cfg.Limits
			r.key = Bucket{Rate: l.KeyRate, Burst: l.KeyBurst}
			r.moderate = Bucket{Rate: l.ModerateRate, Burst: l.ModerateBurst}
			r.react = Bucket{Rate: l.ReactRate, Burst: l.ReactBurst}
			r.caption = Bucket{Rate: l.CaptionRate, Burst: l.CaptionBurst}
			p := r.info.participant(id)
			m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantJoined, Participant: &p}), "")
		case old.node != r.node || !sameView(old.info, r.info):
			r.kids, r.key, r.moderate, r.react, r.caption = old.kids, old.key, old.moderate, old.react, old.caption
			p := r.info.participant(id)
			m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantUpdated, Participant: &p}), "")
		default:
			r.kids, r.key, r.moderate, r.react, r.caption = old.kids, old.key, old.moderate, old.react, old.caption
		}
	}
	for id, old := range m.remote.shown {
		if want[id] != nil {
			continue
		}
		reason := signal.ReasonLeft
		if hidden(old.node) {
			reason = signal.ReasonUnreachable
		}
		m.broadcast(encode(&signal.Message{Type: signal.TypeParticipantLeft, ID: id, Reason: reason}), "")
		old.left = now
		m.remote.gone[id] = old
	}
	for id, r := range m.remote.gone {
		if want[id] != nil || now.Sub(r.left) > EventFreshness {
			delete(m.remote.gone, id)
		}
	}
	m.remote.shown = want
	m.releaseHeld(now)
}
