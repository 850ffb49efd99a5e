package meeting

import (
	"time"

	"parley/media/signal"
)

// The lobby: in a room with a lobby, a joiner waits, with no participants, keys or media,
// until a moderator admits it or sends it away, at most Limits.LobbyWait, and at most
// Limits.MaxLobby people at once. A moderator gets the whole list ("waiting") when it enters
// and then one change at a time ("waiting_add", "waiting_remove").

// waiting returns the index of id in the lobby, or -1.
func (m *meeting) waiting(id string) int {
	for i, w := range m.lobby {
		if w.id == id {
			return i
		}
	}
	return -1
}

// waitingList is the "waiting" message with the whole lobby.
func (m *meeting) waitingList() []byte {
	list := make([]signal.Waiting, len(m.lobby))
	for i, w := range m.lobby {
		list[i] = w.waitingEntry()
	}
	return encode(&signal.Message{Type: signal.TypeWaiting, Waiting: list})
}

// waitingEntry is w as moderators see it in the lobby.
func (w *member) waitingEntry() signal.Waiting {
	return signal.Waiting{ID: w.id, Name: w.info.Name, Verified: w.account != nil}
}

// toModerators queues msg for every moderator in the meeting.
func (m *meeting) toModerators(msg *signal.Message) {
	var data []byte
	for _, o := range m.members {
		if o.moderator {
			if data == nil {
				data = encode(msg)
			}
			o.conn.Send(data)
		}
	}
}

// moderator returns the admitted moderator by, or a refusal.
func (m *meeting) moderator(by, action string) (*member, *Refusal) {
	w, r := m.member(by)
	if r != nil {
		return nil, r
	}
	if !w.moderator {
		return nil, refuse(signal.CodeNotAllowed, "only moderators %s", action)
	}
	return w, nil
}

// admitWaiting lets id in from the lobby, on moderator by's word. If the room cannot take
// id, id is told why and let go; by is answered with nil all the same.
func (m *meeting) admitWaiting(by, id string, now time.Time) *Refusal {
	if _, r := m.moderator(by, "admit people from the lobby"); r != nil {
		return r
	}
	i := m.waiting(id)
	if i < 0 {
		return refuse(signal.CodeBadMessage, "nobody with id %q is waiting in the lobby", id)
	}
	w := m.lobby[i]
	m.lobby = append(m.lobby[:i:i], m.lobby[i+1:]...)
	m.toModerators(&signal.Message{Type: signal.TypeWaitingRemove, ID: id})
	m.log.Info("admitted from the lobby", "participant", id, "by", by)
	m.audit(by, "admit", w)
	if r := m.admit(w, now); r != nil {
		m.cfg.Metrics.Refused(r.Code)
		w.conn.End(r.Code, r.Text)
	}
	return nil
}

// remove takes id out of the meeting or refuses it the lobby, on moderator by's word.
// Everyone remaining sees participant_left with reason "removed" and moves to new keys.
func (m *meeting) remove(by, id string) *Refusal {
	if _, r := m.moderator(by, "remove participants"); r != nil {
		return r
	}
	if id == by {
		return refuse(signal.CodeBadMessage, "to leave, send leave")
	}
	w := m.members[id]
	if i := m.waiting(id); i >= 0 {
		w = m.lobby[i]
	}
	if w == nil {
		return refuse(signal.CodeBadMessage, "nobody with id %q is in the room or its lobby", id)
	}
	m.log.Info("removed from the room", "participant", id, "by", by)
	m.audit(by, "remove", w)
	m.sendAway(w, signal.CodeRemoved, "a moderator removed you from the meeting")
	return nil
}

// audit records moderator by's action on w.
func (m *meeting) audit(by, action string, w *member) {
	m.cfg.audit(m.room.ID, m.actor(by), action, w.id+" ("+w.info.Name+")")
}
