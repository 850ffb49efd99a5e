package federation

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/mesh"
)

// Topics. Every node joins FederationTopic (node and room records). A room's topic
// (RoomTopic: state records and log entries) is joined only while the node has participants
// in the room, plus LeaveLinger after the last one left. The subscription filter allows the
// topics of every directory room whose policy admits this node, joined or not, so that the
// mesh host keeps track of which peers are subscribed to them and publishing reaches those
// peers from the first message after joining.

// publishTimeout bounds one Publish.
const publishTimeout = 5 * time.Second

// subscription is a joined topic and the goroutine reading it.
type subscription struct {
	room  string // "" for the federation topic
	topic *mesh.Topic
	done  chan struct{} // closed when the reader has stopped
}

// close leaves the topic and waits for its reader.
func (s *subscription) close() {
	s.topic.Close()
	<-s.done
}

func topicOf(room string) string {
	if room == "" {
		return FederationTopic
	}
	return RoomTopic(room)
}

// subscribe joins room's topic ("" for the federation topic) with its validator and starts
// its reader. f.topicMu must be held.
func (f *Federation) subscribe(room string) (*subscription, error) {
	name := topicOf(room)
	f.host.AllowTopic(name)
	if err := f.host.SetValidator(name, f.validator(room)); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	t, err := f.host.Join(name)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	s := &subscription{room: room, topic: t, done: make(chan struct{})}
	if !f.goFn(func() { f.read(s) }) {
		t.Close()
		return nil, ErrClosed
	}
	return s, nil
}

func (f *Federation) joinFederationTopic() error {
	f.topicMu.Lock()
	defer f.topicMu.Unlock()
	s, err := f.subscribe("")
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.fedSub = s
	f.mu.Unlock()
	return nil
}

// joinRoom joins room's topic unless joined, and cancels a pending leave.
func (f *Federation) joinRoom(room string) error {
	f.topicMu.Lock()
	defer f.topicMu.Unlock()
	f.mu.Lock()
	delete(f.idleFrom, room)
	_, joined := f.subs[room]
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if joined {
		return nil
	}
	s, err := f.subscribe(room)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.subs[room] = s
	f.mu.Unlock()
	return nil
}

// leaveRoom leaves room's topic if joined and the node has no participants there.
func (f *Federation) leaveRoom(room string) {
	f.topicMu.Lock()
	defer f.topicMu.Unlock()
	f.mu.Lock()
	s := f.subs[room]
	if s == nil || f.takesPart(room) {
		f.mu.Unlock()
		return
	}
	delete(f.subs, room)
	delete(f.idleFrom, room)
	_, inDirectory := f.rooms[room]
	f.mu.Unlock()
	s.close()
	if err := f.host.SetValidator(topicOf(room), nil); err != nil {
		f.log.Debug("remove topic validator", "room", room, "err", err)
	}
	if !inDirectory {
		f.host.DisallowTopic(topicOf(room))
	}
}

// allowRoom adds room's topic to the subscription filter if its policy admits this node.
func (f *Federation) allowRoom(room string) {
	f.mu.Lock()
	_, err := f.memberLocked(room, f.self)
	f.mu.Unlock()
	if err == nil {
		f.host.AllowTopic(RoomTopic(room))
	}
}

// leaveIdleRooms leaves the topics of rooms the node left at least LeaveLinger ago.
func (f *Federation) leaveIdleRooms() {
	f.mu.Lock()
	var idle []string
	for room, since := range f.idleFrom {
		if time.Since(since) >= f.cfg.LeaveLinger {
			idle = append(idle, room)
		}
	}
	f.mu.Unlock()
	for _, room := range idle {
		f.leaveRoom(room)
	}
}

// publish sends an envelope on room's topic ("" for the federation topic) if joined.
func (f *Federation) publish(room string, raw []byte) {
	f.mu.Lock()
	s := f.subs[room]
	if room == "" {
		s = f.fedSub
	}
	f.mu.Unlock()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, publishTimeout)
	defer cancel()
	if err := s.topic.Publish(ctx, raw); err != nil && f.ctx.Err() == nil {
		f.log.Warn("publish", "topic", topicOf(room), "err", err)
	}
}

// validator runs in gossipsub before a message on room's topic is delivered or forwarded:
// a message that does not check is rejected (and held against the peer that sent it), one
// whose origin is not federated here is ignored (a neighbour may trust it).
func (f *Federation) validator(room string) mesh.Validator {
	return func(_ context.Context, from peer.ID, data []byte) mesh.Verdict {
		m, err := f.checkGossip(room, from, data)
		if err != nil {
			f.count(err)
			return mesh.Reject
		}
		f.mu.Lock()
		err = f.originLocked(m.origin)
		f.mu.Unlock()
		if err != nil {
			f.count(err)
			return mesh.Ignore
		}
		return mesh.Accept
	}
}

// checkGossip runs the checks of a gossip message that need no state.
func (f *Federation) checkGossip(room string, from peer.ID, data []byte) (message, error) {
	m, err := f.decode(data)
	if err != nil {
		return m, err
	}
	if err := checkPlace(room, m); err != nil {
		return m, err
	}
	if m.origin != from {
		return m, reject(ReasonNotOrigin, "%s of %s published by %s", m.kind, m.origin, from)
	}
	if m.kind == kindCast {
		if err := fresh(m.cast); err != nil {
			return m, err
		}
	}
	return m, nil
}

// read delivers a topic's messages until it is closed.
func (f *Federation) read(s *subscription) {
	defer close(s.done)
	for {
		msg, err := s.topic.Next(f.ctx)
		if err != nil {
			return
		}
		f.receive(s.room, msg)
	}
}

// receive checks and applies one gossip message.
func (f *Federation) receive(room string, msg mesh.Message) {
	m, err := f.checkGossip(room, msg.From, msg.Data)
	if err == nil {
		err = f.apply(m)
	}
	if f.count(err) != nil && !isReject(err) {
		f.log.Warn("apply gossip", "topic", topicOf(room), "from", msg.From, "err", err)
	}
}
