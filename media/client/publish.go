package client

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/identity"
	"parley/media/signal"
)

const (
	// maxPayload bounds one RTP payload so that header, extensions and SRTP tag fit pion's
	// 1200-byte outbound MTU.
	maxPayload = 1100
	// keyframeRestartGap rate-limits restarting a clip at its keyframe on PLI/FIR.
	keyframeRestartGap = 300 * time.Millisecond
	// maxLagFrames is how far a publisher may fall behind before it skips frames.
	maxLagFrames = 5
	// audioLevel is the level sent in the audio-level extension (RFC 6464): -25 dBov, voice.
	audioLevel = 25
)

// publisher plays one clip into one encoding (an audio track, a single-layer video track or
// one simulcast layer).
type publisher struct {
	c         *Client
	kind      string
	source    string
	rid       string
	clip      *clip
	track     *webrtc.TrackLocalStaticRTP
	sender    *webrtc.RTPSender
	tr        *webrtc.RTPTransceiver
	payloader rtp.Payloader
	clockRate uint32
	codec     identity.Codec

	keyframeWanted atomic.Bool // set by PLI/FIR from the node
}

// encodingSpec is one encoding to publish.
type encodingSpec struct {
	rid    string
	sample string
}

func (c *Client) startPublishing() error {
	streamID := "parley-" + c.ID()
	pub := c.pub.pc
	var pubs []*publisher
	sources := map[*webrtc.RTPTransceiver]string{}

	addTrack := func(kind, source string, encs []encodingSpec) error {
		var tr *webrtc.RTPTransceiver
		for i, e := range encs {
			cl, err := loadClip(e.sample)
			if err != nil {
				return err
			}
			if kind == KindAudio && len(c.cfg.Publish.AudioFrames) > 0 {
				cl = &clip{frames: c.cfg.Publish.AudioFrames, frameDur: 20 * time.Millisecond}
			}
			codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
			var payloader rtp.Payloader = &codecs.VP8Payloader{EnablePictureID: true}
			if kind == KindAudio {
				codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
				payloader = &codecs.OpusPayloader{}
			}
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if e.rid != "" {
				opts = append(opts, webrtc.WithRTPStreamID(e.rid))
			}
			track, err := webrtc.NewTrackLocalStaticRTP(codec, source, streamID, opts...)
			if err != nil {
				return fmt.Errorf("client: new %s track: %w", source, err)
			}
			if i == 0 {
				tr, err = pub.AddTransceiverFromTrack(track,
					webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
				if err != nil {
					return fmt.Errorf("client: add %s track: %w", source, err)
				}
				sources[tr] = source
			} else if err := tr.Sender().AddEncoding(track); err != nil {
				return fmt.Errorf("client: add %s encoding %s: %w", source, e.rid, err)
			}
			fc := identity.CodecVP8
			if kind == KindAudio {
				fc = identity.CodecOpus
			}
			pubs = append(pubs, &publisher{c: c, kind: kind, source: source, rid: e.rid, clip: cl,
				track: track, sender: tr.Sender(), tr: tr, payloader: payloader, clockRate: codec.ClockRate, codec: fc})
		}
		return nil
	}

	p := c.cfg.Publish
	if p.Audio {
		if err := addTrack(KindAudio, signal.SourceMic, []encodingSpec{{sample: sampleAudio}}); err != nil {
			return err
		}
	}
	if p.Video {
		encs := []encodingSpec{{sample: sampleMedium}}
		if p.Simulcast {
			encs = []encodingSpec{
				{rid: signal.RIDLow, sample: sampleLow},
				{rid: signal.RIDMedium, sample: sampleMedium},
				{rid: signal.RIDHigh, sample: sampleHigh},
			}
		}
		if err := addTrack(KindVideo, signal.SourceCamera, encs); err != nil {
			return err
		}
	}
	if p.Screen {
		if err := addTrack(KindVideo, signal.SourceScreen, []encodingSpec{{sample: sampleMedium}}); err != nil {
			return err
		}
	}
	c.pubs = pubs

	offer, err := pub.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("client: create pub offer: %w", err)
	}
	if err := pub.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("client: set pub offer: %w", err)
	}
	tracks := map[string]signal.Track{}
	for tr, source := range sources {
		tracks[tr.Mid()] = signal.Track{Source: source}
	}
	for _, pb := range pubs {
		c.goroutine(pb.readRTCP)
		c.goroutine(pb.run)
	}
	return c.pub.sendDescription(&signal.Message{Type: signal.TypeOffer, PC: signal.PCPub,
		SDP: pub.LocalDescription().SDP, Tracks: tracks})
}

// readRTCP reads the node's RTCP for this encoding (which also drives pion's NACK responder)
// and turns PLI and FIR into a keyframe request.
func (pb *publisher) readRTCP() {
	for {
		var pkts []rtcp.Packet
		var err error
		if pb.rid != "" {
			pkts, _, err = pb.sender.ReadSimulcastRTCP(pb.rid)
		} else {
			pkts, _, err = pb.sender.ReadRTCP()
		}
		if err != nil {
			return
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pb.keyframeWanted.Store(true)
			}
		}
	}
}

// extensionIDs returns the negotiated ids of the header extensions the publisher writes
// (0 when not negotiated).
func (pb *publisher) extensionIDs() (mid, rid, level uint8) {
	for _, e := range pb.sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			mid = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			rid = uint8(e.ID)
		case sdp.AudioLevelURI:
			level = uint8(e.ID)
		}
	}
	return mid, rid, level
}

// run waits for the pub peer connection to connect, then sends the clip frame by frame,
// paced by the frame duration (a frame's packets spread over half of it), looping with continuous timestamps. A keyframe request
// restarts the clip at its first frame, which is a keyframe.
func (pb *publisher) run() {
	ctx := pb.c.ctx
	select {
	case <-ctx.Done():
		return
	case <-pb.c.pub.connected:
	}
	midID, ridID, levelID := pb.extensionIDs()
	mid := pb.tr.Mid()
	if pb.rid != "" && (midID == 0 || ridID == 0) {
		pb.c.report(fmt.Errorf("client: node did not accept the mid and rid header extensions; simulcast layer %q cannot be sent", pb.rid))
		return
	}
	pace := newPacer(time.Now(), pb.clip.frameDur, pb.clockRate, rand.Uint32())
	seq := uint16(rand.Uint32())
	var n uint64
	pos := 0
	var lastRestart time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	pkt := &rtp.Packet{}
	var sealed []byte
	for {
		if d := time.Until(pace.due(n)); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		if pb.kind == KindVideo && pb.keyframeWanted.Load() && time.Since(lastRestart) >= keyframeRestartGap {
			pb.keyframeWanted.Store(false)
			if pos != 0 {
				pos = 0
			}
			lastRestart = time.Now()
		}
		frame, err := pb.c.e2ee.sender.EncryptFrame(sealed[:0], pb.codec, pb.clip.frames[pos])
		if err != nil {
			// No key yet (the first arrives shortly after join): send nothing in the clear.
			n++
			pos = (pos + 1) % len(pb.clip.frames)
			continue
		}
		sealed = frame
		if hook := pb.c.cfg.OnFrameSent; hook != nil {
			hook(FrameEvent{Kind: pb.kind, Frame: pb.clip.frames[pos], Time: time.Now()})
		}
		payloads := pb.payloader.Payload(maxPayload, frame)
		ts := pace.timestamp(n)
		// Like a browser's pacer, spread a frame's packets over half the frame interval
		// instead of sending them in one burst.
		frameStart := time.Now()
		gap := pb.clip.frameDur / time.Duration(2*len(payloads))
		for i, pl := range payloads {
			if i > 0 {
				if d := time.Until(frameStart.Add(time.Duration(i) * gap)); d > 0 {
					timer.Reset(d)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				}
			}
			*pkt = rtp.Packet{Header: rtp.Header{
				Version:        2,
				Marker:         i == len(payloads)-1,
				SequenceNumber: seq,
				Timestamp:      ts,
			}, Payload: pl}
			seq++
			if midID != 0 {
				_ = pkt.Header.SetExtension(midID, []byte(mid))
			}
			if ridID != 0 && pb.rid != "" {
				_ = pkt.Header.SetExtension(ridID, []byte(pb.rid))
			}
			if levelID != 0 {
				_ = pkt.Header.SetExtension(levelID, []byte{audioLevel})
			}
			if hook := pb.c.cfg.OnPacketSent; hook != nil {
				hook(PacketEvent{Kind: pb.kind, Source: pb.source, RID: pb.rid, Payload: pl, Time: time.Now()})
			}
			if err := pb.track.WriteRTP(pkt); err != nil && ctx.Err() == nil {
				pb.c.log.Debug("write rtp", "source", pb.source, "rid", pb.rid, "err", err)
			}
		}
		n++
		pos = (pos + 1) % len(pb.clip.frames)
		if next := pace.next(time.Now()); next > n+maxLagFrames {
			n = next // fell behind: drop frames rather than burst
		}
	}
}
