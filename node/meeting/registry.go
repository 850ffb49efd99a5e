package meeting

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// Config is what a Registry's meetings need from the node. The functions are called from
// the meetings' goroutines (and Publish and Tracks from the publisher's): they must not call
// back into the Registry, and must not do I/O but for Publish.
type Config struct {
	Self         peer.ID // this node
	NodeName     string  // shown as the organisation of this node's participants
	Organisation string  // checked against a room's organisations
	Limits       Limits

	Certify  func(CertRequest) (identity.SignedObject, error)
	Media    Media
	State    func(room string) []federation.StateRecord // the federation's records of a room
	Hidden   func(node peer.ID) bool                    // a node out of reach, whose participants are not shown
	NodeKeys func() []string                            // node keys (b64u) clients may trust
	PeerKey  func(node peer.ID) ed25519.PublicKey       // a federated node's key, or nil

	// Publish writes this node's state record of room (I/O: the federation signs, stores
	// and gossips it). It runs on the publisher's goroutine, at most once per
	// PublishInterval per room.
	Publish func(room string, ps []federation.Participant) error
	// Tracks are the tracks the SFU has of room's local participants, by participant.
	Tracks          func(room string) map[string][]Track
	PublishInterval time.Duration // default 50 ms

	// Audit records a moderator's action (admit, remove) without waiting; nil records none.
	Audit func(room, actor, action, target string)
	// Forward hands a moderator's action or a reaction to the room's other nodes (the node
	// puts it in the room's log) without waiting; nil forwards nothing.
	Forward func(room string, ev Event)
	// AddCohost names a signed-in person (Account.Key) as a co-host in the record of a room
	// this node owns, without waiting; nil keeps co-hosts for the meeting only.
	AddCohost func(room, key string)
	// Transcribe starts (on) or stops the room's transcriber agent at a moderator's word,
	// without waiting; an error (no speech engine here) is told to the moderator. nil: this
	// node transcribes nothing.
	Transcribe func(room string, on bool) error
	// Cast hands a caption of this node's transcriber (participant from, sealed) to the
	// room's other nodes without waiting; nil keeps captions on this node.
	Cast func(room, from string, sframe []byte)

	Metrics Metrics
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
}

func (c *Config) audit(room, actor, action, target string) {
	if c.Audit != nil {
		c.Audit(room, actor, action, target)
	}
}

func (c *Config) addCohost(room, key string) {
	if c.AddCohost != nil {
		c.AddCohost(room, key)
	}
}

// DefaultPublishInterval is Config.PublishInterval's default.
const DefaultPublishInterval = 50 * time.Millisecond

// Registry is the node's live rooms. A room lives while sessions hold it (Acquire,
// Release); federation events for rooms nobody here holds are dropped, as nobody is there
// to be told.
type Registry struct {
	cfg Config
	pub *publisher

	mu     sync.Mutex
	rooms  map[string]*Room
	ended  map[string]<-chan struct{} // rooms stopped but maybe not done yet, by id
	closed bool

	mediaWG sync.WaitGroup // media closing off the rooms' goroutines
	roomWG  sync.WaitGroup
}

// NewRegistry starts the publisher; Close stops it.
func NewRegistry(cfg Config) (*Registry, error) {
	var err error
	if cfg.Limits, err = cfg.Limits.withDefaults(); err != nil {
		return nil, err
	}
	if cfg.Certify == nil || cfg.Media == nil || cfg.State == nil || cfg.Hidden == nil || cfg.NodeKeys == nil ||
		cfg.PeerKey == nil || cfg.Publish == nil || cfg.Tracks == nil || cfg.Metrics == nil {
		return nil, errors.New("meeting: Config lacks a function")
	}
	if cfg.PublishInterval <= 0 {
		cfg.PublishInterval = DefaultPublishInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Registry{cfg: cfg, rooms: map[string]*Room{}, ended: map[string]<-chan struct{}{}}
	g.pub = newPublisher(&g.cfg)
	return g, nil
}

func (g *Registry) now() time.Time { return g.cfg.Now() }

// Limits are the registry's limits with defaults applied.
func (g *Registry) Limits() Limits { return g.cfg.Limits }

// Acquire returns the live room for room, starting it if needed; the caller must Release
// it. It returns nil once the registry is closed.
func (g *Registry) Acquire(room federation.Room) *Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	r := g.rooms[room.ID]
	if r == nil {
		r = &Room{id: room.ID, reg: g, m: newMeeting(&g.cfg, room), wake: make(chan struct{}, 1), done: make(chan struct{})}
		r.prev = g.ended[room.ID] // nil if none
		delete(g.ended, room.ID)
		g.rooms[room.ID] = r
		g.roomWG.Add(1)
		go func() {
			defer g.roomWG.Done()
			r.run()
		}()
	}
	r.refs++
	return r
}

func (g *Registry) release(r *Room) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.refs--; r.refs > 0 || g.rooms[r.id] != r {
		return
	}
	delete(g.rooms, r.id)
	for id, done := range g.ended { // forget the rooms that are done
		select {
		case <-done:
			delete(g.ended, id)
		default:
		}
	}
	g.ended[r.id] = r.done
	r.stop()
}

// room returns the live room id, or nil.
func (g *Registry) room(id string) *Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rooms[id]
}

// StateChanged tells room's meeting, if it is live, that the federation's records of it
// changed.
func (g *Registry) StateChanged(room string) {
	if r := g.room(room); r != nil {
		r.stateChanged()
	}
}

// ReachChanged tells every live meeting that nodes went out of reach or came back.
func (g *Registry) ReachChanged() {
	for _, r := range g.live() {
		r.stateChanged()
	}
}

// live lists the live rooms.
func (g *Registry) live() []*Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	rooms := make([]*Room, 0, len(g.rooms))
	for _, r := range g.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// RoomChanged hands a live meeting its room's new record.
func (g *Registry) RoomChanged(room federation.Room) {
	if r := g.room(room.ID); r != nil {
		r.policy(room)
	}
}

// TellModerators sends room's moderators here an error with code and text (the
// transcriber's engine failing, say).
func (g *Registry) TellModerators(room, code, text string) {
	if r := g.room(room); r != nil {
		r.post(func() { r.m.toModerators(&signal.Message{Type: signal.TypeError, Code: code, Error: text}) })
	}
}

// Chat hands a chat message of room's log to its members here.
func (g *Registry) Chat(room string, c signal.ChatMessage) {
	if r := g.room(room); r != nil {
		r.chat(c)
	}
}

// RemoteEvent applies to the members here a moderator's action or a reaction that node put
// in room's log at time at.
func (g *Registry) RemoteEvent(room string, node peer.ID, ev Event, at time.Time) {
	if r := g.room(room); r != nil {
		r.remoteEvent(node, ev, at)
	}
}

// RemoteCaption relays to the members here a caption that node's transcriber from sent.
func (g *Registry) RemoteCaption(room string, node peer.ID, from string, sframe []byte) {
	if r := g.room(room); r != nil {
		r.remoteCaption(node, from, sframe)
	}
}

// RemoteKey relays to the members here a key envelope that node put in room's log.
func (g *Registry) RemoteKey(room string, node peer.ID, env identity.SignedObject) {
	if r := g.room(room); r != nil {
		r.remoteKey(node, env)
	}
}

// Kick makes the publisher publish room's record again soon (its tracks changed).
func (g *Registry) Kick(room string) { g.pub.kick(room) }

// Stats are counts across the live rooms.
type Stats struct {
	Rooms, Members, Waiting int
}

// Stats counts the live rooms, their members and who waits in their lobbies. It asks every
// room, so it is for scrapes, not hot paths.
func (g *Registry) Stats() Stats {
	st := Stats{}
	for _, r := range g.live() {
		var members, waiting int
		if r.call(func() { members, waiting = len(r.m.members), len(r.m.lobby) }) && members+waiting > 0 {
			st.Rooms++
			st.Members += members
			st.Waiting += waiting
		}
	}
	return st
}

// closeMedia closes a participant's media off the meeting's goroutine.
func (g *Registry) closeMedia(ms MediaSession) {
	g.mediaWG.Add(1)
	go func() {
		defer g.mediaWG.Done()
		if err := ms.Close(); err != nil {
			g.cfg.Log.Debug("leave the SFU", "err", err)
		}
	}()
}

// Close stops every room (sessions should have released them: the node closes its sessions
// first), waits for media to close, publishes what is left and stops the publisher.
func (g *Registry) Close() error {
	g.mu.Lock()
	g.closed = true
	for id, r := range g.rooms {
		delete(g.rooms, id)
		r.stop()
	}
	g.mu.Unlock()
	g.roomWG.Wait()
	g.mediaWG.Wait()
	g.pub.close()
	return nil
}
