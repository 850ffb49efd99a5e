package federation

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer is a federated node as this node knows it.
type Peer struct {
	ID        peer.ID
	Record    NodeRecord // its newest node record
	Added     time.Time  // when it was federated
	Connected bool       // whether the mesh host is connected to it now
}

// Self is this node's current node record.
func (f *Federation) Self() NodeRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.selfRec.record()
}

// Record is this node's current signed node record, as a join exchanges it; AddPeer on
// another node takes it.
func (f *Federation) Record() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.selfRaw)
}

// Peers lists the federated peers by name, then peer ID.
func (f *Federation) Peers() []Peer {
	f.mu.Lock()
	out := make([]Peer, 0, len(f.peers))
	for id, p := range f.peers {
		out = append(out, Peer{ID: id, Record: p.rec.record(), Added: p.added})
	}
	f.mu.Unlock()
	for i := range out {
		out[i].Connected = f.host.Connected(out[i].ID)
	}
	slices.SortFunc(out, func(a, b Peer) int {
		return cmp.Or(cmp.Compare(a.Record.Name, b.Record.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// AddPeer federates the node whose signed node record (its Record) is given, as redeeming
// an invite does: it is trusted on the mesh host and its records are accepted from now on,
// even if it was removed before. It is for joins and for harnesses that federate nodes they
// run themselves; operators use invites.
func (f *Federation) AddPeer(record []byte) (Peer, error) {
	m, err := decodeMessage(record)
	if err != nil {
		return Peer{}, fmt.Errorf("federation: add peer: %w", err)
	}
	return f.addPeer(m)
}

func (f *Federation) addPeer(m message) (Peer, error) {
	if m.kind != kindNode {
		return Peer{}, fmt.Errorf("federation: add peer: a %s record is not a node record", m.kind)
	}
	if m.origin == f.self {
		return Peer{}, errors.New("federation: add peer: that is this node")
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return Peer{}, ErrClosed
	}
	delete(f.removed, m.origin)
	p := &peerEntry{rec: *m.node, raw: m.raw, added: time.Now()}
	if cur := f.peers[m.origin]; cur != nil {
		p.added = cur.added
		if cur.rec.IssuedMS >= m.node.IssuedMS {
			p.rec, p.raw = cur.rec, cur.raw
		}
	}
	f.peers[m.origin] = p
	f.notifyLocked()
	f.mu.Unlock()

	if err := f.st.markRemoved(m.origin, 0); err != nil {
		return Peer{}, err
	}
	if err := f.st.putPeer(&p.rec, p.added.UnixMilli(), p.raw); err != nil {
		return Peer{}, err
	}
	if err := f.host.Trust(m.origin, p.rec.Addrs); err != nil {
		return Peer{}, fmt.Errorf("federation: trust %s: %w", m.origin, err)
	}
	f.log.Info("peer federated", "peer", m.origin, "name", p.rec.Name, "org", p.rec.Org)
	return Peer{ID: m.origin, Record: p.rec.record(), Added: p.added, Connected: f.host.Connected(m.origin)}, nil
}

// Remove ends federation with id: the mesh host stops trusting it (closing its
// connections), this node drops and stops serving its state records, log entries and the
// rooms it owns, and ignores everything from it from now on (counted as ReasonRemoved). An
// invite redeemed later, or AddPeer, federates it again.
func (f *Federation) Remove(id peer.ID) error {
	f.mu.Lock()
	if f.peers[id] == nil {
		f.mu.Unlock()
		return fmt.Errorf("federation: remove %s: %w", id, ErrUnknownPeer)
	}
	delete(f.peers, id)
	f.removed[id] = true
	var rooms, owned []string
	for room, rs := range f.states {
		if _, ok := rs[id]; ok {
			rooms = append(rooms, room)
			delete(rs, id)
		}
	}
	for room, byNode := range f.logs {
		if _, ok := byNode[id]; ok {
			if !slices.Contains(rooms, room) {
				rooms = append(rooms, room)
			}
			delete(byNode, id)
		}
	}
	for room, r := range f.rooms {
		if r.rec.Owner == id {
			owned = append(owned, room)
			delete(f.rooms, room)
		}
	}
	f.notifyLocked()
	f.mu.Unlock()

	f.host.Untrust(id)
	err := f.st.markRemoved(id, time.Now().UnixMilli())
	if err == nil {
		err = f.st.dropOrigin(id, rooms, owned)
	}
	if h := f.cfg.Handlers.StateChanged; h != nil {
		for _, room := range rooms {
			h(room)
		}
	}
	f.log.Info("peer removed", "peer", id, "rooms", len(rooms), "owned", len(owned))
	return err
}

// Invite makes a one-time invite valid for ttl (<= 0 means DefaultInviteTTL, at most
// MaxInviteTTL). The node must have a URL. Only the secret's hash is stored.
func (f *Federation) Invite(ttl time.Duration) (string, error) {
	if f.cfg.URL == "" {
		return "", errors.New("federation: invite: the node has no URL to redeem invites at")
	}
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	ttl = min(ttl, MaxInviteTTL)
	secret := make([]byte, secretLen)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	exp := time.Now().Add(ttl)
	if err := f.st.putInvite(secretHash(secret), exp.UnixMilli()); err != nil {
		return "", err
	}
	addrs := f.host.Addrs()
	if len(addrs) > maxAddrs {
		addrs = addrs[:maxAddrs]
	}
	inv := Invite{
		Peer: f.self, Addrs: addrs, URL: f.cfg.URL, TLSFingerprint: f.cfg.fingerprint(),
		Secret: secret, Expires: exp,
	}
	return inv.String(), nil
}

func secretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}
