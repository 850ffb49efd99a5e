package meeting

import (
	"encoding/json"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/federation"
)

func TestLinkWishes(t *testing.T) {
	listener := json.RawMessage(`{"name":"l"}`)
	talker := json.RawMessage(`{"name":"t","tracks":[{"id":"a1","kind":"audio","source":"mic"}]}`)
	rec := func(node peer.ID, infos ...json.RawMessage) federation.StateRecord {
		r := federation.StateRecord{Node: node, Participants: []federation.Participant{}}
		for i, info := range infos {
			r.Participants = append(r.Participants, federation.Participant{ID: string(node) + string(rune('0'+i)), Info: info})
		}
		return r
	}
	all := func(peer.ID) bool { return true }
	for _, c := range []struct {
		name      string
		recs      []federation.StateRecord
		federated func(peer.ID) bool
		want      map[peer.ID]int // peer -> tracks
	}{
		{"nobody here", []federation.StateRecord{rec("self"), rec("b", talker)}, all, nil},
		{"nobody publishes", []federation.StateRecord{rec("self", listener), rec("b", listener)}, all, nil},
		{"they publish", []federation.StateRecord{rec("self", listener), rec("b", talker)}, all, map[peer.ID]int{"b": 1}},
		{"we publish", []federation.StateRecord{rec("self", talker), rec("b", listener), rec("c")}, all, map[peer.ID]int{"b": 0}},
		{"not federated", []federation.StateRecord{rec("self", talker), rec("b", talker)},
			func(id peer.ID) bool { return id != "b" }, nil},
		{"bad info", []federation.StateRecord{rec("self", listener), rec("b", json.RawMessage(`{"nope":1}`))}, all, nil},
	} {
		got := LinkWishes(c.recs, c.federated, "self")
		if len(got) != len(c.want) {
			t.Errorf("%s: wishes %+v, want %v", c.name, got, c.want)
			continue
		}
		for _, w := range got {
			if n, ok := c.want[w.Peer]; !ok || n != len(w.Tracks) {
				t.Errorf("%s: wish %+v, want %v", c.name, w, c.want)
			}
		}
	}
}
