package transcribe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func sine(n, rate int, hz float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return out
}

// TestWAVRoundTrip: what WriteWAV writes at 16 kHz reads back the same; at 48 kHz it reads
// back a third as long with the tone kept.
func TestWAVRoundTrip(t *testing.T) {
	in := sine(SampleRate, SampleRate, 440)
	var buf bytes.Buffer
	if err := WriteWAV(&buf, in, SampleRate); err != nil {
		t.Fatal(err)
	}
	out, err := ReadWAV(bytes.NewReader(buf.Bytes()))
	if err != nil || !slicesEqual(in, out) {
		t.Fatalf("round trip at 16 kHz: %v, %d samples", err, len(out))
	}
	buf.Reset()
	if err := WriteWAV(&buf, sine(48000, 48000, 440), 48000); err != nil {
		t.Fatal(err)
	}
	out, err = ReadWAV(&buf)
	if err != nil || len(out) != SampleRate {
		t.Fatalf("48 kHz: %v, %d samples", err, len(out))
	}
	if r := rms(out); r < 5000 || r > 6000 {
		t.Fatalf("48 kHz tone at RMS %.0f after conversion, want about 5657", r)
	}
}

// TestWAVStereo8Bit: 8-bit stereo is mixed down.
func TestWAVStereo8Bit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WAVE")
	b.WriteString("LIST\x04\x00\x00\x00abcd") // a chunk to skip
	b.WriteString("fmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(2), uint32(16000), uint32(32000), uint16(2), uint16(8)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data\x04\x00\x00\x00")
	b.Write([]byte{128 + 64, 128 + 64, 128 - 64, 128})
	out, err := ReadWAV(&b)
	if err != nil || len(out) != 2 || out[0] != 64<<8 || out[1] != -(32<<8) {
		t.Fatalf("got %v %v", out, err)
	}
}

// TestWAVRefused: what is not a PCM WAV is refused with ErrNotWAV.
func TestWAVRefused(t *testing.T) {
	var good bytes.Buffer
	_ = WriteWAV(&good, sine(100, SampleRate, 440), SampleRate)
	float := append([]byte(nil), good.Bytes()...)
	float[20] = 3 // IEEE float
	bits := append([]byte(nil), good.Bytes()...)
	bits[34] = 24
	for name, in := range map[string][]byte{
		"empty": nil, "not RIFF": []byte("RIFX\x00\x00\x00\x00WAVEfmt "), "float": float, "24-bit": bits,
		"no data": good.Bytes()[:36], "truncated fmt": good.Bytes()[:30],
	} {
		if _, err := ReadWAV(bytes.NewReader(in)); !errors.Is(err, ErrNotWAV) {
			t.Errorf("%s: %v, want ErrNotWAV", name, err)
		}
	}
}

func FuzzReadWAV(f *testing.F) {
	var good bytes.Buffer
	_ = WriteWAV(&good, sine(64, SampleRate, 440), SampleRate)
	f.Add(good.Bytes())
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := ReadWAV(bytes.NewReader(data))
		if err == nil && len(pcm) > len(data)*12 {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
	})
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
