package client

import (
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
)

func TestSampleClips(t *testing.T) {
	cases := []struct {
		name          string
		frameDur      time.Duration
		width, height int
		kbps          float64 // target bit rate of the codec payload
	}{
		{sampleHigh, time.Second / 30, 1280, 720, 2000},
		{sampleMedium, time.Second / 20, 640, 360, 600},
		{sampleLow, time.Second / 15, 320, 180, 150},
		{sampleAudio, 20 * time.Millisecond, 0, 0, 32},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadClip(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if c.frameDur != tc.frameDur {
				t.Errorf("frame duration %v, want %v", c.frameDur, tc.frameDur)
			}
			if c.width != tc.width || c.height != tc.height {
				t.Errorf("keyframe size %dx%d, want %dx%d", c.width, c.height, tc.width, tc.height)
			}
			var bytes int
			for _, f := range c.frames {
				bytes += len(f)
			}
			kbps := float64(bytes) * 8 / c.duration().Seconds() / 1000
			if kbps < tc.kbps*0.85 || kbps > tc.kbps*1.15 {
				t.Errorf("bit rate %.0f kbit/s, want %.0f ±15%%", kbps, tc.kbps)
			}
			if tc.width > 0 {
				keys := 0
				for _, k := range c.keyframe {
					if k {
						keys++
					}
				}
				if !c.keyframe[0] || keys != 1 {
					t.Errorf("keyframes: first=%v count=%d, want one at the start", c.keyframe[0], keys)
				}
			}
			t.Logf("%d frames of %v, %.0f kbit/s", len(c.frames), c.frameDur, kbps)
		})
	}
}

func TestParseIVFRejectsBadInput(t *testing.T) {
	good, err := sampleFS.ReadFile(sampleLow)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"header only": good[:32],
		"bad magic":   append([]byte("XXXX"), good[4:]...),
		"truncated":   good[:32+12+10],
	} {
		if _, err := parseIVF(data); err == nil {
			t.Errorf("%s: parseIVF accepted it", name)
		}
	}
}

func TestOpusPacketDuration(t *testing.T) {
	cases := []struct {
		p    []byte
		want time.Duration
		ok   bool
	}{
		{[]byte{0xfc}, 20 * time.Millisecond, true},       // config 31 (CELT FB 20 ms), 1 frame
		{[]byte{0x78}, 20 * time.Millisecond, true},       // config 15 (hybrid FB 20 ms)
		{[]byte{0x08}, 20 * time.Millisecond, true},       // config 1 (SILK NB 20 ms)
		{[]byte{0x19}, 120 * time.Millisecond, true},      // config 3 (SILK 60 ms), code 1: 2 frames
		{[]byte{0xe3, 0x04}, 10 * time.Millisecond, true}, // config 28 (CELT 2.5 ms), 4 frames
		{[]byte{0x1b, 0x03}, 0, false},                    // 3 x 60 ms: over 120 ms
		{[]byte{0x03}, 0, false},                          // code 3 without count
		{[]byte{0x03, 0x00}, 0, false},                    // zero frames
		{nil, 0, false},
	}
	for _, tc := range cases {
		got, err := opusPacketDuration(tc.p)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("opusPacketDuration(%x) = %v, %v; want %v, ok=%v", tc.p, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzOpusPacketDuration(f *testing.F) {
	c, err := loadClip(sampleAudio)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.frames[0])
	f.Add([]byte{0x03, 0x3f})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := opusPacketDuration(p)
		if err == nil && (d <= 0 || d > 120*time.Millisecond) {
			t.Fatalf("duration %v accepted for %x", d, p)
		}
	})
}

func TestPacer(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(start, time.Second/30, 90000, 0xffff_f000)
	if p.tsStep != 3000 {
		t.Fatalf("tsStep %d, want 3000", p.tsStep)
	}
	if got := p.due(30); !got.Equal(start.Add(time.Second)) {
		t.Errorf("due(30) = %v, want start+1s", got.Sub(start))
	}
	// Timestamps keep counting across clip loops and wrap modulo 2^32.
	if got, want := p.timestamp(2), uint32(6000-0x1000); got != want {
		t.Errorf("timestamp(2) = %#x, want %#x", got, want)
	}
	if got := p.timestamp(91) - p.timestamp(90); got != 3000 {
		t.Errorf("step across loop = %d, want 3000", got)
	}
	if got := p.next(start.Add(-time.Second)); got != 0 {
		t.Errorf("next before start = %d, want 0", got)
	}
	if got := p.next(start.Add(time.Second + time.Millisecond)); got != 31 {
		t.Errorf("next just after 1s = %d, want 31", got)
	}
	a := newPacer(start, 20*time.Millisecond, 48000, 0)
	if a.tsStep != 960 {
		t.Errorf("opus tsStep %d, want 960", a.tsStep)
	}
}

func TestVP8Descriptor(t *testing.T) {
	c, err := loadClip(sampleHigh)
	if err != nil {
		t.Fatal(err)
	}
	pl := &codecs.VP8Payloader{EnablePictureID: true}
	for i := 0; i < 200; i++ { // enough to exercise 7- and 15-bit picture ids
		frame := c.frames[i%len(c.frames)]
		for j, p := range pl.Payload(maxPayload, frame) {
			d, err := parseVP8Descriptor(p)
			if err != nil {
				t.Fatalf("frame %d packet %d: %v", i, j, err)
			}
			if d.frameStart != (j == 0) {
				t.Fatalf("frame %d packet %d: frameStart=%v", i, j, d.frameStart)
			}
			var ref codecs.VP8Packet
			body, err := ref.Unmarshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := PayloadBody(KindVideo, p); len(got) != len(body) {
				t.Fatalf("body %d bytes, pion says %d", len(got), len(body))
			}
			if j == 0 {
				key, w, h := vp8FrameInfo(body)
				if key != c.keyframe[i%len(c.frames)] || (key && (w != 1280 || h != 720)) {
					t.Fatalf("frame %d: key=%v %dx%d", i, key, w, h)
				}
			}
		}
	}
}

// FuzzVP8Descriptor checks the descriptor parser against pion's: whatever pion accepts, the
// body lengths agree; nothing panics.
func FuzzVP8Descriptor(f *testing.F) {
	c, err := loadClip(sampleLow)
	if err != nil {
		f.Fatal(err)
	}
	pl := &codecs.VP8Payloader{EnablePictureID: true}
	for _, p := range pl.Payload(maxPayload, c.frames[0])[:2] {
		f.Add(p)
	}
	f.Add([]byte{0x90, 0xe0, 0x80, 0x01, 0x02, 0x03, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := parseVP8Descriptor(p)
		if err != nil {
			return
		}
		if d.size > len(p) {
			t.Fatalf("descriptor size %d over payload %d", d.size, len(p))
		}
		vp8FrameInfo(p[d.size:])
		var ref codecs.VP8Packet
		if body, err := ref.Unmarshal(p); err == nil && len(body) != len(p)-d.size {
			t.Fatalf("body %d bytes, pion says %d", len(p)-d.size, len(body))
		}
	})
}

func TestWSURL(t *testing.T) {
	cases := []struct{ base, ws, origin string }{
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws/room1", "http://127.0.0.1:8080"},
		{"https://n.example:8443/", "wss://n.example:8443/ws/room1", "https://n.example:8443"},
		{"wss://n.example/base", "wss://n.example/base/ws/room1", "https://n.example"},
	}
	for _, tc := range cases {
		ws, origin, err := wsURL(tc.base, "room1")
		if err != nil || ws != tc.ws || origin != tc.origin {
			t.Errorf("wsURL(%q) = %q, %q, %v; want %q, %q", tc.base, ws, origin, err, tc.ws, tc.origin)
		}
	}
	for _, bad := range []string{"ftp://x", "127.0.0.1:80", "http://", "::"} {
		if _, _, err := wsURL(bad, "r"); err == nil {
			t.Errorf("wsURL(%q) accepted", bad)
		}
	}
}
