package cascade

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// sampleMessages has one valid message of each type, with fields at their limits where that
// says something.
func sampleMessages() []message {
	return []message{
		{typ: msgHello, version: wireVersion},
		{typ: msgHello, version: 7, features: 0xdeadbeef},
		{typ: msgSubscribe, num: 1, layers: Layers(0, 2), room: "3f2a9c0d8e7b6a5f4e3d2c1b0a998877", track: "t12"},
		{typ: msgSubscribe, num: 65535, layers: 0, room: strings.Repeat("r", maxIDLen), track: strings.Repeat("~", maxIDLen)},
		{typ: msgSubscribed, num: 9, info: TrackInfo{Kind: KindVideo, MimeType: "video/VP8", ClockRate: 90000, Layers: AllLayers}},
		{typ: msgSubscribed, num: 10, info: TrackInfo{Kind: KindAudio, MimeType: "audio/opus", ClockRate: 48000, Channels: 2, Layers: Layers(0)}},
		{typ: msgEnd, num: 3, code: endRoomNotShared, reason: "node abc takes no part in room r"},
		{typ: msgEnd, num: 4, code: endTrackEnded, reason: ""},
		{typ: msgEnd, num: 5, code: endDuplicate, reason: "déjà vu, 会议"},
		{typ: msgUnsubscribe, num: 77},
		{typ: msgLayers, num: 2, layers: Layers(1)},
		{typ: msgLayers, num: 2, layers: 0},
		{typ: msgKeyframe, num: 8, layer: 2},
		{typ: msgNack, num: 6, layer: 1, seqs: []uint16{65535, 0, 1, 100}},
		{typ: msgNack, num: 6, layer: 0, seqs: make([]uint16, maxNackSeqs)},
		{typ: msgStats, stats: wireStats{rxDatagrams: 1 << 40, rxLost: 12, rxBytes: 1 << 50, txDropped: 3}},
	}
}

func encodeAll(t testing.TB, ms []message) []byte {
	t.Helper()
	var b []byte
	for i := range ms {
		var err error
		if b, err = appendMessage(b, &ms[i]); err != nil {
			t.Fatalf("encode %+v: %v", ms[i], err)
		}
	}
	return b
}

func TestControlRoundTrip(t *testing.T) {
	ms := sampleMessages()
	stream := encodeAll(t, ms)
	// From a byte slice, one frame after the other.
	rest := stream
	for i, want := range ms {
		got, n, err := decodeMessage(rest)
		if err != nil {
			t.Fatalf("decode message %d (%s): %v", i, want.typ, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, got, want)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes left", len(rest))
	}
	// From a stream.
	r := bytes.NewReader(stream)
	var buf [controlHeaderLen + maxControlBody]byte
	for i, want := range ms {
		got, err := readMessage(r, &buf)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("read message %d: %+v %v", i, got, err)
		}
	}
	if _, err := readMessage(r, &buf); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	// A frame cut short is an unexpected EOF, not a clean end.
	if _, err := readMessage(bytes.NewReader(stream[:5]), &buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
	// The frame layout is as drawn: type, big-endian length, body.
	b, _ := appendMessage(nil, &message{typ: msgKeyframe, num: 0x0102, layer: 2})
	if want := []byte{7, 0, 3, 1, 2, 2}; !bytes.Equal(b, want) {
		t.Errorf("keyframe frame % x, want % x", b, want)
	}
}

func TestControlRejects(t *testing.T) {
	frame := func(typ byte, body ...byte) []byte {
		return append([]byte{typ, byte(len(body) >> 8), byte(len(body))}, body...)
	}
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := map[string][]byte{
		"empty":                 nil,
		"header cut":            {1, 0},
		"type 0":                frame(0),
		"unknown type":          frame(10, 0, 1),
		"type 255":              frame(255),
		"body too long":         {msgStatsByte, 0x02, 0x01},
		"body cut":              {byte(msgHello), 0, 6, 0, 1},
		"hello short":           frame(1, 0, 1, 0),
		"hello trailing":        frame(1, 0, 1, 0, 0, 0, 0, 9),
		"subscribe num 0":       frame(2, cat([]byte{0, 0, 1}, str("r"), str("t"))...),
		"subscribe layers 8":    frame(2, cat([]byte{0, 1, 8}, str("r"), str("t"))...),
		"subscribe empty room":  frame(2, cat([]byte{0, 1, 1}, str(""), str("t"))...),
		"subscribe space":       frame(2, cat([]byte{0, 1, 1}, str("a b"), str("t"))...),
		"subscribe control":     frame(2, cat([]byte{0, 1, 1}, str("r"), str("t\n"))...),
		"subscribe high byte":   frame(2, cat([]byte{0, 1, 1}, str("r"), str("tä"))...),
		"subscribe long id":     frame(2, cat([]byte{0, 1, 1}, str(strings.Repeat("r", maxIDLen+1)), str("t"))...),
		"subscribe str overrun": frame(2, 0, 1, 1, 5, 'r'),
		"subscribe trailing":    frame(2, cat([]byte{0, 1, 1}, str("r"), str("t"), []byte{0})...),
		"subscribed kind 0":     frame(3, cat([]byte{0, 1, 0, 1, 0, 0, 0x5f, 0x90, 0}, str("video/VP8"))...),
		"subscribed kind 3":     frame(3, cat([]byte{0, 1, 3, 1, 0, 0, 0x5f, 0x90, 0}, str("video/VP8"))...),
		"subscribed clock 0":    frame(3, cat([]byte{0, 1, 2, 1, 0, 0, 0, 0, 0}, str("video/VP8"))...),
		"subscribed no mime":    frame(3, cat([]byte{0, 1, 2, 1, 0, 0, 0x5f, 0x90, 0}, str(""))...),
		"subscribed layers":     frame(3, cat([]byte{0, 1, 2, 0x10, 0, 0, 0x5f, 0x90, 0}, str("video/VP8"))...),
		"end code 0":            frame(4, cat([]byte{0, 1, 0}, str("x"))...),
		"end code 6":            frame(4, cat([]byte{0, 1, 6}, str("x"))...),
		"end reason control":    frame(4, cat([]byte{0, 1, 1}, str("a\x00b"))...),
		"end reason not utf8":   frame(4, cat([]byte{0, 1, 1}, str("\xff\xfe"))...),
		"end reason too long":   frame(4, cat([]byte{0, 1, 1}, str(strings.Repeat("x", maxReasonLen+1)))...),
		"unsubscribe num 0":     frame(5, 0, 0),
		"unsubscribe trailing":  frame(5, 0, 1, 0),
		"layers 0x80":           frame(6, 0, 1, 0x80),
		"keyframe layer 3":      frame(7, 0, 1, 3),
		"nack count 0":          frame(8, 0, 1, 0, 0),
		"nack count mismatch":   frame(8, 0, 1, 0, 2, 0, 1),
		"nack count too big":    frame(8, cat([]byte{0, 1, 0, maxNackSeqs + 1}, make([]byte, 2*(maxNackSeqs+1)))...),
		"nack layer 3":          frame(8, 0, 1, 3, 1, 0, 1),
		"stats short":           frame(9, make([]byte, 31)...),
		"stats trailing":        frame(9, make([]byte, 33)...),
	}
	for name, b := range cases {
		if _, _, err := decodeMessage(b); !errors.Is(err, errBadControl) {
			t.Errorf("%s: decode err = %v, want errBadControl", name, err)
		}
		var buf [controlHeaderLen + maxControlBody]byte
		if _, err := readMessage(bytes.NewReader(b), &buf); err == nil {
			t.Errorf("%s: readMessage accepted it", name)
		}
	}
	// The encoder refuses what the decoder would.
	for _, m := range []message{
		{typ: msgSubscribe, num: 0, room: "r", track: "t"},
		{typ: msgSubscribe, num: 1, room: "", track: "t"},
		{typ: msgNack, num: 1, seqs: nil},
		{typ: msgEnd, num: 1, code: 0},
		{typ: msgType(42)},
	} {
		if _, err := appendMessage(nil, &m); !errors.Is(err, errBadControl) {
			t.Errorf("encode %+v: %v", m, err)
		}
	}
}

const msgStatsByte = byte(msgStats)

func TestReasonText(t *testing.T) {
	long := strings.Repeat("é", maxReasonLen) // 2 bytes each
	for _, in := range []string{"plain", "tab\there\nnewline", "\xff bad utf8", long} {
		out := reasonText(in)
		if err := checkReason(out); err != nil {
			t.Errorf("reasonText(%.40q) = %.40q, refused: %v", in, out, err)
		}
	}
	if got := reasonText("a\nb"); got != "a b" {
		t.Errorf("reasonText = %q", got)
	}
}

// FuzzControl checks that the decoder never panics, that an accepted frame re-encodes to the
// same bytes, and that every error wraps errBadControl.
func FuzzControl(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := appendMessage(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{2, 0, 5, 0, 1, 7, 1, 'r'})
	f.Add([]byte{8, 0, 6, 0, 1, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := decodeMessage(b)
		if err != nil {
			if !errors.Is(err, errBadControl) {
				t.Fatalf("error %v does not wrap errBadControl", err)
			}
			return
		}
		again, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatalf("accepted %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding changed the frame:\n% x\n% x", b[:n], again)
		}
		var buf [controlHeaderLen + maxControlBody]byte
		m2, err := readMessage(bytes.NewReader(b), &buf)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("stream decoding differs: %+v %v", m2, err)
		}
	})
}
