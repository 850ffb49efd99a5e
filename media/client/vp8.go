package client

import "errors"

var errShortVP8 = errors.New("vp8 payload too short")

// vp8Descriptor is the part of an RTP VP8 payload descriptor (RFC 7741 §4.2) the client needs.
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |X|R|N|S|R| PID | (REQUIRED)  S: start of a partition, PID: partition index
//	     +-+-+-+-+-+-+-+-+
//	X:   |I|L|T|K| RSV   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PictureID   | (OPTIONAL)  M: PictureID is 15 bits (one more byte)
//	     +-+-+-+-+-+-+-+-+
//	M:   | PictureID     | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	L:   |   TL0PICIDX   | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//	T/K: |TID|Y| KEYIDX  | (OPTIONAL)
//	     +-+-+-+-+-+-+-+-+
//
// The VP8 payload follows. The first packet of a frame (S=1, PID=0) starts with the frame
// header (RFC 6386 §9.1): a 3-byte frame tag whose lowest bit is 0 for a keyframe, then for
// keyframes the start code 9d 01 2a and 14-bit width and height (little-endian, top 2 bits scale).
type vp8Descriptor struct {
	size       int  // bytes of descriptor before the VP8 payload
	frameStart bool // S=1 and PID=0: the payload starts a frame
}

func parseVP8Descriptor(p []byte) (vp8Descriptor, error) {
	if len(p) < 1 {
		return vp8Descriptor{}, errShortVP8
	}
	d := vp8Descriptor{size: 1, frameStart: p[0]&0x10 != 0 && p[0]&0x07 == 0}
	if p[0]&0x80 != 0 { // X
		if len(p) < 2 {
			return vp8Descriptor{}, errShortVP8
		}
		x := p[1]
		d.size = 2
		if x&0x80 != 0 { // I
			if len(p) < d.size+1 {
				return vp8Descriptor{}, errShortVP8
			}
			if p[d.size]&0x80 != 0 { // M
				d.size += 2
			} else {
				d.size++
			}
		}
		if x&0x40 != 0 { // L
			d.size++
		}
		if x&0x30 != 0 { // T or K
			d.size++
		}
	}
	if len(p) < d.size {
		return vp8Descriptor{}, errShortVP8
	}
	return d, nil
}

// vp8FrameInfo reads a VP8 frame header: whether the frame is a keyframe and, if so, its size.
func vp8FrameInfo(frame []byte) (key bool, width, height int) {
	if len(frame) < 3 || frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return true, 0, 0
	}
	width = int(frame[6]) | int(frame[7]&0x3f)<<8
	height = int(frame[8]) | int(frame[9]&0x3f)<<8
	return true, width, height
}

// PayloadBody returns the part of an RTP payload that identifies it end to end: for VP8 the
// payload after the RFC 7741 descriptor (which an SFU may rewrite when it switches layers), for
// other codecs the whole payload. It returns nil if a VP8 descriptor is malformed.
func PayloadBody(kind string, payload []byte) []byte {
	if kind != KindVideo {
		return payload
	}
	d, err := parseVP8Descriptor(payload)
	if err != nil {
		return nil
	}
	return payload[d.size:]
}
