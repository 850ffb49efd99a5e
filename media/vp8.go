package media

import "errors"

// rtpPacket is what the forwarding path needs from one received RTP packet. It points into
// the receive buffer; nothing is copied.
type rtpPacket struct {
	seq     uint16
	ts      uint32
	ssrc    uint32
	marker  bool
	payload []byte // without header, extensions and padding
	// audioLevel is the ssrc-audio-level value (0 loudest .. 127 silence), or -1 if absent.
	audioLevel int
	// video only: the VP8 payload descriptor.
	vp8 vp8Desc
}

var errShortRTP = errors.New("rtp packet too short")

// parseRTP reads an RTP header (RFC 3550) without allocating. levelID is the negotiated id
// of the audio level one-byte header extension (RFC 6464), or 0.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           timestamp                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             SSRC                              |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//	|                  CSRC list (CC * 32 bits)                     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   0xBEDE or 0x100x (profile)  |    length (32-bit words)      |  if X
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        extensions ...                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  payload ...  [padding, count in last byte]   |
func parseRTP(b []byte, p *rtpPacket, levelID uint8) error {
	if len(b) < 12 || b[0]>>6 != 2 {
		return errShortRTP
	}
	p.marker = b[1]&0x80 != 0
	p.seq = uint16(b[2])<<8 | uint16(b[3])
	p.ts = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	p.ssrc = uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	p.audioLevel = -1
	off := 12 + 4*int(b[0]&0x0f)
	if len(b) < off {
		return errShortRTP
	}
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return errShortRTP
		}
		profile := uint16(b[off])<<8 | uint16(b[off+1])
		extLen := 4 * (int(b[off+2])<<8 | int(b[off+3]))
		ext := off + 4
		off = ext + extLen
		if len(b) < off {
			return errShortRTP
		}
		if profile == 0xBEDE && levelID != 0 {
			p.audioLevel = findAudioLevel(b[ext:off], levelID)
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return errShortRTP
		}
		end -= pad
	}
	p.payload = b[off:end]
	return nil
}

// findAudioLevel walks RFC 8285 one-byte extension elements:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  ID   |  len  |V|    level    |   (len = bytes - 1)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func findAudioLevel(ext []byte, id uint8) int {
	for i := 0; i < len(ext); {
		if ext[i] == 0 { // padding
			i++
			continue
		}
		eid, l := ext[i]>>4, int(ext[i]&0x0f)+1
		if eid == 15 {
			return -1
		}
		if eid == id && i+1 < len(ext) {
			return int(ext[i+1] & 0x7f)
		}
		i += 1 + l
	}
	return -1
}

// vp8Desc is what the SFU reads from a VP8 payload descriptor (RFC 7741 section 4.2):
//
//	      0 1 2 3 4 5 6 7
//	     +-+-+-+-+-+-+-+-+
//	     |X|R|N|S|R| PID | (required)
//	     +-+-+-+-+-+-+-+-+
//	X:   |I|L|T|K| RSV   | (optional)
//	     +-+-+-+-+-+-+-+-+
//	I:   |M| PictureID   | (optional, 7 or 15 bits)
//	     +-+-+-+-+-+-+-+-+
//	M:   |   PictureID   |
//	     +-+-+-+-+-+-+-+-+
//	L:   |   TL0PICIDX   | (optional)
//	     +-+-+-+-+-+-+-+-+
//	T/K: |TID|Y| KEYIDX  | (optional)
//	     +-+-+-+-+-+-+-+-+
//
// followed, at the start of a frame (S=1, PID=0), by the VP8 payload header whose first
// byte's lowest bit P is 0 on a keyframe (RFC 6386 section 9.1).
type vp8Desc struct {
	keyframe   bool  // first packet of a keyframe
	pidOff     uint8 // offset of the picture id in the payload, 0 if none
	pid15      bool  // picture id is 15 bits
	tl0Off     uint8 // offset of TL0PICIDX, 0 if none
	pid        uint16
	tl0        uint8
	descLength uint8
}

var errBadVP8 = errors.New("bad vp8 payload descriptor")

// parseVP8 parses a VP8 payload descriptor and detects keyframes.
func parseVP8(b []byte, d *vp8Desc) error {
	*d = vp8Desc{}
	if len(b) < 1 {
		return errBadVP8
	}
	i := 1
	if b[0]&0x80 != 0 { // X
		if len(b) < 2 {
			return errBadVP8
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(b) <= i {
				return errBadVP8
			}
			d.pidOff = uint8(i)
			if b[i]&0x80 != 0 {
				if len(b) <= i+1 {
					return errBadVP8
				}
				d.pid15 = true
				d.pid = uint16(b[i]&0x7f)<<8 | uint16(b[i+1])
				i += 2
			} else {
				d.pid = uint16(b[i] & 0x7f)
				i++
			}
		}
		if x&0x40 != 0 { // L
			if len(b) <= i {
				return errBadVP8
			}
			d.tl0Off = uint8(i)
			d.tl0 = b[i]
			i++
		}
		if x&0x30 != 0 { // T or K
			i++
		}
	}
	if len(b) <= i {
		return errBadVP8
	}
	d.descLength = uint8(i)
	start := b[0]&0x10 != 0 && b[0]&0x07 == 0
	d.keyframe = start && b[i]&0x01 == 0
	return nil
}

// rewriteVP8 copies payload into dst with the picture id and TL0PICIDX moved back by the
// given offsets, so that a subscriber sees them continue across a simulcast switch.
func rewriteVP8(dst, payload []byte, d *vp8Desc, pidDelta uint16, tl0Delta uint8) []byte {
	n := copy(dst, payload)
	out := dst[:n]
	if d.pidOff != 0 {
		pid := d.pid - pidDelta
		if d.pid15 {
			out[d.pidOff] = 0x80 | byte(pid>>8)&0x7f
			out[d.pidOff+1] = byte(pid)
		} else {
			out[d.pidOff] = byte(pid) & 0x7f
		}
	}
	if d.tl0Off != 0 {
		out[d.tl0Off] = d.tl0 - tl0Delta
	}
	return out
}
