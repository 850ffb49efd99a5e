package client

import (
	"errors"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"parley/identity"
)

// maxLatePackets is how many packets the frame reader waits for a missing one before it
// gives up on the frame.
const maxLatePackets = 64

// FrameEvent is one received media frame after end-to-end decryption.
type FrameEvent struct {
	Kind        string // KindAudio or KindVideo
	TrackID     string // the remote track id from the node's offer
	Participant string // the sender named by the frame's KID
	KID         uint64 // the key the frame was encrypted with
	Frame       []byte // the decrypted encoded frame; valid only during the call
	Sealed      []byte // the frame as it arrived, encrypted; valid only during the call
	Time        time.Time
}

// frameReader puts one remote track's packets together into frames and decrypts them.
type frameReader struct {
	c     *Client
	tc    *trackCounter
	codec identity.Codec
	sb    *samplebuilder.SampleBuilder
	out   []byte
}

func newFrameReader(c *Client, tc *trackCounter, mime string) *frameReader {
	var dep rtp.Depacketizer
	var codec identity.Codec
	var rate uint32
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		dep, codec, rate = &codecs.OpusPacket{}, identity.CodecOpus, 48000
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		dep, codec, rate = &codecs.VP8Packet{}, identity.CodecVP8, 90000
	default:
		return &frameReader{c: c, tc: tc} // not a codec the client decrypts; packets are still counted
	}
	return &frameReader{c: c, tc: tc, codec: codec, sb: samplebuilder.New(maxLatePackets, dep, rate)}
}

// push takes one packet (copied: the caller reuses it) and handles the frames it completes.
func (f *frameReader) push(pkt *rtp.Packet) {
	if f.sb == nil {
		return
	}
	cp := &rtp.Packet{Header: pkt.Header.Clone(), Payload: append([]byte(nil), pkt.Payload...)}
	f.sb.Push(cp)
	for s := f.sb.Pop(); s != nil; s = f.sb.Pop() {
		f.frame(s.Data)
	}
}

// frame decrypts one frame and counts the outcome.
func (f *frameReader) frame(data []byte) {
	e := f.c.e2ee
	out, kid, err := e.recv.DecryptFrame(f.out[:0], f.codec, data)
	if err != nil {
		f.tc.undecryptable(errors.Is(err, identity.ErrUnknownKID))
		return
	}
	f.out = out
	f.tc.decrypted()
	if hook := f.c.cfg.OnFrameReceived; hook != nil {
		hook(FrameEvent{Kind: f.tc.kind(), TrackID: f.tc.id(), Participant: e.senderOf(kid), KID: kid,
			Frame: out, Sealed: data, Time: time.Now()})
	}
}
