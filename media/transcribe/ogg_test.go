package transcribe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// oggFile builds an Ogg stream of packets, at most perPage to a page (the packet lacing as
// RFC 3533 lays it out; checksums are left zero: this reader does not check them).
func oggFile(packets [][]byte, perPage int) []byte {
	var out bytes.Buffer
	for seq := 0; len(packets) > 0; seq++ {
		n := min(perPage, len(packets))
		var lacing, payload []byte
		for _, p := range packets[:n] {
			for l := len(p); ; l -= 255 {
				if l < 255 {
					lacing = append(lacing, byte(l))
					break
				}
				lacing = append(lacing, 255)
			}
			payload = append(payload, p...)
		}
		packets = packets[n:]
		hdr := make([]byte, 27)
		copy(hdr, "OggS")
		binary.LittleEndian.PutUint32(hdr[14:], 0x1234)
		binary.LittleEndian.PutUint32(hdr[18:], uint32(seq))
		hdr[26] = byte(len(lacing))
		out.Write(hdr)
		out.Write(lacing)
		out.Write(payload)
	}
	return out.Bytes()
}

func opusHead(preSkip int) []byte {
	h := []byte("OpusHead\x01\x01\x00\x00\x80\xbb\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint16(h[10:], uint16(preSkip))
	return h
}

// TestOggPackets: packets come back whole, across 255-byte lacing and several to a page.
func TestOggPackets(t *testing.T) {
	audio := [][]byte{bytes.Repeat([]byte{1}, 300), {2, 3}, bytes.Repeat([]byte{4}, 255), {5}}
	file := oggFile(append([][]byte{opusHead(312), []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")}, audio...), 3)
	got, skip, err := OggPackets(bytes.NewReader(file))
	if err != nil || skip != 312 || len(got) != len(audio) {
		t.Fatalf("%d packets, pre-skip %d, %v", len(got), skip, err)
	}
	for i := range audio {
		if !bytes.Equal(got[i], audio[i]) {
			t.Fatalf("packet %d: %d bytes, want %d", i, len(got[i]), len(audio[i]))
		}
	}
	for name, bad := range map[string][]byte{"empty": nil, "wav": []byte("RIFF....WAVEfmt "), "no head": oggFile([][]byte{{1}, {2}}, 2),
		"cut": file[:len(file)-3]} {
		if _, _, err := OggPackets(bytes.NewReader(bad)); !errors.Is(err, ErrNotOgg) {
			t.Errorf("%s: %v, want ErrNotOgg", name, err)
		}
	}
}

func FuzzOggPackets(f *testing.F) {
	f.Add(oggFile([][]byte{opusHead(0), []byte("OpusTags"), {1, 2, 3}}, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		packets, _, err := OggPackets(bytes.NewReader(data))
		total := 0
		for _, p := range packets {
			total += len(p)
		}
		if err == nil && total > len(data) {
			t.Fatalf("%d packet bytes from %d", total, len(data))
		}
	})
}
