package federation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Every decoder of outside input: it must never panic, and what it accepts must be exactly
// the canonical encoding of what it decoded. Seeds are real messages.

func FuzzDecodeMessage(f *testing.F) {
	s := newSigner(f)
	for _, raw := range samples(f, s) {
		f.Add(raw)
		f.Add(bytes.Replace(raw, []byte(`"v":1`), []byte(`"v":2`), 1))
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte(`{"v":1,"t":"entry","from":"12D3KooW","body":{},"sig":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			if reasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !bytes.Equal(m.raw, data) {
			t.Fatal("accepted message is not kept as received")
		}
		var env signedEnvelope
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(env)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatal("accepted envelope is not canonical")
		}
		if (m.node == nil) == (m.kind == kindNode) || (m.room == nil) == (m.kind == kindRoom) ||
			(m.state == nil) == (m.kind == kindState) || (m.entry == nil) == (m.kind == kindEntry) {
			t.Fatalf("kind %s with the wrong body", m.kind)
		}
	})
}

func syncSamples(t testing.TB) (reqs [][]byte, resps [][]byte) {
	s := newSigner(t)
	sm := samples(t, s)
	var room roomBody
	var env signedEnvelope
	_ = json.Unmarshal(sm[kindRoom], &env)
	_ = json.Unmarshal(env.Body, &room)
	for _, r := range []syncRequest{
		{V: 1, Dir: true},
		{V: 1, Dir: true, After: room.ID, Digest: strings.Repeat("ab", 32)},
		{V: 1, Room: room.ID, Record: sm[kindRoom], Have: map[string]uint64{s.id.String(): 17}, States: map[string]uint64{s.id.String(): 1767225600123}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, b)
	}
	for _, r := range []syncResponse{
		{V: 1, Node: sm[kindNode], Rooms: []json.RawMessage{sm[kindRoom]}, More: true},
		{V: 1, Node: sm[kindNode], Peers: []json.RawMessage{samples(t, newSigner(t))[kindNode], sm[kindNode]}, Rooms: []json.RawMessage{sm[kindRoom]}},
		{V: 1, States: []json.RawMessage{sm[kindState]}, Entries: []json.RawMessage{sm[kindEntry], sm[kindEntry]}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, b)
	}
	return reqs, resps
}

func FuzzSyncRequest(f *testing.F) {
	reqs, _ := syncSamples(f)
	for _, r := range reqs {
		f.Add(r)
	}
	f.Add([]byte(`{"v":1,"dir":true,"room":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeSyncRequest(data)
		if err != nil {
			if reasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		again, err := json.Marshal(r)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatal("accepted request is not canonical")
		}
		if r.Dir == (r.Room != "") {
			t.Fatal("accepted a request that is both or neither kind")
		}
	})
}

func FuzzSyncResponse(f *testing.F) {
	_, resps := syncSamples(f)
	for _, r := range resps {
		f.Add(r)
	}
	f.Add([]byte(`{"v":1,"rooms":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeSyncResponse(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatal("accepted answer is not canonical")
		}
		// Its items go through decodeMessage, which must cope with anything.
		if len(r.Peers) > maxSyncItems {
			t.Fatalf("accepted %d peers", len(r.Peers))
		}
		for _, item := range slices.Concat([]json.RawMessage{r.Node}, r.Peers, r.Rooms, r.States, r.Entries) {
			_, _ = decodeMessage(item)
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	inv := sampleInvite(f)
	f.Add(inv.String())
	inv.URL, inv.TLSFingerprint = "http://127.0.0.1:8443", nil
	f.Add(inv.String())
	f.Add(InvitePrefix + "aaaa")
	f.Fuzz(func(t *testing.T, text string) {
		inv, err := ParseInvite(text)
		if err != nil {
			return
		}
		if inv.String() != strings.TrimSpace(text) {
			t.Fatal("accepted invite does not re-encode to itself")
		}
		if len(inv.Secret) != secretLen {
			t.Fatal("accepted an invite with a short secret")
		}
	})
}

func FuzzJoinRequest(f *testing.F) {
	joiner, inviter := newSigner(f), newSigner(f)
	secret := bytes.Repeat([]byte{9}, 32)
	rec := samples(f, joiner)[kindNode]
	req, _ := json.Marshal(joinRequest{
		V: 1, Secret: base64.RawURLEncoding.EncodeToString(secret), Record: rec,
		Proof: base64.RawURLEncoding.EncodeToString(joiner.key.Sign(joinProofMessage(inviter.id.String(), secret))),
	})
	f.Add(req)
	f.Add(bytes.Replace(req, []byte(`"v":1`), []byte(`"v":0`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, m, s, err := decodeJoinRequest(data, inviter.id.String())
		if err != nil {
			if reasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		again, _ := json.Marshal(r)
		if !bytes.Equal(again, data) || m.kind != kindNode || len(s) != secretLen {
			t.Fatal("accepted a join request that is not canonical or not a node record")
		}
	})
}
