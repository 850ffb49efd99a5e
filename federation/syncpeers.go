package federation

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Peers in the directory catch-up. A node that restarts on new addresses gossips its new
// node record when it starts, before it is connected to anyone, so only the peers it can
// dial itself (their addresses did not change) learn it, from the answer to their
// directory request. Two nodes that both moved would lose each other; so the first page of
// a directory answer also carries the answerer's newest node records of its other
// federated peers ("peers", see syncwire.go). The asker takes a record only from a node it
// federates itself, and only if newer than the one it holds; it then applies it as any
// node record (applyNode: signature, origin federated and not removed, newer iat_ms), and
// dials the new addresses.

// peersBudget bounds the bytes of node records in one directory answer; the freshest
// records go first.
const peersBudget = syncBudget / 4

// peerRecordsLocked lists the node records of federated peers other than asker, newest
// first, within maxSyncItems and peersBudget. f.mu must be held.
func (f *Federation) peerRecordsLocked(asker peer.ID) []json.RawMessage {
	held := make([]*peerEntry, 0, len(f.peers))
	for id, p := range f.peers {
		if id != asker {
			held = append(held, p)
		}
	}
	slices.SortFunc(held, func(a, b *peerEntry) int {
		return cmp.Or(cmp.Compare(b.rec.IssuedMS, a.rec.IssuedMS), cmp.Compare(a.rec.Peer, b.rec.Peer))
	})
	var out []json.RawMessage
	used := 0
	for _, p := range held {
		if len(out) >= maxSyncItems || used+len(p.raw) > peersBudget {
			break
		}
		out = append(out, p.raw)
		used += len(p.raw) + 1
	}
	return out
}

// takePeers applies the node records of a directory answer that are news to this node:
// records of its own federated peers newer than those it holds. Records of nodes it does
// not federate with, and ones it holds already or newer, are skipped without counting as
// rejects (the answerer's federation need not be this node's); anything that does not
// decode, or is not a node record, is a reject.
func (f *Federation) takePeers(items []json.RawMessage) {
	var fresh []json.RawMessage
	for _, raw := range items {
		m, err := f.decode(raw)
		if err == nil && m.kind != kindNode {
			err = reject(ReasonWrongTopic, "%s in a catch-up answer's peers", m.kind)
		}
		if err != nil {
			f.count(err)
			continue
		}
		f.mu.Lock()
		p := f.peers[m.origin]
		news := p != nil && !f.removed[m.origin] && p.rec.IssuedMS < m.node.IssuedMS
		f.mu.Unlock()
		if news {
			fresh = append(fresh, raw)
		}
	}
	if len(fresh) > 0 {
		f.take("", fresh, kindNode)
	}
}
