package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

func TestPacketCache(t *testing.T) {
	c := newPacketCache()
	var idx []uint64
	for i := range cacheSlots + 10 {
		idx = append(idx, c.put(uint32(i), i%2 == 0, []byte{byte(i), byte(i >> 8)}))
	}
	buf := make([]byte, maxPayload)
	// The oldest ten were overwritten.
	for i := range 10 {
		if _, _, _, ok := c.get(idx[i], buf); ok {
			t.Errorf("packet %d still cached after %d newer ones", i, cacheSlots)
		}
	}
	for i := 10; i < len(idx); i++ {
		n, ts, marker, ok := c.get(idx[i], buf)
		if !ok || n != 2 || buf[0] != byte(i) || buf[1] != byte(i>>8) || ts != uint32(i) || marker != (i%2 == 0) {
			t.Fatalf("packet %d: ok %v n %d ts %d marker %v", i, ok, n, ts, marker)
		}
	}
	if _, _, _, ok := c.get(idx[len(idx)-1]+1, buf); ok {
		t.Errorf("a packet not yet stored was found")
	}
	// Too large to cache: refused, never truncated.
	big := c.put(1, false, make([]byte, maxPayload+1))
	if _, _, _, ok := c.get(big, buf); ok {
		t.Errorf("oversized packet cached")
	}
	if a := testing.AllocsPerRun(100, func() { c.put(1, true, buf[:1200]) }); a != 0 {
		t.Errorf("put allocates %v times", a)
	}
}

func TestSeqRing(t *testing.T) {
	var r seqRing
	r.add(seqEntry{outSeq: 5, idx: 50})
	r.add(seqEntry{outSeq: 5 + seqRingEntries, idx: 60}) // same slot, newer
	if _, ok := r.lookup(5); ok {
		t.Errorf("overwritten entry found")
	}
	if e, ok := r.lookup(5 + seqRingEntries); !ok || e.idx != 60 {
		t.Errorf("lookup = %+v %v", e, ok)
	}
	if _, ok := r.lookup(6); ok {
		t.Errorf("empty slot found")
	}
}

func TestParseVP8Keyframes(t *testing.T) {
	cases := []struct {
		name    string
		b       []byte
		key     bool
		pid     uint16
		pidOff  uint8
		tl0Off  uint8
		wantErr bool
	}{
		{"key, 15-bit pid", vp8Frame(0x1234, true, 'f', 40), true, 0x1234, 2, 0, false},
		{"delta, 15-bit pid", vp8Frame(0x1234, false, 'f', 40), false, 0x1234, 2, 0, false},
		{"key, no extensions", []byte{0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a}, true, 0, 0, 0, false},
		{"key, 7-bit pid, tl0, tid", []byte{0x90, 0xe0, 0x12, 0x34, 0x40, 0x00}, true, 0x12, 2, 3, false},
		{"continuation of a keyframe", []byte{0x80, 0x80, 0x81, 0x00, 0x10}, false, 0x100, 2, 0, false},
		{"start of partition 1", []byte{0x11, 0x10}, false, 0, 0, 0, false},
		{"empty", []byte{}, false, 0, 0, 0, true},
		{"truncated pid", []byte{0x90, 0x80, 0x81}, false, 0, 0, 0, true},
		{"descriptor only", []byte{0x90, 0x80, 0x01}, false, 0, 0, 0, true},
	}
	for _, c := range cases {
		var d vp8Desc
		err := parseVP8(c.b, &d)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err %v", c.name, err)
			continue
		}
		if err == nil && (d.keyframe != c.key || d.pid != c.pid || d.pidOff != c.pidOff || d.tl0Off != c.tl0Off) {
			t.Errorf("%s: %+v", c.name, d)
		}
	}
}

func TestRewriteVP8(t *testing.T) {
	src := vp8Frame(100, false, 'h', 30)
	src[1] |= 0x40 // add L: shift the rest to make room for TL0PICIDX
	src = append(src[:4], append([]byte{77}, src[4:]...)...)
	var d vp8Desc
	if err := parseVP8(src, &d); err != nil {
		t.Fatal(err)
	}
	out := rewriteVP8(make([]byte, 64), src, &d, 90, 7)
	var o vp8Desc
	if err := parseVP8(out, &o); err != nil {
		t.Fatal(err)
	}
	if o.pid != 10 || o.tl0 != 70 || !bytes.Equal(out[5:], src[5:]) {
		t.Errorf("rewritten pid %d tl0 %d", o.pid, o.tl0)
	}
	// Wraps within 15 bits.
	out = rewriteVP8(make([]byte, 64), src, &d, 200, 0)
	_ = parseVP8(out, &o)
	if o.pid != (100-200)&0x7fff {
		t.Errorf("wrapped pid %d", o.pid)
	}
}

func TestParseRTP(t *testing.T) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, PayloadType: 111, SequenceNumber: 4242, Timestamp: 0xdeadbeef, SSRC: 99, CSRC: []uint32{1, 2}}, Payload: []byte("opus!")}
	if err := p.Header.SetExtension(3, []byte{0x80 | 37}); err != nil {
		t.Fatal(err)
	}
	if err := p.Header.SetExtension(5, []byte("mid")); err != nil {
		t.Fatal(err)
	}
	p.Header.Padding = true
	p.PaddingSize = 4
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var got rtpPacket
	if err := parseRTP(b, &got, 3); err != nil {
		t.Fatal(err)
	}
	if got.seq != 4242 || got.ts != 0xdeadbeef || got.ssrc != 99 || !got.marker || string(got.payload) != "opus!" || got.audioLevel != 37 {
		t.Errorf("parsed %+v", got)
	}
	if err := parseRTP(b, &got, 4); err != nil || got.audioLevel != -1 {
		t.Errorf("absent level: %d %v", got.audioLevel, err)
	}
	for _, bad := range [][]byte{nil, b[:11], {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, append([]byte{0xa0}, b[1:12]...)} {
		if err := parseRTP(bad, &got, 3); err == nil {
			t.Errorf("parseRTP(%x) accepted", bad)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _ = parseRTP(b, &got, 3) }); a != 0 {
		t.Errorf("parseRTP allocates %v times", a)
	}
}

func FuzzParseRTP(f *testing.F) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1}, Payload: vp8Frame(5, true, 'q', 20)}
	_ = p.Header.SetExtension(1, []byte("q"))
	b, _ := p.Marshal()
	f.Add(b)
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1, 0x10, 0x55, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtpPacket
		if err := parseRTP(b, &p, 1); err != nil {
			return
		}
		if len(p.payload) > len(b)-12 {
			t.Fatalf("payload %d bytes from a %d-byte packet", len(p.payload), len(b))
		}
		var d vp8Desc
		if parseVP8(p.payload, &d) == nil {
			if int(d.descLength) >= len(p.payload) || int(d.pidOff) >= len(p.payload) || int(d.tl0Off) >= len(p.payload) {
				t.Fatalf("descriptor %+v out of a %d-byte payload", d, len(p.payload))
			}
			_ = rewriteVP8(make([]byte, len(p.payload)), p.payload, &d, 3, 3)
		}
	})
}

func TestRankSpeakers(t *testing.T) {
	got := rankSpeakers([]speakerLevel{
		{"quiet", speakerThreshold - 1},
		{"b", 100}, {"a", 100}, {"c", 90},
		{"c", 110}, // c's second track is louder
	})
	want := []string{"c", "a", "b"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if !sameSet([]string{"a", "b"}, []string{"b", "a"}) || sameSet([]string{"a"}, []string{"a", "b"}) || sameSet([]string{"a"}, []string{"b"}) {
		t.Errorf("sameSet wrong")
	}
	if len(rankSpeakers(nil)) != 0 {
		t.Errorf("speakers from nothing")
	}
}
