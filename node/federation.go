package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
	"parley/mesh"
	"parley/node/meeting"
)

// The node in a federation: its mesh host and federation, and how rooms cross nodes. A room
// lives in every federated node's directory; each node publishes its own participants of a
// room as its state record, and its live meetings (package node/meeting) turn the others'
// records into participant_joined / participant_updated / participant_left for its clients.
// Chat goes into the room's replicated log (kind "chat"); key envelopes for participants of
// other nodes go into it too (kind "key"), checked again by the receiving node before it
// hands them on. Media crosses nodes over the cascade (cascade.go), following the same state
// records. The participants of a node out of reach for too long are not shown
// (unreachable.go).

// Kinds of room log entries the node writes.
const (
	entryChat  = "chat"
	entryKey   = "key"
	entryEvent = "event" // a moderator's action or a reaction (meeting.Event)
)

// historyScan is how many log entries (of every kind) the node reads to find a room's recent
// chat.
const historyScan = 4 * historyLen

// fedNode is the node's federation state.
type fedNode struct {
	host  *mesh.Host
	fed   *federation.Federation
	self  peer.ID
	reach *unreachable
	casts *caster
}

// startFederation starts the mesh host and the federation, and puts the node's own rooms in
// the directory. It runs once the public URL is known.
func (n *Node) startFederation(tlsCfg *tls.Config) (err error) {
	host, err := mesh.New(mesh.Config{Key: n.key, ListenAddrs: n.cfg.P2PAddrs, MDNS: n.cfg.MDNS,
		Logger: n.log.With("component", "mesh")})
	if err != nil {
		return fmt.Errorf("start the libp2p host on %v: %w (change p2p_addrs in the configuration)", n.cfg.P2PAddrs, err)
	}
	var certDER []byte
	if tlsCfg != nil && len(tlsCfg.Certificates) > 0 && len(tlsCfg.Certificates[0].Certificate) > 0 {
		certDER = tlsCfg.Certificates[0].Certificate[0]
	}
	reach := newUnreachable(n.cfg.UnreachableGrace, time.Now())
	// The federation may deliver gossip before New returns; its handlers use n.fed, so they
	// wait until it is set (or, if New fails, do nothing).
	ready := make(chan struct{})
	started := func() bool { <-ready; return n.fed != nil }
	fed, err := federation.New(federation.Config{
		Host: host, Key: n.key, DB: n.store.db,
		Name: n.cfg.Name, Organisation: n.cfg.Organisation,
		URL: n.publicURL, TLSCertificate: certDER, CascadeAddr: n.casc.advertised,
		// Participants are connections to this process: none outlive it.
		ClearOwnParticipants: true,
		Handlers: federation.Handlers{
			StateChanged: func(room string) {
				if started() {
					n.roomStateChanged(room)
				}
			},
			EntryAppended: func(e federation.Entry) {
				if started() {
					n.entryAppended(e)
				}
			},
			RoomLearned: func(r federation.Room) {
				if started() {
					n.meetings.RoomChanged(r)
				}
			},
			CastReceived: func(c federation.Cast) {
				if started() {
					n.castReceived(c)
				}
			},
			PeerConnection: reach.connection,
			PeerCaughtUp:   reach.caughtUp,
		},
		Registerer: n.metrics.reg,
		Logger:     n.log.With("component", "federation"),
	})
	if err != nil {
		close(ready)
		_ = host.Close()
		return fmt.Errorf("start federation: %w", err)
	}
	n.fed = &fedNode{host: host, fed: fed, self: fed.ID(), reach: reach, casts: newCaster(fed, n.castResult)}
	close(ready)
	if n.dataFormat < DataFormat {
		if _, err := n.store.migrateRooms(fed, n.log); err != nil {
			_ = n.closeFederation()
			return err
		}
		if err := n.store.setFormat(); err != nil {
			_ = n.closeFederation()
			return fmt.Errorf("record the data format: %w", err)
		}
		n.log.Info("data directory moved to the current format", "from", n.dataFormat, "to", DataFormat)
		n.dataFormat = DataFormat
	}
	n.startReach()
	return nil
}

// closeFederation stops the federation, then the host.
func (n *Node) closeFederation() error {
	if n.fed == nil {
		return nil
	}
	n.closeReach()
	n.fed.casts.close()
	return errors.Join(n.fed.fed.Close(), n.fed.host.Close())
}

// Federation is the node's federation (for tests and benchmarks).
func (n *Node) Federation() *federation.Federation { return n.fed.fed }

// Mesh is the node's libp2p host (tests cut links with Block).
func (n *Node) Mesh() *mesh.Host { return n.fed.host }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() string { return n.fed.self.String() }

// Invite makes a one-time invite another node redeems with JoinFederation.
func (n *Node) Invite(ttl time.Duration) (string, error) { return n.fed.fed.Invite(ttl) }

// JoinFederation redeems an invite: the inviting node and this one trust each other.
func (n *Node) JoinFederation(ctx context.Context, invite string) (federation.Peer, error) {
	return n.fed.fed.Join(ctx, invite)
}

// Peers are the federated nodes.
func (n *Node) Peers() []federation.Peer { return n.fed.fed.Peers() }

// RemovePeer ends the trust with a federated node: its connections close and everything
// from it is ignored from now on.
func (n *Node) RemovePeer(id string) error {
	p, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("%q is not a peer ID (see `parley federation list`): %w", id, err)
	}
	return n.fed.fed.Remove(p)
}

// trustedNodeKeys are the node keys whose certificates this node's clients may accept: its
// own and its federated peers'.
func (n *Node) trustedNodeKeys() []string {
	keys := []string{base64.RawURLEncoding.EncodeToString(n.key.PublicKey())}
	for _, p := range n.fed.fed.Peers() {
		if k := peerKey(p.Record.Peer); k != nil {
			keys = append(keys, base64.RawURLEncoding.EncodeToString(k))
		}
	}
	return keys
}

// peerKey is the Ed25519 node key of a peer ID, or nil.
func peerKey(id peer.ID) ed25519.PublicKey {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil
	}
	return raw
}

// publishRecord writes the node's state record of room: its participants there now, with
// the tracks they publish (which other nodes subscribe to over the cascade). The meetings'
// publisher calls it.
func (n *Node) publishRecord(room string, ps []federation.Participant) error {
	_, err := n.fed.fed.SetParticipants(room, ps)
	return err
}

// roomStateChanged follows the other nodes' participants of room, and their tracks.
func (n *Node) roomStateChanged(room string) {
	if n.fed.reach.observe(room, n.fed.fed.State(room), n.fed.self) {
		n.reachNow() // a node out of reach wrote: show it here and in its other rooms
	}
	n.meetings.StateChanged(room)
	n.casc.syncRoom(room)
}

// chatEntry is a chat message in a room's log (kind "chat").
type chatEntry struct {
	From   string `json:"from"`
	Name   string `json:"name"`
	SFrame []byte `json:"sframe"`
}

// appendChat puts an encrypted chat message in the room's log; entryAppended delivers it.
func (n *Node) appendChat(room string, c chatEntry) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = n.fed.fed.Append(room, entryChat, data)
	return err
}

// entryAppended hands a new log entry to the room's live meeting.
func (n *Node) entryAppended(e federation.Entry) {
	if e.Node != n.fed.self && n.fed.reach.entry(e) {
		n.reachNow() // a node out of reach wrote: show its participants before handling it
	}
	switch e.Kind {
	case entryChat:
		m, err := chatMessage(e)
		if err != nil {
			n.log.Warn("chat entry refused", "room", e.Room, "node", e.Node, "err", err)
			return
		}
		n.metrics.chatMessage.Inc()
		n.meetings.Chat(e.Room, m)
	case entryKey:
		if e.Node == n.fed.self {
			return // delivered to local participants when it was sent
		}
		var env identity.SignedObject
		dec := json.NewDecoder(bytes.NewReader(e.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&env); err != nil {
			n.log.Debug("key envelope from another node refused", "room", e.Room, "node", e.Node, "err", err)
			return
		}
		n.meetings.RemoteKey(e.Room, e.Node, env)
	case entryEvent:
		if e.Node == n.fed.self {
			return // applied here when it happened
		}
		ev, err := decodeEvent(e.Data)
		if err != nil {
			n.log.Debug("event from another node refused", "room", e.Room, "node", e.Node, "err", err)
			return
		}
		n.meetings.RemoteEvent(e.Room, e.Node, ev, e.Time)
	}
}

// decodeEvent reads an event entry strictly: known fields only, ids of at most
// signal.MaxIDLen bytes, and a known action or reaction (the meeting checks who may).
func decodeEvent(data []byte) (meeting.Event, error) {
	var ev meeting.Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return meeting.Event{}, err
	}
	if dec.More() {
		return meeting.Event{}, errors.New("data after the event")
	}
	if ev.By == "" || len(ev.By) > signal.MaxIDLen || len(ev.Target) > signal.MaxIDLen || len(ev.Name) > 4*signal.MaxNameLen {
		return meeting.Event{}, errors.New("event with a bad participant id or name")
	}
	if (ev.Action == "") == (ev.Reaction == "") {
		return meeting.Event{}, errors.New("an event is an action or a reaction")
	}
	return ev, nil
}

// forwardEvent puts a moderator's action or a reaction in the room's log for its other nodes.
func (n *Node) forwardEvent(room string, ev meeting.Event) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if _, err := n.fed.fed.Append(room, entryEvent, data); err != nil {
		n.log.Warn("forward a moderator's action to the other nodes", "room", room, "action", ev.Action, "err", err)
	}
}

// addCohost names a signed-in person (federation.IdentityKey) a co-host in the record of a
// room this node owns; every node then makes them a moderator when they join.
func (n *Node) addCohost(room, key string) {
	_, err := n.fed.fed.EditRoom(room, func(s *federation.RoomSpec) error {
		switch {
		case slices.Contains(s.Cohosts, key):
			return errNoChange
		case len(s.Cohosts) >= federation.MaxCohosts:
			return fmt.Errorf("the room has %d co-hosts, the most it may have", federation.MaxCohosts)
		}
		s.Cohosts = append(s.Cohosts, key)
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		n.log.Warn("record a co-host in the room", "room", room, "err", err)
	}
}

// errNoChange is an edit of a room that changes nothing.
var errNoChange = errors.New("no change")

// chatMessage reads a chat entry strictly.
func chatMessage(e federation.Entry) (signal.ChatMessage, error) {
	var c chatEntry
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return signal.ChatMessage{}, err
	}
	if len(c.SFrame) == 0 || len(c.SFrame) > signal.MaxChatCiphertext || len(c.From) > signal.MaxIDLen {
		return signal.ChatMessage{}, errors.New("bad chat entry")
	}
	return signal.ChatMessage{Seq: e.Seq, Node: e.Node.String(), From: c.From, Name: c.Name, SFrame: c.SFrame,
		Time: e.Time.UnixMilli()}, nil
}

// chatHistory is room's recent chat, oldest first.
func (n *Node) chatHistory(room string) ([]signal.ChatMessage, error) {
	entries, err := n.fed.fed.History(room, historyScan)
	if err != nil {
		return nil, err
	}
	var out []signal.ChatMessage
	for _, e := range entries {
		if e.Kind != entryChat {
			continue
		}
		if m, err := chatMessage(e); err == nil {
			out = append(out, m)
		}
	}
	if len(out) > historyLen {
		out = out[len(out)-historyLen:]
	}
	return out, nil
}

// forwardKey sends a key envelope to the other nodes of the room, for their participants.
func (n *Node) forwardKey(room string, env *identity.SignedObject) {
	data, err := json.Marshal(env)
	if err != nil {
		return
	}
	if _, err := n.fed.fed.Append(room, entryKey, data); err != nil {
		n.log.Warn("forward a key envelope to the other nodes", "room", room, "err", err)
	}
}
