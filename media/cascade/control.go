package cascade

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The control stream is the first bidirectional QUIC stream, opened by the dialer. It carries
// a sequence of frames in each direction; the first frame each side sends is a hello.
//
//	 0                   1                   2
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3
//	+---------------+-------------------------------+------ ... ------+
//	|     type      |       body length (BE)        |      body       |
//	+---------------+-------------------------------+------ ... ------+
//
// The body is at most maxControlBody bytes and must have exactly the length its type
// defines; integers are big-endian; a string is a one-byte length followed by its bytes.
// Bodies of wire version 1 (n = subscription number, 1..65535, chosen by the subscriber):
//
//	1 hello        version:u16 features:u32
//	2 subscribe    n:u16 layers:u8 room:str track:str
//	3 subscribed   n:u16 kind:u8 layers:u8 clock:u32 channels:u8 mime:str
//	4 end          n:u16 code:u8 reason:str
//	5 unsubscribe  n:u16
//	6 layers       n:u16 layers:u8
//	7 keyframe     n:u16 layer:u8
//	8 nack         n:u16 layer:u8 count:u8 seq:u16 * count
//	9 stats        rx_datagrams:u64 rx_lost:u64 rx_bytes:u64 tx_dropped:u64
//
// hello: the sender's wire version and the optional features it supports (none are defined
// in version 1; unknown bits are ignored). subscribe (downstream to upstream): send the
// layers (a LayerSet, possibly empty) of track in room under number n. subscribed (upstream):
// the subscription is accepted; the track's TrackInfo. end (either way): the subscription is
// refused or over; code says why. unsubscribe (downstream): stop sending n. layers
// (downstream): send these layers of n from now on. keyframe (downstream): the subscriber
// needs a keyframe on layer. nack (downstream): resend these RTP sequence numbers of layer
// (1..maxNackSeqs of them). stats (either way, every stats interval): what the sender has
// received of the other direction on this connection, and how many datagrams it dropped
// before sending, all counted since the connection began.
//
// Room and track ids are 1..maxIDLen printable ASCII bytes (0x21-0x7e); a mime type likewise
// (1..maxMimeLen); a reason is valid UTF-8 without control characters, at most maxReasonLen
// bytes.
const (
	controlHeaderLen = 3
	maxControlBody   = 512
	maxIDLen         = 128
	maxMimeLen       = 64
	maxReasonLen     = 200
	maxNackSeqs      = 64
)

// msgType is a control frame type.
type msgType uint8

const (
	msgHello       msgType = 1
	msgSubscribe   msgType = 2
	msgSubscribed  msgType = 3
	msgEnd         msgType = 4
	msgUnsubscribe msgType = 5
	msgLayers      msgType = 6
	msgKeyframe    msgType = 7
	msgNack        msgType = 8
	msgStats       msgType = 9
)

func (t msgType) String() string {
	names := [...]string{"", "hello", "subscribe", "subscribed", "end", "unsubscribe", "layers", "keyframe", "nack", "stats"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("type%d", uint8(t))
}

// endCode says why a subscription ended or was refused.
type endCode uint8

const (
	endRoomNotShared endCode = 1 // the subscriber's node takes no part in the room
	endNoTrack       endCode = 2 // no such track in the room
	endTrackEnded    endCode = 3 // the track was unpublished
	endLimit         endCode = 4 // too many subscriptions on the link
	endDuplicate     endCode = 5 // the track is already subscribed under another number
	maxEndCode               = endDuplicate
)

// err maps an end code to the sentinel error a caller tests with errors.Is.
func (c endCode) err() error {
	switch c {
	case endRoomNotShared:
		return ErrRoomNotShared
	case endNoTrack:
		return ErrNoTrack
	case endTrackEnded:
		return ErrTrackEnded
	case endLimit:
		return ErrLimit
	case endDuplicate:
		return ErrDuplicate
	}
	return ErrTrackEnded
}

// wireStats is the body of a stats message.
type wireStats struct {
	rxDatagrams, rxLost, rxBytes, txDropped uint64
}

// message is one decoded control frame; which fields are meaningful depends on typ.
type message struct {
	typ      msgType
	num      uint16
	version  uint16   // hello
	features uint32   // hello
	layers   LayerSet // subscribe, layers
	layer    uint8    // keyframe, nack
	room     string   // subscribe
	track    string   // subscribe
	info     TrackInfo
	code     endCode  // end
	reason   string   // end
	seqs     []uint16 // nack
	stats    wireStats
}

// errBadControl is wrapped by every control decoding and encoding error.
var errBadControl = errors.New("bad cascade control message")

func badControl(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadControl, fmt.Sprintf(format, args...))
}

// appendMessage appends m as one frame. It refuses a message the decoder would refuse.
func appendMessage(dst []byte, m *message) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, byte(m.typ), 0, 0)
	switch m.typ {
	case msgHello:
		dst = binary.BigEndian.AppendUint16(dst, m.version)
		dst = binary.BigEndian.AppendUint32(dst, m.features)
	case msgSubscribe:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, byte(m.layers))
		dst = appendString(dst, m.room)
		dst = appendString(dst, m.track)
	case msgSubscribed:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, byte(m.info.Kind), byte(m.info.Layers))
		dst = binary.BigEndian.AppendUint32(dst, m.info.ClockRate)
		dst = append(dst, m.info.Channels)
		dst = appendString(dst, m.info.MimeType)
	case msgEnd:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, byte(m.code))
		dst = appendString(dst, m.reason)
	case msgUnsubscribe:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
	case msgLayers:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, byte(m.layers))
	case msgKeyframe:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, m.layer)
	case msgNack:
		dst = binary.BigEndian.AppendUint16(dst, m.num)
		dst = append(dst, m.layer, byte(len(m.seqs)))
		for _, s := range m.seqs {
			dst = binary.BigEndian.AppendUint16(dst, s)
		}
	case msgStats:
		dst = binary.BigEndian.AppendUint64(dst, m.stats.rxDatagrams)
		dst = binary.BigEndian.AppendUint64(dst, m.stats.rxLost)
		dst = binary.BigEndian.AppendUint64(dst, m.stats.rxBytes)
		dst = binary.BigEndian.AppendUint64(dst, m.stats.txDropped)
	}
	binary.BigEndian.PutUint16(dst[start+1:], uint16(len(dst)-start-controlHeaderLen))
	return dst, nil
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

// check applies the decoder's rules to a message about to be encoded.
func (m *message) check() error {
	switch m.typ {
	case msgHello, msgStats:
		return nil
	case msgSubscribe, msgSubscribed, msgEnd, msgUnsubscribe, msgLayers, msgKeyframe, msgNack:
		if m.num == 0 {
			return badControl("%s: subscription number 0", m.typ)
		}
	default:
		return badControl("unknown type %d", uint8(m.typ))
	}
	switch m.typ {
	case msgSubscribe:
		if !m.layers.valid() {
			return badControl("subscribe: layers %#x", uint8(m.layers))
		}
		if err := checkID("room", m.room, maxIDLen); err != nil {
			return err
		}
		return checkID("track", m.track, maxIDLen)
	case msgSubscribed:
		if m.info.Kind != KindAudio && m.info.Kind != KindVideo {
			return badControl("subscribed: kind %d", m.info.Kind)
		}
		if !m.info.Layers.valid() {
			return badControl("subscribed: layers %#x", uint8(m.info.Layers))
		}
		if m.info.ClockRate == 0 {
			return badControl("subscribed: clock rate 0")
		}
		return checkID("mime type", m.info.MimeType, maxMimeLen)
	case msgEnd:
		if m.code == 0 || m.code > maxEndCode {
			return badControl("end: code %d", m.code)
		}
		return checkReason(m.reason)
	case msgLayers:
		if !m.layers.valid() {
			return badControl("layers: %#x", uint8(m.layers))
		}
	case msgKeyframe:
		if m.layer >= MaxLayers {
			return badControl("keyframe: layer %d", m.layer)
		}
	case msgNack:
		if m.layer >= MaxLayers {
			return badControl("nack: layer %d", m.layer)
		}
		if len(m.seqs) == 0 || len(m.seqs) > maxNackSeqs {
			return badControl("nack: %d sequence numbers", len(m.seqs))
		}
	}
	return nil
}

func checkID(what, s string, max int) error {
	if len(s) == 0 || len(s) > max {
		return badControl("%s is %d bytes, want 1 to %d", what, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return badControl("%s has byte %#x at %d", what, s[i], i)
		}
	}
	return nil
}

func checkReason(s string) error {
	if len(s) > maxReasonLen {
		return badControl("reason is %d bytes, want at most %d", len(s), maxReasonLen)
	}
	if !utf8.ValidString(s) {
		return badControl("reason is not UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return badControl("reason has control character %U", r)
		}
	}
	return nil
}

// decodeMessage decodes the frame at the start of b and returns it and the bytes it took.
func decodeMessage(b []byte) (message, int, error) {
	if len(b) < controlHeaderLen {
		return message{}, 0, badControl("frame of %d bytes", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	if n > maxControlBody {
		return message{}, 0, badControl("body of %d bytes, limit %d", n, maxControlBody)
	}
	if len(b) < controlHeaderLen+n {
		return message{}, 0, badControl("body of %d bytes, %d present", n, len(b)-controlHeaderLen)
	}
	m, err := parseBody(msgType(b[0]), b[controlHeaderLen:controlHeaderLen+n])
	return m, controlHeaderLen + n, err
}

// readMessage reads one frame from r into buf and decodes it. A clean end of stream before
// a frame begins is io.EOF.
func readMessage(r io.Reader, buf *[controlHeaderLen + maxControlBody]byte) (message, error) {
	if _, err := io.ReadFull(r, buf[:controlHeaderLen]); err != nil {
		return message{}, err
	}
	n := int(binary.BigEndian.Uint16(buf[1:]))
	if n > maxControlBody {
		return message{}, badControl("%s body of %d bytes, limit %d", msgType(buf[0]), n, maxControlBody)
	}
	body := buf[controlHeaderLen : controlHeaderLen+n]
	if _, err := io.ReadFull(r, body); err != nil {
		return message{}, fmt.Errorf("read %s body: %w", msgType(buf[0]), err)
	}
	return parseBody(msgType(buf[0]), body)
}

// parseBody decodes the body of a frame of type t. It must use all of body.
func parseBody(t msgType, body []byte) (message, error) {
	d := decoder{b: body}
	m := message{typ: t}
	switch t {
	case msgHello:
		m.version = d.u16()
		m.features = d.u32()
	case msgSubscribe:
		m.num = d.u16()
		m.layers = LayerSet(d.u8())
		m.room = d.str()
		m.track = d.str()
	case msgSubscribed:
		m.num = d.u16()
		m.info.Kind = Kind(d.u8())
		m.info.Layers = LayerSet(d.u8())
		m.info.ClockRate = d.u32()
		m.info.Channels = d.u8()
		m.info.MimeType = d.str()
	case msgEnd:
		m.num = d.u16()
		m.code = endCode(d.u8())
		m.reason = d.str()
	case msgUnsubscribe:
		m.num = d.u16()
	case msgLayers:
		m.num = d.u16()
		m.layers = LayerSet(d.u8())
	case msgKeyframe:
		m.num = d.u16()
		m.layer = d.u8()
	case msgNack:
		m.num = d.u16()
		m.layer = d.u8()
		count := int(d.u8())
		if count > maxNackSeqs || d.left() != 2*count {
			return message{}, badControl("nack: count %d with %d bytes left", count, d.left())
		}
		m.seqs = make([]uint16, count)
		for i := range m.seqs {
			m.seqs[i] = d.u16()
		}
	case msgStats:
		m.stats.rxDatagrams = d.u64()
		m.stats.rxLost = d.u64()
		m.stats.rxBytes = d.u64()
		m.stats.txDropped = d.u64()
	default:
		return message{}, badControl("unknown type %d", uint8(t))
	}
	if d.short {
		return message{}, badControl("%s body of %d bytes is too short", t, len(body))
	}
	if d.left() != 0 {
		return message{}, badControl("%s body has %d bytes after its end", t, d.left())
	}
	if err := m.check(); err != nil {
		return message{}, err
	}
	return m, nil
}

// decoder reads big-endian fields; reading past the end sets short and yields zeros.
type decoder struct {
	b     []byte
	short bool
}

func (d *decoder) left() int { return len(d.b) }

func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.short = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str() string {
	n := int(d.u8())
	return string(d.take(n))
}
