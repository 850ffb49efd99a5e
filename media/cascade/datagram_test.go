package cascade

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// testRTP builds an RTP packet (version 2, payload type 96) with seq, a timestamp and size
// bytes of payload whose content depends on seq.
func testRTP(seq uint16, size int) []byte {
	p := make([]byte, rtpHeaderLen+size)
	p[0] = 0x80
	p[1] = 96
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*3000)
	binary.BigEndian.PutUint32(p[8:], 0x11223344)
	for i := rtpHeaderLen; i < len(p); i++ {
		p[i] = byte(int(seq) + i)
	}
	return p
}

func testDatagram(h datagramHeader, rtp []byte) []byte {
	b := make([]byte, datagramHeaderLen+len(rtp))
	putDatagramHeader(b, h)
	copy(b[datagramHeaderLen:], rtp)
	return b
}

func TestDatagramRoundTrip(t *testing.T) {
	for _, h := range []datagramHeader{
		{layer: 0, num: 1, seq: 0},
		{retransmit: true, layer: 2, num: 65535, seq: 1<<32 - 1},
		{layer: 1, num: 300, seq: 123456},
	} {
		rtp := testRTP(uint16(h.seq), 100)
		b := testDatagram(h, rtp)
		got, pkt, err := parseDatagram(b)
		if err != nil {
			t.Fatalf("parse %+v: %v", h, err)
		}
		if got != h || !bytes.Equal(pkt, rtp) {
			t.Errorf("parse(%+v) = %+v, rtp equal %v", h, got, bytes.Equal(pkt, rtp))
		}
		if rtpSeq(pkt) != uint16(h.seq) {
			t.Errorf("rtpSeq = %d", rtpSeq(pkt))
		}
	}
	// The header is exactly as drawn.
	b := testDatagram(datagramHeader{retransmit: true, layer: 2, num: 0x0102, seq: 0x03040506}, testRTP(1, 0))
	if want := []byte{0x11, 2, 1, 2, 3, 4, 5, 6}; !bytes.Equal(b[:8], want) {
		t.Errorf("header bytes % x, want % x", b[:8], want)
	}
}

func TestDatagramRejects(t *testing.T) {
	good := testDatagram(datagramHeader{layer: 1, num: 7, seq: 9}, testRTP(5, 20))
	mutate := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(good))
	}
	cases := map[string][]byte{
		"empty":           nil,
		"header only":     good[:datagramHeaderLen],
		"short rtp":       good[:datagramHeaderLen+rtpHeaderLen-1],
		"too long":        append(bytes.Clone(good), make([]byte, maxDatagramSize)...),
		"version 0":       mutate(func(b []byte) []byte { b[0] = 0x00; return b }),
		"version 2":       mutate(func(b []byte) []byte { b[0] = 0x20; return b }),
		"reserved flag":   mutate(func(b []byte) []byte { b[0] |= 0x02; return b }),
		"layer 3":         mutate(func(b []byte) []byte { b[1] = 3; return b }),
		"number 0":        mutate(func(b []byte) []byte { b[2], b[3] = 0, 0; return b }),
		"rtp version 1":   mutate(func(b []byte) []byte { b[datagramHeaderLen] = 0x40; return b }),
		"rtp version 0":   mutate(func(b []byte) []byte { b[datagramHeaderLen] = 0x00; return b }),
		"not rtp at all":  mutate(func(b []byte) []byte { b[datagramHeaderLen] = 0xff; return b }),
		"layer 255":       mutate(func(b []byte) []byte { b[1] = 255; return b }),
		"all reserved on": mutate(func(b []byte) []byte { b[0] = 0x1f; return b }),
	}
	for name, b := range cases {
		if _, _, err := parseDatagram(b); !errors.Is(err, errBadDatagram) {
			t.Errorf("%s: err = %v, want errBadDatagram", name, err)
		}
	}
	if _, _, err := parseDatagram(good); err != nil {
		t.Fatalf("the unmutated datagram is refused: %v", err)
	}
}

// FuzzDatagram checks that the decoder never panics, that what it accepts re-encodes to the
// same bytes, and that it accepts nothing the encoder could not have written.
func FuzzDatagram(f *testing.F) {
	f.Add(testDatagram(datagramHeader{layer: 0, num: 1, seq: 0}, testRTP(1, 0)))
	f.Add(testDatagram(datagramHeader{retransmit: true, layer: 2, num: 65535, seq: 1<<32 - 1}, testRTP(65535, 1200)))
	f.Add(testDatagram(datagramHeader{layer: 1, num: 42, seq: 1000}, testRTP(7, 160)))
	f.Add([]byte{0x10, 0, 0, 1, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, rtp, err := parseDatagram(b)
		if err != nil {
			if !errors.Is(err, errBadDatagram) {
				t.Fatalf("error %v does not wrap errBadDatagram", err)
			}
			return
		}
		if !checkRTP(rtp) {
			t.Fatalf("accepted an RTP packet the sender would refuse: % x", rtp)
		}
		again := testDatagram(h, rtp)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding changed the datagram:\n% x\n% x", b, again)
		}
	})
}
