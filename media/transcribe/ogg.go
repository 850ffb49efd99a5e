package transcribe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// An Ogg Opus file (RFC 3533, RFC 7845) is a run of pages:
//
//	"OggS" version:u8 flags:u8 granule:i64 serial:u32 sequence:u32 crc:u32
//	segments:u8 lacing:[segments]u8 payload
//
// A packet is the concatenation of lacing values up to and including one below 255; a
// packet can continue on the next page. The first packet is "OpusHead" (version, channels,
// pre-skip:u16 at 48 kHz, …), the second "OpusTags", the rest are Opus audio.

// ErrNotOgg: the input is not an Ogg Opus file.
var ErrNotOgg = errors.New("not an Ogg Opus file")

// maxOggPackets bounds the packets read from one file: 9 hours of 20 ms packets.
const maxOggPackets = 9 * 3600 * 50

// OggPackets reads an Ogg Opus file's audio packets and its pre-skip (in 48 kHz samples).
// Only the first logical stream is read.
func OggPackets(r io.Reader) (packets [][]byte, preSkip int, err error) {
	var serial uint32
	var cur []byte
	var all [][]byte
	first := true
	for {
		var hdr [27]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) && !first {
				break
			}
			return nil, 0, fmt.Errorf("%w: %v", ErrNotOgg, err)
		}
		if string(hdr[0:4]) != "OggS" || hdr[4] != 0 {
			return nil, 0, fmt.Errorf("%w: no page header", ErrNotOgg)
		}
		s := binary.LittleEndian.Uint32(hdr[14:18])
		if first {
			serial, first = s, false
		}
		lacing := make([]byte, hdr[26])
		if _, err := io.ReadFull(r, lacing); err != nil {
			return nil, 0, fmt.Errorf("%w: short page", ErrNotOgg)
		}
		size := 0
		for _, l := range lacing {
			size += int(l)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, 0, fmt.Errorf("%w: short page", ErrNotOgg)
		}
		if s != serial {
			continue // another logical stream
		}
		off := 0
		for _, l := range lacing {
			cur = append(cur, payload[off:off+int(l)]...)
			off += int(l)
			if l < 255 {
				all = append(all, cur)
				cur = nil
				if len(all) > maxOggPackets+2 {
					return nil, 0, fmt.Errorf("%w: over %d packets", ErrNotOgg, maxOggPackets)
				}
			}
		}
	}
	if len(all) < 2 || len(all[0]) < 19 || string(all[0][:8]) != "OpusHead" {
		return nil, 0, fmt.Errorf("%w: no OpusHead", ErrNotOgg)
	}
	if all[0][9] != 1 && all[0][9] != 2 {
		return nil, 0, fmt.Errorf("%w: %d channels (mono or stereo only)", ErrNotOgg, all[0][9])
	}
	return all[2:], int(binary.LittleEndian.Uint16(all[0][10:12])), nil
}

// ReadOggOpus reads an Ogg Opus file and decodes it to SampleRate mono (ErrNoOpus in a
// binary built without libopus).
func ReadOggOpus(r io.Reader) ([]int16, error) {
	packets, preSkip, err := OggPackets(r)
	if err != nil {
		return nil, err
	}
	dec, err := NewOpusDecoder()
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var out []int16
	for _, p := range packets {
		pcm, err := dec.Decode(p)
		if err != nil {
			return nil, err
		}
		out = append(out, pcm...)
	}
	skip := min(preSkip*SampleRate/48000, len(out))
	return out[skip:], nil
}
