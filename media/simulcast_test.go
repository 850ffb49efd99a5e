package media

import "testing"

func TestSelectLayer(t *testing.T) {
	const q, h, f = 1 << layerLow, 1 << layerMedium, 1 << layerHigh
	cases := []struct {
		req   int
		avail uint8
		want  int
	}{
		{layerHigh, q | h | f, layerHigh},
		{layerMedium, q | h | f, layerMedium},
		{layerLow, q | h | f, layerLow},
		{layerHigh, q | h, layerMedium}, // high stopped (publisher short of bandwidth)
		{layerHigh, q, layerLow},
		{layerLow, h | f, layerMedium}, // nothing at or below: the lowest above
		{layerMedium, f, layerHigh},
		{layerHigh, 0, -1},
		{layerLow, 0, -1},
		{7, q | f, layerHigh}, // out of range request clamps to high
		{layerMedium, q | f, layerLow},
	}
	for _, c := range cases {
		if got := selectLayer(c.req, c.avail); got != c.want {
			t.Errorf("selectLayer(%d, %03b) = %d, want %d", c.req, c.avail, got, c.want)
		}
	}
	for rid, want := range map[string]int{"q": 0, "h": 1, "f": 2, "x": -1, "": -1} {
		if got := ridLayer(rid); got != want {
			t.Errorf("ridLayer(%q) = %d, want %d", rid, got, want)
		}
	}
}

// pkt builds a received packet for the munger tests.
func pkt(seq uint16, ts uint32, key bool, pid uint16) *rtpPacket {
	return &rtpPacket{seq: seq, ts: ts, payload: []byte{1}, vp8: vp8Desc{keyframe: key, pidOff: 2, pid15: true, pid: pid, tl0Off: 4, tl0: uint8(pid)}}
}

func TestMungerStartsOnKeyframe(t *testing.T) {
	var m munger
	if v, _ := m.process(pkt(100, 1000, false, 5), 2, 2, false, true, clockVideo, 1); v != dropWantKey {
		t.Fatalf("delta frame before any keyframe: verdict %d, want dropWantKey", v)
	}
	v, out := m.process(pkt(101, 4000, true, 6), 2, 2, true, true, clockVideo, 2)
	if v != forward || out.seq != 101 || out.ts != 4000 || out.pidOff != 0 {
		t.Fatalf("first keyframe: verdict %d out %+v, want forwarded unchanged", v, out)
	}
	v, out = m.process(pkt(102, 7000, false, 7), 2, 2, false, true, clockVideo, 3)
	if v != forward || out.seq != 102 {
		t.Fatalf("next packet: %d %+v", v, out)
	}
	// A packet of another layer that is not the target is not forwarded.
	if v, _ := m.process(pkt(5000, 1, true, 900), 0, 2, true, true, clockVideo, 4); v != drop {
		t.Errorf("other layer: verdict %d, want drop", v)
	}
}

func TestMungerSwitchKeepsContinuity(t *testing.T) {
	var m munger
	const ms = int64(1e6)
	// Forward high (layer 2) for a while.
	for i := range 10 {
		v, out := m.process(pkt(uint16(1000+i), uint32(90000+3000*i), i == 0, uint16(200+i)), 2, 2, i == 0, true, clockVideo, int64(i)*33*ms)
		if v != forward || out.seq != uint16(1000+i) {
			t.Fatalf("high packet %d: %d %+v", i, v, out)
		}
	}
	// Target becomes low (layer 0). High packets keep flowing until a low keyframe, and each
	// says a keyframe is wanted.
	v, out := m.process(pkt(1010, 120000, false, 210), 2, 0, false, true, clockVideo, 10*33*ms)
	if v != forwardWantKey || out.seq != 1010 {
		t.Fatalf("high while waiting: %d %+v", v, out)
	}
	if v, _ := m.process(pkt(50, 7777, false, 30000), 0, 0, false, true, clockVideo, 10*33*ms+1); v != dropWantKey {
		t.Fatalf("low delta before its keyframe: %d", v)
	}
	// The low keyframe switches: seq, timestamp and picture id continue.
	now := 11 * 33 * ms
	v, out = m.process(pkt(51, 7777, true, 30001), 0, 0, true, true, clockVideo, now)
	if v != forward {
		t.Fatalf("low keyframe: verdict %d", v)
	}
	if out.seq != 1011 {
		t.Errorf("seq after switch = %d, want 1011", out.seq)
	}
	if want := uint32(120000 + 33*90); out.ts != want {
		t.Errorf("ts after switch = %d, want %d (last + 33 ms)", out.ts, want)
	}
	if pid := (30001 - out.pidOff) & 0x7fff; pid != 211 {
		t.Errorf("picture id after switch = %d, want 211", pid)
	}
	if tl0 := uint8(30001&0xff) - out.tl0Off; tl0 != 211 {
		t.Errorf("tl0picidx after switch = %d, want 211", tl0)
	}
	// Late high packets are dropped now.
	if v, _ := m.process(pkt(1011, 123000, false, 211), 2, 0, false, true, clockVideo, now+1); v != drop {
		t.Errorf("late high packet: %d, want drop", v)
	}
	// A reordered low packet from before the switch point is dropped; one after it is
	// forwarded with its own place in the sequence.
	if v, _ := m.process(pkt(49, 1, false, 29999), 0, 0, false, true, clockVideo, now+2); v != drop {
		t.Errorf("pre-switch low packet: %d, want drop", v)
	}
	_, o1 := m.process(pkt(53, 7777+6000, false, 30003), 0, 0, false, true, clockVideo, now+3)
	v, o2 := m.process(pkt(52, 7777+3000, false, 30002), 0, 0, false, true, clockVideo, now+4)
	if v != forward || o1.seq != 1013 || o2.seq != 1012 {
		t.Errorf("reordered: %d %d, want 1013 then 1012", o1.seq, o2.seq)
	}
	// Padding-only packets are dropped without leaving a gap.
	pad := pkt(54, 0, false, 0)
	pad.payload = nil
	if v, _ := m.process(pad, 0, 0, false, true, clockVideo, now+5); v != drop {
		t.Errorf("padding: %d", v)
	}
	if _, o := m.process(pkt(55, 7777+9000, false, 30004), 0, 0, false, true, clockVideo, now+6); o.seq != 1014 {
		t.Errorf("after padding seq = %d, want 1014", o.seq)
	}
}

func TestMungerWraparound(t *testing.T) {
	var m munger
	m.process(pkt(65534, 4294967000, true, 0x7ffe), 1, 1, true, true, clockVideo, 1)
	_, o := m.process(pkt(65535, 4294967200, false, 0x7fff), 1, 1, false, true, clockVideo, 2)
	v, o2 := m.process(pkt(0, 100, false, 0), 1, 1, false, true, clockVideo, 3)
	if v != forward || o.seq != 65535 || o2.seq != 0 || o2.ts != 100 {
		t.Errorf("wrap: %d %+v %+v", v, o, o2)
	}
	// Switch after the wrap: continues at 1.
	_, o3 := m.process(pkt(300, 5, true, 17), 2, 2, true, true, clockVideo, 4)
	if o3.seq != 1 || (17-o3.pidOff)&0x7fff != 1 {
		t.Errorf("switch after wrap: %+v", o3)
	}
}

func TestMungerAudio(t *testing.T) {
	var m munger
	for i := range 5 {
		v, o := m.process(&rtpPacket{seq: uint16(7 + i), ts: uint32(960 * i), payload: []byte{1}}, 0, 0, true, false, clockAudio, int64(i))
		if v != forward || o.seq != uint16(7+i) || o.ts != uint32(960*i) {
			t.Fatalf("audio packet %d: %d %+v", i, v, o)
		}
	}
}
