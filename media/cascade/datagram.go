package cascade

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Every media datagram starts with this 8-byte header, followed by one RTP packet exactly as
// the publishing node received it:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-------+-----+-+---------------+-------------------------------+
//	|  V=1  |  0  |R|     layer     |      subscription number      |
//	+-------+-----+-+---------------+-------------------------------+
//	|                     link sequence number                      |
//	+---------------------------------------------------------------+
//	|          RTP packet (12..MaxRTPSize bytes, untouched)         |
//	|                              ...                              |
//	+---------------------------------------------------------------+
//
//	V       datagram format version (4 bits); a datagram of another version is dropped.
//	0       reserved (3 bits), zero.
//	R       1 if this is a retransmission answering a NACK.
//	layer   simulcast layer, 0 (lowest) to MaxLayers-1.
//	number  the subscription number the downstream node chose in its subscribe message
//	        (never 0). Numbers are scoped to the direction and to the QUIC connection.
//	seq     counts the datagrams sent in this direction on this connection, from 0; the
//	        receiver measures link loss from its gaps. It wraps at 2^32.
//
// The RTP packet must carry RTP version 2; the cascade reads nothing else of it but the
// sequence number (bytes 2-3), for loss repair.
const (
	datagramVersion   = 1
	datagramHeaderLen = 8
	rtpHeaderLen      = 12

	// MaxRTPSize is the largest RTP packet a link carries. Whether a packet that large fits a
	// QUIC datagram depends on the path MTU: every path carries 1200 bytes.
	MaxRTPSize      = 1492
	maxDatagramSize = datagramHeaderLen + MaxRTPSize

	flagRetransmit = 0x01
)

// errBadDatagram is wrapped by every datagram decoding error.
var errBadDatagram = errors.New("bad cascade datagram")

// datagramHeader is the decoded form of the header above.
type datagramHeader struct {
	retransmit bool
	layer      uint8
	num        uint16
	seq        uint32
}

// putDatagramHeader writes h into the first datagramHeaderLen bytes of b.
func putDatagramHeader(b []byte, h datagramHeader) {
	b[0] = datagramVersion << 4
	if h.retransmit {
		b[0] |= flagRetransmit
	}
	b[1] = h.layer
	binary.BigEndian.PutUint16(b[2:], h.num)
	binary.BigEndian.PutUint32(b[4:], h.seq)
}

// parseDatagram checks a received datagram and returns its header and RTP packet (a
// sub-slice of b).
func parseDatagram(b []byte) (datagramHeader, []byte, error) {
	if len(b) < datagramHeaderLen+rtpHeaderLen {
		return datagramHeader{}, nil, fmt.Errorf("%w: %d bytes is too short", errBadDatagram, len(b))
	}
	if len(b) > maxDatagramSize {
		return datagramHeader{}, nil, fmt.Errorf("%w: %d bytes is too long", errBadDatagram, len(b))
	}
	if v := b[0] >> 4; v != datagramVersion {
		return datagramHeader{}, nil, fmt.Errorf("%w: version %d, want %d", errBadDatagram, v, datagramVersion)
	}
	if b[0]&0x0f&^flagRetransmit != 0 {
		return datagramHeader{}, nil, fmt.Errorf("%w: reserved flags %#x set", errBadDatagram, b[0]&0x0f)
	}
	h := datagramHeader{
		retransmit: b[0]&flagRetransmit != 0,
		layer:      b[1],
		num:        binary.BigEndian.Uint16(b[2:]),
		seq:        binary.BigEndian.Uint32(b[4:]),
	}
	if h.layer >= MaxLayers {
		return datagramHeader{}, nil, fmt.Errorf("%w: layer %d", errBadDatagram, h.layer)
	}
	if h.num == 0 {
		return datagramHeader{}, nil, fmt.Errorf("%w: subscription number 0", errBadDatagram)
	}
	rtp := b[datagramHeaderLen:]
	if rtp[0]>>6 != 2 {
		return datagramHeader{}, nil, fmt.Errorf("%w: RTP version %d", errBadDatagram, rtp[0]>>6)
	}
	return h, rtp, nil
}

// rtpSeq is the sequence number of an RTP packet already checked by parseDatagram or
// checkRTP.
func rtpSeq(rtp []byte) uint16 { return binary.BigEndian.Uint16(rtp[2:]) }

// checkRTP reports whether pkt can be sent as the RTP packet of a datagram.
func checkRTP(pkt []byte) bool {
	return len(pkt) >= rtpHeaderLen && len(pkt) <= MaxRTPSize && pkt[0]>>6 == 2
}
