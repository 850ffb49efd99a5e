//go:build libopus

package transcribe

import (
	"bytes"
	"testing"
)

// TestOggOpusRoundTrip: a second of tone encoded by libopus at 32 kbit/s, put in an Ogg
// file, reads back as about a second of 16 kHz audio at about its level.
func TestOggOpusRoundTrip(t *testing.T) {
	enc, err := NewOpusEncoder(32000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	tone := sine(48000, 48000, 300)
	packets := [][]byte{opusHead(312), []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")}
	for i := 0; i+OpusFrame <= len(tone); i += OpusFrame {
		p, err := enc.Encode(tone[i : i+OpusFrame])
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, p)
	}
	pcm, err := ReadOggOpus(bytes.NewReader(oggFile(packets, 10)))
	if err != nil {
		t.Fatal(err)
	}
	if want := SampleRate - 104; len(pcm) != want {
		t.Fatalf("%d samples, want %d (a second less the pre-skip)", len(pcm), want)
	}
	if r := rms(pcm[SampleRate/4:]); r < 4500 || r > 6800 {
		t.Fatalf("RMS %.0f after the round trip, want about 5657", r)
	}
	// A lost packet is concealed, not an error.
	dec, _ := NewOpusDecoder()
	defer dec.Close()
	if got, err := dec.Decode(nil); err != nil || len(got) != 320 {
		t.Fatalf("concealing a lost packet: %d samples, %v", len(got), err)
	}
}
