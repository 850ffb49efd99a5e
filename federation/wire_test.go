package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"parley/identity"
)

// signer is a node key with its peer ID, for building records without a mesh host.
type signer struct {
	key *identity.NodeKey
	id  peer.ID
}

func newSigner(t testing.TB) signer {
	t.Helper()
	k, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return signer{k, id}
}

func (s signer) seal(t testing.TB, k kind, body any) []byte {
	t.Helper()
	raw, err := seal(s.key, s.id, k, body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// samples are one valid envelope of each kind, signed by s.
func samples(t testing.TB, s signer) map[kind][]byte {
	room := NewRoomID()
	now := time.Now().UnixMilli()
	return map[kind][]byte{
		kindNode: s.seal(t, kindNode, nodeBody{V: 1, Peer: s.id, Name: "Ministère A", Org: "Ministère A",
			URL: "https://a.example:8443", Addrs: []string{"/ip4/192.0.2.1/udp/4001/quic-v1/p2p/" + s.id.String()},
			Cascade: "192.0.2.1:7890", IssuedMS: now}),
		kindRoom: s.seal(t, kindRoom, roomBody{V: 1, ID: room, Owner: s.id, Title: "Weekly <sync> & more", Lobby: true,
			Orgs: []string{"Défense", "Ministère A"}, CreatedMS: now, Ver: 1}),
		kindState: s.seal(t, kindState, stateBody{V: 1, Room: room, Node: s.id, Ver: uint64(now), TimeMS: now,
			Participants: []Participant{{ID: "k3j5", Info: json.RawMessage(`{"name":"Ada","cert":{"body":"{\"v\":1}","sig":"abc"},"hand":true}`)}}}),
		kindEntry: s.seal(t, kindEntry, entryBody{V: 1, Room: room, Node: s.id, Seq: 1, TimeMS: now, Kind: "chat",
			Data: json.RawMessage(`{"from":"k3j5","sframe":"AAEC"}`)}),
		kindCast: s.seal(t, kindCast, castBody{V: 1, Room: room, Node: s.id, TimeMS: now, Kind: "caption",
			Data: json.RawMessage(`{"from":"k3j5","sframe":"AAEC"}`)}),
	}
}

func TestSealDecodeRoundTrip(t *testing.T) {
	s := newSigner(t)
	for k, raw := range samples(t, s) {
		m, err := decodeMessage(raw)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if m.kind != k || m.origin != s.id || !bytes.Equal(m.raw, raw) {
			t.Fatalf("%s: decoded %+v", k, m)
		}
		var v verifiedSet
		if _, err := decodeWith(raw, &v); err != nil {
			t.Fatal(err)
		}
		if _, err := decodeWith(raw, &v); err != nil { // from the cache
			t.Fatal(err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	raw := samples(t, s)[kindEntry]
	var env signedEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	reenc := func(mut func(e *signedEnvelope)) []byte {
		e := env
		mut(&e)
		b, _ := json.Marshal(e)
		return b
	}
	bodyOf := func(mut func(b *entryBody)) []byte {
		var b entryBody
		if err := json.Unmarshal(env.Body, &b); err != nil {
			t.Fatal(err)
		}
		mut(&b)
		out, _ := json.Marshal(b)
		return envelope(s.key, s.id, kindEntry, out)
	}
	cases := []struct {
		name string
		data []byte
		want Reason
	}{
		{"over the message limit", append(raw, bytes.Repeat([]byte(" "), MaxMessageSize)...), ReasonOversize},
		{"space after a colon", bytes.Replace(raw, []byte(`"v":1`), []byte(`"v": 1`), 1), ReasonMalformed},
		{"trailing data", append(append([]byte{}, raw...), []byte(` {}`)...), ReasonMalformed},
		{"trailing newline", append(append([]byte{}, raw...), '\n'), ReasonMalformed},
		{"upper-case key", bytes.Replace(raw, []byte(`"sig"`), []byte(`"SIG"`), 1), ReasonMalformed},
		{"duplicate key", bytes.Replace(raw, []byte(`{"v":1,`), []byte(`{"v":1,"v":1,`), 1), ReasonMalformed},
		{"unknown field", bytes.Replace(raw, []byte(`{"v":1,`), []byte(`{"v":1,"x":1,`), 1), ReasonMalformed},
		{"missing field", bytes.Replace(raw, []byte(`"v":1,`), nil, 1), ReasonMalformed},
		{"envelope version 2", reenc(func(e *signedEnvelope) { e.V = 2 }), ReasonMalformed},
		{"unknown kind", reenc(func(e *signedEnvelope) { e.T = "vote" }), ReasonMalformed},
		{"not a peer ID", reenc(func(e *signedEnvelope) { e.From = "alice" }), ReasonMalformed},
		{"no signature", reenc(func(e *signedEnvelope) { e.Sig = "" }), ReasonUnsigned},
		{"short signature", reenc(func(e *signedEnvelope) { e.Sig = "AAAA" }), ReasonBadSignature},
		{"signed by another key", envelope(other.key, s.id, kindEntry, env.Body), ReasonBadSignature},
		{"signed under another kind's prefix", func() []byte {
			e := env
			e.T = kindState
			b, _ := json.Marshal(e)
			return b
		}(), ReasonBadSignature},
		{"body names another origin", bodyOf(func(b *entryBody) { b.Node = other.id }), ReasonBadSignature},
		{"body version 2", bodyOf(func(b *entryBody) { b.V = 2 }), ReasonMalformed},
		{"seq 0", bodyOf(func(b *entryBody) { b.Seq = 0 }), ReasonMalformed},
		{"bad kind", bodyOf(func(b *entryBody) { b.Kind = "Chat!" }), ReasonMalformed},
		{"bad room", bodyOf(func(b *entryBody) { b.Room = "../etc" }), ReasonMalformed},
		{"time 0", bodyOf(func(b *entryBody) { b.TimeMS = 0 }), ReasonMalformed},
		{"data over its limit", bodyOf(func(b *entryBody) {
			b.Data = json.RawMessage(`"` + strings.Repeat("x", MaxEntryData) + `"`)
		}), ReasonMalformed},
		{"body over its limit", bodyOf(func(b *entryBody) {
			b.Data = json.RawMessage(`"` + strings.Repeat("x", maxEntryBody) + `"`)
		}), ReasonOversize},
	}
	for _, c := range cases {
		_, err := decodeMessage(c.data)
		if got := reasonOf(err); got != c.want {
			t.Errorf("%s: reason %q (%v), want %q", c.name, got, err, c.want)
		}
	}
	// Every single-byte change is refused (or, for a few, still the very same record).
	for i := range raw {
		mut := append([]byte{}, raw...)
		mut[i] ^= 0x01
		if m, err := decodeMessage(mut); err == nil && !bytes.Equal(m.raw, mut) {
			t.Fatalf("byte %d flipped: accepted as something else", i)
		} else if err == nil {
			t.Fatalf("byte %d flipped (%q): still accepted", i, mut[max(0, i-10):min(len(mut), i+10)])
		}
	}
}

func TestRecordValidation(t *testing.T) {
	s := newSigner(t)
	room := NewRoomID()
	now := time.Now().UnixMilli()
	bad := map[string]any{
		"room title with a newline": roomBody{V: 1, ID: room, Owner: s.id, Title: "a\nb", CreatedMS: now, Ver: 1},
		"room version 0":            roomBody{V: 1, ID: room, Owner: s.id, Title: "t", CreatedMS: now},
		"room id uppercase":         roomBody{V: 1, ID: strings.ToUpper(room), Owner: s.id, Title: "t", CreatedMS: now, Ver: 1},
		"node name empty":           nodeBody{V: 1, Peer: s.id, Org: "o", IssuedMS: now},
		"node url not http":         nodeBody{V: 1, Peer: s.id, Name: "n", Org: "o", URL: "ftp://x", IssuedMS: now},
		"participants null":         stateBody{V: 1, Room: room, Node: s.id, Ver: 1, TimeMS: now},
		"participant twice": stateBody{V: 1, Room: room, Node: s.id, Ver: 1, TimeMS: now,
			Participants: []Participant{{ID: "a"}, {ID: "a"}}},
		"participant without id": stateBody{V: 1, Room: room, Node: s.id, Ver: 1, TimeMS: now, Participants: []Participant{{Info: json.RawMessage(`{}`)}}},
		"participant info too big": stateBody{V: 1, Room: room, Node: s.id, Ver: 1, TimeMS: now,
			Participants: []Participant{{ID: "a", Info: json.RawMessage(`"` + strings.Repeat("x", MaxInfoSize) + `"`)}}},
		"participants too many": stateBody{V: 1, Room: room, Node: s.id, Ver: 1, TimeMS: now,
			Participants: manyParticipants(MaxParticipants + 1)},
	}
	kinds := map[string]kind{"room": kindRoom, "node": kindNode, "part": kindState}
	for name, body := range bad {
		k := kinds[name[:4]]
		b, _ := json.Marshal(body)
		if _, err := decodeMessage(envelope(s.key, s.id, k, b)); reasonOf(err) != ReasonMalformed {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidRoomID(t *testing.T) {
	for _, id := range []string{NewRoomID(), "abcdefghijklmnopqrstuvwxyz", "234567abcdefghijklmnopqrst", strings.Repeat("0", 32)} {
		if !ValidRoomID(id) {
			t.Errorf("%q refused", id)
		}
	}
	for _, id := range []string{"", "abc", strings.Repeat("g", 32), strings.Repeat("A", 32), "abcdefghijklmnopqrstuvwxy1", "../../../../../../etc/pass"} {
		if ValidRoomID(id) {
			t.Errorf("%q accepted", id)
		}
	}
}

// manyParticipants returns n participants with distinct ids and small infos.
func manyParticipants(n int) []Participant {
	ps := make([]Participant, n)
	for i := range ps {
		ps[i] = Participant{ID: fmt.Sprintf("p%d", i), Info: json.RawMessage(`{}`)}
	}
	return ps
}
