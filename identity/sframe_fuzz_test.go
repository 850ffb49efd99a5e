package identity

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// seedHeaders adds the RFC 9605 header vectors (when present) and a few built-in headers.
func seedHeaders(f *testing.F) {
	f.Add([]byte{0x00})
	f.Add([]byte{0x80, 0xff, 0x01})
	f.Add([]byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte{0x8f})
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		return
	}
	var v rfc9605Vectors
	if json.Unmarshal(data, &v) != nil {
		return
	}
	for _, h := range v.Header {
		f.Add([]byte(h.Encoded))
	}
}

// FuzzParseSFrameHeader: parsing any bytes never panics, and whatever parses is the one
// minimal encoding of its KID and CTR.
func FuzzParseSFrameHeader(f *testing.F) {
	seedHeaders(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		kid, ctr, n, err := ParseSFrameHeader(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		if n < 1 || n > len(b) || n > maxSFrameHeader {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		if enc := AppendSFrameHeader(nil, kid, ctr); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("parsed %x as (%d, %d), which encodes as %x", b[:n], kid, ctr, enc)
		}
	})
}

// FuzzSFrameHeaderRoundTrip: every (KID, CTR) encodes and parses back.
func FuzzSFrameHeaderRoundTrip(f *testing.F) {
	for _, v := range []uint64{0, 7, 8, 255, 256, 1<<48 - 1, 1 << 63, ^uint64(0)} {
		f.Add(v, ^v)
	}
	f.Fuzz(func(t *testing.T, kid, ctr uint64) {
		enc := AppendSFrameHeader(nil, kid, ctr)
		k, c, n, err := ParseSFrameHeader(append(enc, 0x55))
		if err != nil || k != kid || c != ctr || n != len(enc) || n != sframeHeaderLen(kid, ctr) {
			t.Fatalf("(%d, %d) -> %x -> (%d, %d, %d, %v)", kid, ctr, enc, k, c, n, err)
		}
	})
}

// FuzzDecryptFrame: any bytes given to a receiver as a media frame or a chat message never
// panic, and whatever decrypts is exactly what a real sender made.
func FuzzDecryptFrame(f *testing.F) {
	key := testKey(f, 3<<16|2)
	s := NewFrameSender()
	s.SetKey(key)
	for _, c := range []struct {
		codec Codec
		frame []byte
	}{{CodecVP8, vp8Key}, {CodecVP8, vp8Inter}, {CodecOpus, opus}, {CodecOpus, nil}, {CodecVP8, []byte{0}}} {
		enc, err := s.EncryptFrame(nil, c.codec, c.frame)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(c.codec), enc)
	}
	chat, err := s.EncryptChat("room", []byte("hello"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), chat)
	f.Add(uint8(CodecOpus), []byte{0xfc, 0x00})

	lookup := keyTable{key.KID(): key}.lookup
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		r := NewFrameReceiver(lookup)
		c := Codec(codec)
		in := append([]byte{}, data...)
		out, _, err := r.DecryptFrame(nil, c, in)
		if !bytes.Equal(in, data) {
			t.Fatal("DecryptFrame changed its input")
		}
		if err == nil {
			n := ClearPrefix(c, data)
			_, _, hdr, _ := ParseSFrameHeader(data[n:])
			if len(out) != len(data)-hdr-sframeTagSize || !bytes.Equal(out[:n], data[:n]) {
				t.Fatalf("decrypted %d bytes from %d", len(out), len(data))
			}
			// In place gives the same plaintext.
			r2 := NewFrameReceiver(lookup)
			out2, _, err := r2.DecryptFrame(in[:0], c, in)
			if err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("in-place decrypt: %v", err)
			}
		}
		if text, _, err := r.DecryptChat("room", data); err == nil && string(text) != "hello" {
			t.Fatalf("chat decrypted to %q", text)
		}
	})
}
