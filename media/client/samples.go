package client

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The publisher plays real encoded media: short clips made with ffmpeg (the exact commands are
// in samples/README.md), looped with continuous RTP timestamps.
//
//go:embed samples/*.ivf samples/*.ogg
var sampleFS embed.FS

// Sample files and the encodings they feed.
const (
	sampleHigh   = "samples/video-1280x720-30.ivf" // simulcast "f", 2000 kbit/s
	sampleMedium = "samples/video-640x360-20.ivf"  // simulcast "h" and single-layer video, 600 kbit/s
	sampleLow    = "samples/video-320x180-15.ivf"  // simulcast "q", 150 kbit/s
	sampleAudio  = "samples/audio-opus-32k.ogg"    // Opus 32 kbit/s, 20 ms per packet
)

// clip is a decoded-from-container (not decoded-from-codec) media clip: the encoded frames in
// order, each lasting frameDur.
type clip struct {
	frames   [][]byte
	keyframe []bool // VP8 only: frame i is a keyframe
	frameDur time.Duration
	width    int // VP8 only
	height   int
}

// duration is how long one pass through the clip lasts.
func (c *clip) duration() time.Duration { return time.Duration(len(c.frames)) * c.frameDur }

func loadClip(name string) (*clip, error) {
	data, err := sampleFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read sample %s: %w", name, err)
	}
	var c *clip
	switch {
	case bytes.HasSuffix([]byte(name), []byte(".ivf")):
		c, err = parseIVF(data)
	default:
		c, err = parseOggOpus(data)
	}
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", name, err)
	}
	return c, nil
}

// parseIVF reads a VP8 IVF file:
//
//	file header (32 bytes): "DKIF" | version u16 | header size u16 | "VP80" | width u16 |
//	                        height u16 | timebase denominator u32 | numerator u32 | frames u32 | unused
//	per frame (12 bytes):   frame size u32 | timestamp u64 (in timebase units) | frame bytes
//
// All integers are little-endian. The clip must start with a keyframe and have a constant
// frame rate.
func parseIVF(data []byte) (*clip, error) {
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("ivf header: %w", err)
	}
	if hdr.FourCC != "VP80" {
		return nil, fmt.Errorf("ivf codec %q, want VP80", hdr.FourCC)
	}
	if hdr.TimebaseDenominator == 0 || hdr.TimebaseNumerator == 0 {
		return nil, errors.New("ivf timebase is zero")
	}
	c := &clip{}
	var stamps []uint64
	for {
		frame, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ivf frame %d: %w", len(c.frames), err)
		}
		if len(frame) == 0 {
			return nil, fmt.Errorf("ivf frame %d is empty", len(c.frames))
		}
		c.frames = append(c.frames, frame)
		key, w, h := vp8FrameInfo(frame)
		c.keyframe = append(c.keyframe, key)
		if key && c.width == 0 {
			c.width, c.height = w, h
		}
		stamps = append(stamps, fh.Timestamp)
	}
	if len(c.frames) < 2 {
		return nil, errors.New("ivf clip needs at least two frames")
	}
	if !c.keyframe[0] {
		return nil, errors.New("ivf clip does not start with a keyframe")
	}
	// ivfreader reports pts*denominator/numerator; undo that to get pts in timebase units
	// (numerator/denominator seconds each). Allow one unit of jitter (a millisecond timebase
	// cannot hold 1/30 s exactly) and use the mean frame duration.
	num, den := uint64(hdr.TimebaseNumerator), uint64(hdr.TimebaseDenominator)
	pts := func(i int) uint64 { return stamps[i] * num / den }
	first, last := pts(0), pts(len(stamps)-1)
	if last <= first {
		return nil, errors.New("ivf timestamps do not increase")
	}
	mean := float64(last-first) / float64(len(stamps)-1)
	for i := 1; i < len(stamps); i++ {
		if d := float64(pts(i)-pts(i-1)) - mean; pts(i) < pts(i-1) || d > 1 || d < -1 {
			return nil, fmt.Errorf("ivf frame %d: frame rate is not constant", i)
		}
	}
	c.frameDur = time.Duration(mean * float64(time.Second) * float64(num) / float64(den))
	if c.frameDur <= 0 || c.frameDur > time.Second {
		return nil, fmt.Errorf("ivf frame duration %v out of range", c.frameDur)
	}
	return c, nil
}

// parseOggOpus reads an Ogg Opus file whose pages each carry exactly one Opus packet (ffmpeg
// -page_duration 20000), checking that every packet lasts the same time.
func parseOggOpus(data []byte) (*clip, error) {
	r, hdr, err := oggreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("ogg header: %w", err)
	}
	if hdr.Channels < 1 || hdr.Channels > 2 {
		return nil, fmt.Errorf("ogg opus with %d channels", hdr.Channels)
	}
	c := &clip{}
	for {
		page, ph, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ogg page %d: %w", len(c.frames), err)
		}
		if _, ok := ph.HeaderType(page); ok {
			continue // OpusTags
		}
		d, err := opusPacketDuration(page)
		if err != nil {
			return nil, fmt.Errorf("ogg page %d: %w", len(c.frames), err)
		}
		if c.frameDur == 0 {
			c.frameDur = d
		} else if d != c.frameDur {
			return nil, fmt.Errorf("ogg page %d: packet lasts %v, earlier ones %v (one packet per page needed)",
				len(c.frames), d, c.frameDur)
		}
		c.frames = append(c.frames, page)
	}
	if len(c.frames) < 2 {
		return nil, errors.New("ogg clip needs at least two packets")
	}
	return c, nil
}

// opusPacketDuration returns how long one Opus packet lasts, from its TOC byte (RFC 6716 §3.1):
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	| config  |s| c |   config: mode and frame size; s: stereo; c: frames in the packet
//	+-+-+-+-+-+-+-+-+   (0: one, 1 and 2: two, 3: count in the next byte's low 6 bits)
func opusPacketDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errors.New("empty opus packet")
	}
	config := p[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	n := 1
	switch p[0] & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("opus packet with code 3 but no frame count")
		}
		n = int(p[1] & 0x3f)
		if n == 0 {
			return 0, errors.New("opus packet with zero frames")
		}
	}
	d := frame * time.Duration(n)
	if d > 120*time.Millisecond {
		return 0, fmt.Errorf("opus packet lasts %v, over 120 ms", d)
	}
	return d, nil
}

// pacer schedules the frames of a looped clip: frame n (counting from 0 across loops) carries
// RTP timestamp base + n*tsStep and is sent at start + n*tsStep/clockRate, so timestamps stay
// continuous when the clip wraps or restarts at a keyframe, and the send clock and the RTP
// clock never drift apart.
type pacer struct {
	start     time.Time
	clockRate uint64
	tsBase    uint32
	tsStep    uint32
}

func newPacer(start time.Time, frameDur time.Duration, clockRate uint32, tsBase uint32) pacer {
	return pacer{
		start:     start,
		clockRate: uint64(clockRate),
		tsBase:    tsBase,
		tsStep:    uint32((uint64(clockRate)*uint64(frameDur) + uint64(time.Second)/2) / uint64(time.Second)),
	}
}

// due is when frame n must be sent.
func (p pacer) due(n uint64) time.Time {
	ticks := n * uint64(p.tsStep)
	sec, rem := ticks/p.clockRate, ticks%p.clockRate // split so long runs do not overflow
	return p.start.Add(time.Duration(sec)*time.Second + time.Duration(rem*uint64(time.Second)/p.clockRate))
}

// timestamp is frame n's RTP timestamp (wrapping modulo 2^32 as RTP does).
func (p pacer) timestamp(n uint64) uint32 { return p.tsBase + uint32(n)*p.tsStep }

// next returns the first frame number due strictly after now, for a sender that fell behind
// and skips frames rather than bursting to catch up.
func (p pacer) next(now time.Time) uint64 {
	if now.Before(p.start) {
		return 0
	}
	d := uint64(now.Sub(p.start))
	sec, rem := d/uint64(time.Second), d%uint64(time.Second)
	ticks := sec*p.clockRate + rem*p.clockRate/uint64(time.Second)
	return ticks/uint64(p.tsStep) + 1
}
