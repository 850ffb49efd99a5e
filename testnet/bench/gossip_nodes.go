package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/dgraph-io/badger/v4"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
	"parley/mesh"
	"parley/node"
	"parley/node/meeting"
)

// The two kinds of node BenchGossip runs: a full node (node.Node), whose participants join
// over signalling, or the federation part of one (mesh host, federation, badger store,
// configured as the node configures them), whose participants are published with
// SetParticipants as the node does on a join.

// gossipPeer is one node of the gossip benchmark.
type gossipPeer interface {
	federation() *federation.Federation
	host() *mesh.Host
	// federateWith makes this node and other (of the same kind) trust each other.
	federateWith(ctx context.Context, other gossipPeer) error
	createRoom(title string) (string, error)
	// join adds a participant to room and has the node publish its state record.
	join(ctx context.Context, room, name string) error
	// chat has the node's first participant send a chat message, which the node appends to
	// room's log.
	chat(ctx context.Context, room, text string) error
	close()
}

// fullGossipNode is a node.Node and the participants joined through it.
type fullGossipNode struct {
	n       *node.Node
	members []*gossipMember
}

func startFullGossipNode(dir, name string, log *slog.Logger) (*fullGossipNode, error) {
	if _, err := node.Init(dir, node.InitOptions{Name: name, HTTPAddr: "127.0.0.1:0"}); err != nil {
		return nil, fmt.Errorf("init %s: %w", name, err)
	}
	cfg, err := node.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &fullGossipNode{n: n}, nil
}

func (g *fullGossipNode) federation() *federation.Federation { return g.n.Federation() }
func (g *fullGossipNode) host() *mesh.Host                   { return g.n.Mesh() }

// federateWith: g invites, other redeems the invite, as administrators do.
func (g *fullGossipNode) federateWith(ctx context.Context, other gossipPeer) error {
	inv, err := g.n.Invite(gossipInviteLifetime)
	if err != nil {
		return err
	}
	_, err = other.(*fullGossipNode).n.JoinFederation(ctx, inv)
	return err
}

func (g *fullGossipNode) createRoom(title string) (string, error) {
	r, err := g.n.CreateRoom(title)
	return r.ID, err
}

func (g *fullGossipNode) join(ctx context.Context, room, name string) error {
	m, err := joinGossipMember(ctx, g.n.URL(), room, name)
	if err != nil {
		return err
	}
	g.members = append(g.members, m)
	return nil
}

func (g *fullGossipNode) chat(ctx context.Context, _, text string) error {
	if len(g.members) == 0 {
		return errors.New("no participant to chat")
	}
	return g.members[0].chat(ctx, text)
}

func (g *fullGossipNode) close() {
	for _, m := range g.members {
		m.close()
	}
	_ = g.n.Close()
}

// fedGossipNode is the federation part of a node: its mesh host, federation and store, with
// the participants the node would publish.
type fedGossipNode struct {
	name string
	key  *identity.NodeKey
	mh   *mesh.Host
	db   *badger.DB
	fed  *federation.Federation
	self atomic.Pointer[federation.Federation] // fed, for the handler, which may run during New

	mu           sync.Mutex // guards participants
	participants []federation.Participant
}

func startFedGossipNode(dir, name string, log *slog.Logger) (_ *fedGossipNode, err error) {
	g := &fedGossipNode{name: name}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if g.key, err = identity.GenerateNodeKey(); err != nil {
		return nil, err
	}
	// As node.Node: QUIC and TCP on the HTTP host, the store's badger options.
	g.mh, err = mesh.New(mesh.Config{Key: g.key, Logger: log.With("component", "mesh"),
		ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		return nil, fmt.Errorf("start %s's libp2p host: %w", name, err)
	}
	g.db, err = badger.Open(badger.DefaultOptions(filepath.Join(dir, node.StoreDir)).WithLogger(nil).
		WithMemTableSize(16 << 20).WithValueLogFileSize(64 << 20).WithBlockCacheSize(16 << 20).
		WithNumVersionsToKeep(1).WithSyncWrites(true))
	if err != nil {
		return nil, fmt.Errorf("open %s's store: %w", name, err)
	}
	g.fed, err = federation.New(federation.Config{Host: g.mh, Key: g.key, DB: g.db, Name: name,
		Handlers: federation.Handlers{StateChanged: g.stateChanged}, Logger: log.With("component", "federation")})
	if err != nil {
		return nil, fmt.Errorf("start %s's federation: %w", name, err)
	}
	g.self.Store(g.fed)
	return g, nil
}

// stateChanged does what the node does when another node's record changes: it reads the
// room's state and decodes every participant's info.
func (g *fedGossipNode) stateChanged(room string) {
	fed := g.self.Load()
	if fed == nil {
		return // during New
	}
	for _, rec := range fed.State(room) {
		for _, p := range rec.Participants {
			_, _ = meeting.DecodeInfo(p.Info)
		}
	}
}

func (g *fedGossipNode) federation() *federation.Federation { return g.fed }
func (g *fedGossipNode) host() *mesh.Host                   { return g.mh }

// federateWith: each node adds the other's signed record, as redeeming an invite does.
func (g *fedGossipNode) federateWith(_ context.Context, other gossipPeer) error {
	o := other.(*fedGossipNode)
	if _, err := g.fed.AddPeer(o.fed.Record()); err != nil {
		return err
	}
	_, err := o.fed.AddPeer(g.fed.Record())
	return err
}

func (g *fedGossipNode) createRoom(title string) (string, error) {
	r, err := g.fed.CreateRoom(federation.RoomSpec{Title: title})
	return r.ID, err
}

// join certifies a new participant, as the node does on a join, and publishes the node's
// participants.
func (g *fedGossipNode) join(_ context.Context, room, name string) error {
	user, err := identity.GenerateUserIdentity()
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := fmt.Sprintf("p%d", len(g.participants)+1)
	now := time.Now()
	cert, err := identity.IssueCertificate(g.key, identity.CertBody{V: 1, ID: id, Tag: uint32(len(g.participants) + 1),
		Name: name, Org: g.name, Node: g.key.PublicKey(), Room: room, SigPub: user.SigPub(), Age: user.AgeRecipient(),
		IAT: now.Unix(), EXP: now.Add(identity.CertificateLifetime).Unix()})
	if err != nil {
		return err
	}
	raw, err := meeting.EncodeInfo(meeting.Info{Name: name, Org: g.name, Cert: &cert})
	if err != nil {
		return err
	}
	ps := append(g.participants, federation.Participant{ID: id, Info: raw})
	if _, err := g.fed.SetParticipants(room, ps); err != nil {
		return err
	}
	g.participants = ps
	return nil
}

// chat appends a chat entry shaped as the node's.
func (g *fedGossipNode) chat(_ context.Context, room, text string) error {
	data, err := json.Marshal(map[string]any{"from": "p1", "name": g.name, "sframe": []byte(text)})
	if err != nil {
		return err
	}
	_, err = g.fed.Append(room, "chat", data)
	return err
}

func (g *fedGossipNode) close() {
	if g.fed != nil {
		_ = g.fed.Close()
	}
	if g.mh != nil {
		_ = g.mh.Close()
	}
	if g.db != nil {
		_ = g.db.Close()
	}
}

// gossipMember is a participant that speaks signalling only (no media): enough for the node
// to certify it and publish it in its state record.
type gossipMember struct {
	conn *websocket.Conn
	done chan struct{} // closed when the reader stops
}

// joinGossipMember joins room on the node at base as name and waits for "joined". The node's
// later messages are read and dropped.
func joinGossipMember(ctx context.Context, base, room, name string) (*gossipMember, error) {
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/"+room, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(signal.MaxMessageSize)
	keys, err := identity.GenerateUserIdentity()
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	m := &gossipMember{conn: conn, done: make(chan struct{})}
	err = m.send(ctx, &signal.Message{Type: signal.TypeJoin, Name: name, Keys: &signal.Keys{
		SigPub: base64.RawURLEncoding.EncodeToString(keys.SigPub()), Age: keys.AgeRecipient()}})
	for joined := false; err == nil && !joined; {
		var data []byte
		if _, data, err = conn.Read(ctx); err != nil {
			break
		}
		var msg *signal.Message
		if msg, err = signal.DecodeFromNode(data); err != nil {
			break
		}
		switch msg.Type {
		case signal.TypeJoined:
			joined = true
		case signal.TypeError:
			err = fmt.Errorf("node refused the join: %s: %s", msg.Code, msg.Error)
		}
	}
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	go func() {
		defer close(m.done)
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return m, nil
}

func (m *gossipMember) send(ctx context.Context, msg *signal.Message) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return m.conn.Write(ctx, websocket.MessageText, data)
}

// chat sends a chat message; the node stores it as is (here it is not really encrypted).
func (m *gossipMember) chat(ctx context.Context, text string) error {
	return m.send(ctx, &signal.Message{Type: signal.TypeChat, SFrame: []byte(text)})
}

func (m *gossipMember) close() {
	_ = m.conn.CloseNow()
	<-m.done
}
