package identity

import (
	"errors"
	"fmt"
	"strings"
)

// Bech32 (BIP 173) is how age spells X25519 keys: "age1…" for a recipient, and
// "AGE-SECRET-KEY-1…" for an identity. Only what age keys need is here: encoding 8-bit data
// under a human-readable part, and strict decoding of one spelling (all lower or all upper
// case, checksum verified, no padding bits set).
//
//	hrp "1" data(5-bit groups, base32 alphabet) checksum(6 groups)

const bech32Alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Polymod is BIP 173's checksum over 5-bit values.
func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range gen {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32HRPExpand is the human-readable part as the checksum sees it.
func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := range len(hrp) {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := range len(hrp) {
		out = append(out, hrp[i]&31)
	}
	return out
}

// regroup converts data between bit widths (8 to 5 with padding, 5 to 8 strictly).
func regroup(data []byte, from, to uint, pad bool) ([]byte, error) {
	var acc, bits uint
	out := make([]byte, 0, len(data)*int(from)/int(to)+1)
	maxv := uint(1)<<to - 1
	for _, b := range data {
		if uint(b)>>from != 0 {
			return nil, errors.New("bech32: value out of range")
		}
		acc = acc<<from | uint(b)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, errors.New("bech32: non-zero padding")
	}
	return out, nil
}

// bech32Encode spells data under hrp, in lower case.
func bech32Encode(hrp string, data []byte) string {
	hrp = strings.ToLower(hrp)
	values, _ := regroup(data, 8, 5, true) // 8-bit input is always in range
	chk := bech32Polymod(append(append(bech32HRPExpand(hrp), values...), 0, 0, 0, 0, 0, 0)) ^ 1
	var s strings.Builder
	s.Grow(len(hrp) + 1 + len(values) + 6)
	s.WriteString(hrp)
	s.WriteByte('1')
	for _, v := range values {
		s.WriteByte(bech32Alphabet[v])
	}
	for i := range 6 {
		s.WriteByte(bech32Alphabet[chk>>(5*(5-i))&31])
	}
	return s.String()
}

// bech32Decode reads s, returning its human-readable part in lower case and its data.
func bech32Decode(s string) (hrp string, data []byte, err error) {
	if lower, upper := strings.ToLower(s), strings.ToUpper(s); s != lower && s != upper {
		return "", nil, errors.New("bech32: mixed case")
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, errors.New("bech32: no separator, or too short")
	}
	hrp = s[:sep]
	for i := range len(hrp) {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, fmt.Errorf("bech32: character %q in the prefix", hrp[i])
		}
	}
	values := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		v := strings.IndexByte(bech32Alphabet, s[i])
		if v < 0 {
			return "", nil, fmt.Errorf("bech32: character %q in the data", s[i])
		}
		values = append(values, byte(v))
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), values...)) != 1 {
		return "", nil, errors.New("bech32: bad checksum")
	}
	data, err = regroup(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
