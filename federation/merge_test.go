package federation

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Merging state records in any order, with any repetition, ends in the same state: the
// greatest version of each node.
func TestRoomStateMergeOrderFree(t *testing.T) {
	nodes := []peer.ID{newSigner(t).id, newSigner(t).id, newSigner(t).id}
	var recs []*storedState
	want := map[peer.ID]uint64{}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range nodes {
		for range 6 {
			v := uint64(rng.IntN(20) + 1)
			recs = append(recs, &storedState{body: stateBody{Node: n, Ver: v}})
			want[n] = max(want[n], v)
		}
	}
	for trial := range 200 {
		order := slices.Clone(recs)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = append(order, order[:trial%len(order)]...) // repeats
		s := roomState{}
		changes := 0
		for _, r := range order {
			if s.merge(r) {
				changes++
			}
		}
		for n, v := range want {
			if s.version(n) != v {
				t.Fatalf("trial %d: node %s at %d, want %d", trial, n, s.version(n), v)
			}
		}
		if changes > len(recs) {
			t.Fatalf("trial %d: %d changes from %d records", trial, changes, len(recs))
		}
	}
}

func TestSeqSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 100 {
		var s seqSet
		ref := map[uint64]bool{}
		for range 300 {
			q := uint64(rng.IntN(120) + 1)
			if got, want := s.add(q), !ref[q]; got != want {
				t.Fatalf("trial %d: add(%d) = %v, want %v", trial, q, got, want)
			}
			ref[q] = true
		}
		contig := uint64(0)
		for ref[contig+1] {
			contig++
		}
		if s.contig != contig {
			t.Fatalf("trial %d: contig %d, want %d", trial, s.contig, contig)
		}
		var maxq uint64
		for q := uint64(1); q <= 130; q++ {
			if s.has(q) != ref[q] {
				t.Fatalf("trial %d: has(%d) = %v", trial, q, s.has(q))
			}
			if ref[q] {
				maxq = q
			}
		}
		if s.max() != maxq {
			t.Fatalf("trial %d: max %d, want %d", trial, s.max(), maxq)
		}
		for q := range s.above {
			if q <= s.contig+1 {
				t.Fatalf("trial %d: %d kept above contig %d", trial, q, s.contig)
			}
		}
	}
}

func TestCompareEntries(t *testing.T) {
	a, b := newSigner(t).id, newSigner(t).id
	if b < a {
		a, b = b, a
	}
	t0 := time.UnixMilli(1767225600000)
	ordered := []Entry{
		{Node: b, Seq: 9, Time: t0.Add(-time.Second)},
		{Node: a, Seq: 2, Time: t0},
		{Node: a, Seq: 3, Time: t0},
		{Node: b, Seq: 1, Time: t0},
		{Node: a, Seq: 1, Time: t0.Add(time.Millisecond)},
	}
	for i := range ordered {
		for j := range ordered {
			got := CompareEntries(ordered[i], ordered[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Fatalf("CompareEntries(%d, %d) = %d", i, j, got)
			}
		}
	}
}

// The store's display index orders entries as CompareEntries does, ties included.
func TestStoreHistoryOrder(t *testing.T) {
	st := &store{db: openTestDB(t, t.TempDir()), prefix: "fed/", log: testLogger(t, 0)}
	t.Cleanup(func() { st.db.Close() })
	signers := []signer{newSigner(t), newSigner(t), newSigner(t)}
	room := NewRoomID()
	base := time.Now().UnixMilli()
	var ms []message
	var want []Entry
	for i, s := range signers {
		for seq := uint64(1); seq <= 4; seq++ {
			b := entryBody{V: 1, Room: room, Node: s.id, Seq: seq, TimeMS: base + int64(seq%2), Kind: "chat", Data: []byte(`null`)}
			m, err := decodeMessage(s.seal(t, kindEntry, b))
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
			want = append(want, b.entry())
			_ = i
		}
	}
	rand.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	if err := st.putEntries(ms[:5]); err != nil {
		t.Fatal(err)
	}
	if err := st.putEntries(ms[5:]); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, CompareEntries)
	raws, err := st.history(room, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != len(want) {
		t.Fatalf("%d entries, want %d", len(raws), len(want))
	}
	for i, raw := range raws {
		m, err := decodeMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		if m.entry.Node != want[i].Node || m.entry.Seq != want[i].Seq {
			t.Fatalf("entry %d is %s/%d, want %s/%d", i, m.entry.Node, m.entry.Seq, want[i].Node, want[i].Seq)
		}
	}
	// Seq order per node for catch-up, with limits.
	got, more, err := st.entriesAfter(room, signers[0].id, 1, 2, 1<<20)
	if err != nil || len(got) != 2 || !more {
		t.Fatalf("entriesAfter: %d entries, more %v, %v", len(got), more, err)
	}
	got, more, err = st.entriesAfter(room, signers[0].id, 1, 10, 1)
	if err != nil || len(got) != 1 || !more {
		t.Fatalf("entriesAfter with a tiny budget: %d entries, more %v, %v", len(got), more, err)
	}
	// Versioned records never go back.
	k := st.key("state", room, signers[0].id.String())
	for _, v := range []uint64{5, 3, 7, 7, 6} {
		if err := st.putVersioned(k, v, []byte{byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := st.get(k)
	if err != nil || len(v) != 9 || v[8] != 7 {
		t.Fatalf("versioned value %v, %v", v, err)
	}
	// Invites are single use.
	if err := st.putInvite("h", time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.takeInvite("h", time.Now().UnixMilli()); !ok || err != nil {
		t.Fatalf("first take: %v %v", ok, err)
	}
	if ok, _ := st.takeInvite("h", time.Now().UnixMilli()); ok {
		t.Fatal("second take succeeded")
	}
}
