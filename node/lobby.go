package node

import (
	"encoding/json"

	"parley/media/signal"
)

// The lobby: in a room with a lobby, a joiner waits, with no participants, keys or media, until
// a moderator admits it (session.enter) or removes it. Moderators in the room get the list of
// waiting people ("waiting") whenever it changes and when they join.

// wait puts s in its room's lobby.
func (h *hub) wait(s *session) {
	h.mu.Lock()
	h.lobby[s.roomID] = append(h.lobby[s.roomID], s)
	h.mu.Unlock()
	h.notifyModerators(s.roomID)
}

// takeWaiting removes the session with id from room's lobby and returns it, or nil if nobody
// with that id waits there.
func (h *hub) takeWaiting(room, id string) *session {
	h.mu.Lock()
	var found *session
	q := h.lobby[room]
	for i, w := range q {
		if w.id == id {
			found = w
			h.setLobby(room, append(q[:i:i], q[i+1:]...))
			break
		}
	}
	h.mu.Unlock()
	if found != nil {
		h.notifyModerators(room)
	}
	return found
}

// dropWaiting removes s from its room's lobby if it waits there, and reports whether it did.
func (h *hub) dropWaiting(s *session) bool {
	return s.id != "" && h.takeWaiting(s.roomID, s.id) == s
}

// setLobby stores q as room's lobby, deleting the entry when it is empty. Caller holds mu.
func (h *hub) setLobby(room string, q []*session) {
	if len(q) == 0 {
		delete(h.lobby, room)
		return
	}
	h.lobby[room] = q
}

// waitingLocked lists room's lobby for moderators. Caller holds mu.
func (h *hub) waitingLocked(room string) []signal.Waiting {
	q := h.lobby[room]
	out := make([]signal.Waiting, len(q))
	for i, w := range q {
		out[i] = signal.Waiting{ID: w.id, Name: w.info.Name}
	}
	return out
}

// waitingMessage is the "waiting" message for room's moderators. Caller holds mu.
func (h *hub) waitingMessage(room string) []byte {
	data, _ := json.Marshal(&signal.Message{Type: signal.TypeWaiting, Waiting: h.waitingLocked(room)}) // always encodes
	return data
}

// notifyModerators sends room's lobby list to every moderator in the room.
func (h *hub) notifyModerators(room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var data []byte
	for _, s := range h.rooms[room] {
		if s.moderator {
			if data == nil {
				data = h.waitingMessage(room)
			}
			s.enqueue(data)
		}
	}
}

// member returns the admitted session with id in room, or nil.
func (h *hub) member(room, id string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[room][id]
}

// deliver queues data for each admitted participant of room named in ids, except from (the
// sender). It returns how many got it. People in the lobby are never admitted members, so
// they never get what deliver sends.
func (h *hub) deliver(room string, ids []string, from string, data []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	members := h.rooms[room]
	n := 0
	for _, id := range ids {
		if s := members[id]; s != nil && id != from {
			s.enqueue(data)
			n++
		}
	}
	return n
}

// lobbyWaiting is the number of people waiting in all lobbies.
func (h *hub) lobbyWaiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.lobby {
		n += len(q)
	}
	return n
}

// anyRemote reports whether any of ids is a participant of room on another node.
func (h *hub) anyRemote(room string, ids []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		if _, ok := h.remote[room][id]; ok {
			return true
		}
	}
	return false
}
