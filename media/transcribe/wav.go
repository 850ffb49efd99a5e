package transcribe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// A WAV file, as read here (RIFF, little-endian):
//
//	"RIFF" size:u32 "WAVE"
//	chunks: id:[4]byte size:u32 body (padded to an even length)
//	  "fmt " format:u16 (1 PCM, 0xFFFE extensible with the PCM subformat) channels:u16
//	         rate:u32 byteRate:u32 blockAlign:u16 bits:u16 [extension]
//	  "data" samples, interleaved by channel
//
// Other chunks (LIST, fact, …) are skipped.

// MaxWAVBytes bounds the sample data ReadWAV takes: about 9 hours of 16 kHz mono 16-bit.
const MaxWAVBytes = 1 << 30

// ErrNotWAV: the input is not a PCM WAV file this package reads.
var ErrNotWAV = errors.New("not a 16-bit or 8-bit PCM WAV file")

// ReadWAV reads a PCM WAV file (8 or 16 bits, 1 to 8 channels, 8 to 192 kHz) and returns its
// audio as SampleRate mono: channels mixed down, rate converted.
func ReadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	var channels, bits int
	var rate int
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("%w: no data chunk", ErrNotWAV)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
			if format == 0xFFFE && size >= 40 {
				format = binary.LittleEndian.Uint16(body[24:26]) // the subformat GUID starts with the format code
			}
			if format != 1 {
				return nil, fmt.Errorf("%w: format %#x (only PCM is read)", ErrNotWAV, format)
			}
			if bits != 8 && bits != 16 {
				return nil, fmt.Errorf("%w: %d bits per sample", ErrNotWAV, bits)
			}
			if channels < 1 || channels > 8 || rate < 8000 || rate > 192000 {
				return nil, fmt.Errorf("%w: %d channels at %d Hz", ErrNotWAV, channels, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrNotWAV)
			}
			// Some writers put 0 or 0xFFFFFFFF when they stream: read to the end then.
			streaming := size == 0 || size == math.MaxUint32
			if !streaming && size > MaxWAVBytes {
				return nil, fmt.Errorf("WAV data of %d bytes, at most %d", size, MaxWAVBytes)
			}
			limit := size
			if streaming {
				limit = MaxWAVBytes + 1
			}
			data, err := io.ReadAll(io.LimitReader(r, limit))
			if err != nil {
				return nil, fmt.Errorf("read WAV data: %w", err)
			}
			if len(data) > MaxWAVBytes {
				return nil, fmt.Errorf("WAV data over %d bytes", MaxWAVBytes)
			}
			return Resample(mixDown(data, channels, bits), rate, SampleRate), nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return nil, fmt.Errorf("%w: short %q chunk", ErrNotWAV, id)
			}
		}
	}
}

// mixDown turns interleaved samples into mono 16-bit.
func mixDown(data []byte, channels, bits int) []int16 {
	width := bits / 8
	frame := width * channels
	out := make([]int16, len(data)/frame)
	for i := range out {
		sum := 0
		for c := range channels {
			off := i*frame + c*width
			if width == 2 {
				sum += int(int16(binary.LittleEndian.Uint16(data[off:])))
			} else {
				sum += (int(data[off]) - 128) << 8
			}
		}
		out[i] = int16(sum / channels)
	}
	return out
}

// Resample converts mono audio from rate from to rate to: a moving average over the
// stretch of input each output sample covers when going down (a mild low-pass: PocketSphinx
// recognised espeak-ng's speech best so, better than after a sharp windowed-sinc filter),
// linear interpolation when going up.
func Resample(in []int16, from, to int) []int16 {
	if from == to || len(in) == 0 || from <= 0 || to <= 0 {
		return in
	}
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]int16, n)
	step := float64(from) / float64(to)
	for i := range out {
		pos := float64(i) * step
		if step > 1 {
			lo := int(pos)
			hi := min(max(int(pos+step), lo+1), len(in))
			sum := 0
			for _, s := range in[lo:hi] {
				sum += int(s)
			}
			out[i] = int16(sum / (hi - lo))
			continue
		}
		j := int(pos)
		frac := pos - float64(j)
		a := float64(in[j])
		b := a
		if j+1 < len(in) {
			b = float64(in[j+1])
		}
		out[i] = int16(a + (b-a)*frac)
	}
	return out
}

// WriteWAV writes pcm (rate, mono, 16-bit) as a WAV file.
func WriteWAV(w io.Writer, pcm []int16, rate int) error {
	data := len(pcm) * 2
	var hdr [44]byte
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+data))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(rate))
	binary.LittleEndian.PutUint32(hdr[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(data))
	buf := make([]byte, 0, 44+data)
	buf = append(buf, hdr[:]...)
	for _, s := range pcm {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(s))
	}
	_, err := w.Write(buf)
	return err
}
