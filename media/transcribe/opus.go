//go:build libopus

package transcribe

/*
#cgo pkg-config: opus
#include <opus.h>

// opus_encoder_ctl is variadic, which cgo cannot call.
static int parley_opus_bitrate(OpusEncoder *e, opus_int32 bps) { return opus_encoder_ctl(e, OPUS_SET_BITRATE(bps)); }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Opus through libopus (Debian's libopus-dev), behind the libopus build tag: the agent
// decodes each speaker's microphone (Opus at 48 kHz from the browser) straight to the
// engines' SampleRate, mono; tests encode speech for a Go participant to publish.

// HasOpus reports whether this binary decodes Opus.
const HasOpus = true

// maxOpusFrame is the longest frame Opus codes: 120 ms at SampleRate.
const maxOpusFrame = SampleRate * 120 / 1000

// OpusDecoder decodes one Opus stream to SampleRate mono. It is used by one goroutine.
type OpusDecoder struct {
	d   *C.OpusDecoder
	out []int16
}

// NewOpusDecoder makes a decoder; Close frees it.
func NewOpusDecoder() (*OpusDecoder, error) {
	var e C.int
	d := C.opus_decoder_create(SampleRate, 1, &e)
	if e != C.OPUS_OK || d == nil {
		return nil, fmt.Errorf("opus: create a decoder: error %d", int(e))
	}
	return &OpusDecoder{d: d, out: make([]int16, maxOpusFrame)}, nil
}

// Decode decodes one packet; a nil packet conceals a lost one of 20 ms. The samples are
// valid until the next call.
func (o *OpusDecoder) Decode(packet []byte) ([]int16, error) {
	if o.d == nil {
		return nil, errors.New("opus: decoder closed")
	}
	var p *C.uchar
	frame := len(o.out)
	if len(packet) > 0 {
		p = (*C.uchar)(unsafe.Pointer(&packet[0]))
	} else {
		frame = SampleRate / 50
	}
	n := C.opus_decode(o.d, p, C.opus_int32(len(packet)), (*C.opus_int16)(unsafe.Pointer(&o.out[0])), C.int(frame), 0)
	if n < 0 {
		return nil, fmt.Errorf("opus: decode: error %d", int(n))
	}
	return o.out[:n], nil
}

// Close frees the decoder.
func (o *OpusDecoder) Close() {
	if o.d != nil {
		C.opus_decoder_destroy(o.d)
		o.d = nil
	}
}

// OpusEncoder encodes 48 kHz mono speech in 20 ms frames, as a browser's microphone does.
type OpusEncoder struct {
	e   *C.OpusEncoder
	buf []byte
}

// OpusFrame is the samples of one 20 ms frame at 48 kHz.
const OpusFrame = 960

// NewOpusEncoder makes a VoIP encoder at bitrate bits per second.
func NewOpusEncoder(bitrate int) (*OpusEncoder, error) {
	var e C.int
	enc := C.opus_encoder_create(48000, 1, C.OPUS_APPLICATION_VOIP, &e)
	if e != C.OPUS_OK || enc == nil {
		return nil, fmt.Errorf("opus: create an encoder: error %d", int(e))
	}
	if r := C.parley_opus_bitrate(enc, C.opus_int32(bitrate)); r != C.OPUS_OK {
		C.opus_encoder_destroy(enc)
		return nil, fmt.Errorf("opus: bitrate %d: error %d", bitrate, int(r))
	}
	return &OpusEncoder{e: enc, buf: make([]byte, 1500)}, nil
}

// Encode encodes one frame of OpusFrame samples and returns a new packet.
func (o *OpusEncoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) != OpusFrame {
		return nil, fmt.Errorf("opus: a frame is %d samples, not %d", OpusFrame, len(pcm))
	}
	n := C.opus_encode(o.e, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), OpusFrame, (*C.uchar)(unsafe.Pointer(&o.buf[0])), C.opus_int32(len(o.buf)))
	if n < 0 {
		return nil, fmt.Errorf("opus: encode: error %d", int(n))
	}
	return append([]byte(nil), o.buf[:n]...), nil
}

// Close frees the encoder.
func (o *OpusEncoder) Close() {
	if o.e != nil {
		C.opus_encoder_destroy(o.e)
		o.e = nil
	}
}
