package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// SFrame (RFC 9605) with the one cipher suite Parley speaks, AES_128_GCM_SHA256_128. This file
// holds the header codec and the per-KID key; framecrypt.go applies them to media and chat.

const (
	// SuiteAES128GCMSHA256 is the RFC 9605 cipher suite AES_128_GCM_SHA256_128.
	SuiteAES128GCMSHA256 uint16 = 0x0004
	// BaseKeySize is the size of a sender's base key for SuiteAES128GCMSHA256.
	BaseKeySize = 16

	sframeKeySize   = 16 // AES-128
	sframeNonceSize = 12
	sframeTagSize   = 16
	// maxSFrameHeader is a config byte and 8-byte KID and CTR fields.
	maxSFrameHeader = 1 + 8 + 8
)

// Errors of SFrame encryption and decryption; callers may test for them with errors.Is.
var (
	// ErrSFrameMalformed: the bytes are not an SFrame (or a media frame carrying one) at all:
	// too short, a header that is cut off or not minimally encoded, or a CTR outside the range
	// of the kind of message.
	ErrSFrameMalformed = errors.New("malformed sframe")
	// ErrUnknownKID: no key is held for the frame's KID (or the key given is for another KID).
	ErrUnknownKID = errors.New("sframe: unknown key id")
	// ErrReplay: the (KID, CTR) was already accepted, or is older than the replay window.
	ErrReplay = errors.New("sframe: replayed or too old")
	// ErrDecrypt: authentication failed; the frame was altered or made with another key.
	ErrDecrypt = errors.New("sframe: authentication failed")
	// ErrSFrameNoKey: a sender was asked to encrypt before it was given a key.
	ErrSFrameNoKey = errors.New("sframe: no sender key")
	// ErrSFrameExhausted: a key has used up its CTR range and must be replaced.
	ErrSFrameExhausted = errors.New("sframe: counter space of key used up")
)

// The SFrame header (RFC 9605 §4.3): a config byte, then the KID and the CTR as big-endian
// unsigned integers in the fewest bytes that hold them. A value below 8 lives in the config
// byte itself (X or Y is 0); otherwise X or Y is 1 and K or C is the byte length minus one.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+-------------------+-------------------+
//	|X|  K  |Y|  C  | KID (0 or K+1 B)  | CTR (0 or C+1 B)  |
//	+-+-+-+-+-+-+-+-+-------------------+-------------------+
//
// Examples: KID 0, CTR 0 is 00; KID 1, CTR 255 is 18 ff; KID 255, CTR 256 is 89 ff 01 00.
// ParseSFrameHeader accepts only this minimal form, so a header has exactly one encoding.

// AppendSFrameHeader appends the header for kid and ctr to dst.
func AppendSFrameHeader(dst []byte, kid, ctr uint64) []byte {
	var config byte
	kidLen, ctrLen := compactLen(kid), compactLen(ctr)
	if kidLen == 0 {
		config |= byte(kid) << 4
	} else {
		config |= 0x80 | byte(kidLen-1)<<4
	}
	if ctrLen == 0 {
		config |= byte(ctr)
	} else {
		config |= 0x08 | byte(ctrLen-1)
	}
	dst = append(dst, config)
	dst = appendCompact(dst, kid, kidLen)
	return appendCompact(dst, ctr, ctrLen)
}

// ParseSFrameHeader reads the header at the start of b and returns its KID, its CTR and its
// length in bytes. It fails with ErrSFrameMalformed if b ends inside the header or a value is
// not in its minimal form.
func ParseSFrameHeader(b []byte) (kid, ctr uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, fmt.Errorf("%w: empty", ErrSFrameMalformed)
	}
	config := b[0]
	n = 1
	kid, n, err = readCompact(b, n, config&0x80 != 0, (config>>4)&0x07, "KID")
	if err != nil {
		return 0, 0, 0, err
	}
	ctr, n, err = readCompact(b, n, config&0x08 != 0, config&0x07, "CTR")
	if err != nil {
		return 0, 0, 0, err
	}
	return kid, ctr, n, nil
}

// sframeHeaderLen is len(AppendSFrameHeader(nil, kid, ctr)).
func sframeHeaderLen(kid, ctr uint64) int { return 1 + compactLen(kid) + compactLen(ctr) }

// compactLen is the number of bytes v takes after the config byte: 0 below 8, else the fewest
// bytes that hold it.
func compactLen(v uint64) int {
	if v < 8 {
		return 0
	}
	return (bits.Len64(v) + 7) / 8
}

func appendCompact(dst []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// readCompact reads one header value at b[off:]: the 3-bit field itself when extended is
// false, else field+1 big-endian bytes that must not fit in fewer.
func readCompact(b []byte, off int, extended bool, field byte, name string) (uint64, int, error) {
	if !extended {
		return uint64(field), off, nil
	}
	n := int(field) + 1
	if len(b)-off < n {
		return 0, 0, fmt.Errorf("%w: header cut off in the %d-byte %s", ErrSFrameMalformed, n, name)
	}
	var v uint64
	for _, c := range b[off : off+n] {
		v = v<<8 | uint64(c)
	}
	if compactLen(v) != n {
		return 0, 0, fmt.Errorf("%w: %s %d not minimally encoded in %d bytes", ErrSFrameMalformed, name, v, n)
	}
	return v, off + n, nil
}

// SFrameKey is the AES-128-GCM key and salt derived from a sender's base key for one KID
// (RFC 9605 §4.4.2). It is immutable and safe for concurrent use.
type SFrameKey struct {
	kid     uint64
	salt    [sframeNonceSize]byte
	aead    cipher.AEAD
	scratch sync.Pool // of *sframeScratch: keeps Seal and Open free of allocations
}

// sframeScratch holds the nonce and the AAD of one Seal or Open. The AEAD is reached through
// an interface, so anything passed to it would escape to the heap; reusing these does not.
type sframeScratch struct {
	nonce [sframeNonceSize]byte
	aad   []byte // starts as buf[:0]
	buf   [64]byte
}

// maxPooledAAD bounds the AAD buffer kept for reuse; longer (chat) metadata gets a one-off one.
const maxPooledAAD = 1 << 10

// NewSFrameKey derives the key and salt for kid from a 16-byte base key:
//
//	secret = HKDF-Extract(salt="", base_key)
//	key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || KID (8 B, BE) || 0x0004, 16)
//	salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || KID (8 B, BE) || 0x0004, 12)
func NewSFrameKey(baseKey []byte, kid uint64) (*SFrameKey, error) {
	if len(baseKey) != BaseKeySize {
		return nil, fmt.Errorf("identity: sframe base key is %d bytes, want %d", len(baseKey), BaseKeySize)
	}
	key, salt, err := deriveSFrameKey(baseKey, kid)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("identity: sframe key for KID %d: %w", kid, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("identity: sframe key for KID %d: %w", kid, err)
	}
	k := &SFrameKey{kid: kid, aead: aead}
	copy(k.salt[:], salt)
	k.scratch.New = func() any {
		s := new(sframeScratch)
		s.aad = s.buf[:0]
		return s
	}
	return k, nil
}

// deriveSFrameKey is the HKDF part of NewSFrameKey.
func deriveSFrameKey(baseKey []byte, kid uint64) (key, salt []byte, err error) {
	secret, err := hkdf.Extract(sha256.New, baseKey, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: sframe key for KID %d: %w", kid, err)
	}
	key, err = hkdf.Expand(sha256.New, secret, sframeLabel("SFrame 1.0 Secret key ", kid), sframeKeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: sframe key for KID %d: %w", kid, err)
	}
	salt, err = hkdf.Expand(sha256.New, secret, sframeLabel("SFrame 1.0 Secret salt ", kid), sframeNonceSize)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: sframe salt for KID %d: %w", kid, err)
	}
	return key, salt, nil
}

// sframeLabel is the HKDF info of RFC 9605 §4.4.2: the label, the KID as 8 big-endian bytes
// and the cipher suite as 2.
func sframeLabel(label string, kid uint64) string {
	b := make([]byte, 0, len(label)+10)
	b = append(b, label...)
	b = binary.BigEndian.AppendUint64(b, kid)
	b = binary.BigEndian.AppendUint16(b, SuiteAES128GCMSHA256)
	return string(b)
}

// KID is the key ID the key was derived for.
func (k *SFrameKey) KID() uint64 { return k.kid }

// Seal encrypts plaintext under ctr and appends header || ciphertext || tag to dst, with
// AAD = header || metadata (RFC 9605 §4.4.3). It does not allocate when dst has room for
// the result. dst and plaintext may overlap (plaintext = dst[len(dst):] encrypts in place).
// The caller must never use a CTR twice with one key.
func (k *SFrameKey) Seal(dst []byte, ctr uint64, metadata, plaintext []byte) []byte {
	return k.seal(dst, ctr, false, metadata, plaintext)
}

// seal is Seal; with clearOut it also writes metadata in front of the header, as a media
// frame carries it, reading every input before writing any output so that buffers may overlap.
func (k *SFrameKey) seal(dst []byte, ctr uint64, clearOut bool, metadata, plaintext []byte) []byte {
	s := k.getScratch()
	defer k.putScratch(s)
	s.aad = AppendSFrameHeader(s.aad[:0], k.kid, ctr)
	hdr := len(s.aad)
	s.aad = append(s.aad, metadata...)
	k.fillNonce(s, ctr)

	start := len(dst)
	var pre int
	if clearOut {
		pre = len(metadata)
	}
	body := start + pre + hdr
	out := sframeGrow(dst, pre+hdr+len(plaintext)+sframeTagSize)
	copy(out[body:], plaintext) // a memmove: safe whichever way the buffers overlap
	copy(out[start:], s.aad[hdr:hdr+pre])
	copy(out[start+pre:], s.aad[:hdr])
	// In place, which an AEAD allows: the result lands exactly where the plaintext now is.
	k.aead.Seal(out[body:body], s.nonce[:], out[body:body+len(plaintext)], s.aad)
	return out
}

// Open decrypts sframe (header || ciphertext || tag) made with this key and metadata, and
// appends the plaintext to dst. It fails with ErrSFrameMalformed if sframe is not an SFrame,
// ErrUnknownKID if its KID is not this key's and ErrDecrypt if it does not authenticate. It
// does not allocate when dst has room for the plaintext plus 16 bytes. dst and sframe may
// overlap (the ciphertext is then overwritten, also on failure). It does not check replays.
func (k *SFrameKey) Open(dst, sframe, metadata []byte) (ctr uint64, plaintext []byte, err error) {
	kid, ctr, hdr, err := ParseSFrameHeader(sframe)
	if err != nil {
		return 0, nil, err
	}
	if kid != k.kid {
		return 0, nil, fmt.Errorf("%w: frame KID %d, key KID %d", ErrUnknownKID, kid, k.kid)
	}
	if len(sframe)-hdr < sframeTagSize {
		return 0, nil, fmt.Errorf("%w: %d bytes after the header, shorter than the tag", ErrSFrameMalformed, len(sframe)-hdr)
	}
	out, err := k.open(dst, ctr, false, sframe[:hdr], metadata, sframe[hdr:])
	if err != nil {
		return 0, nil, err
	}
	return ctr, out, nil
}

// open authenticates and decrypts ct (ciphertext || tag, at least a tag long) under ctr with
// AAD = header || metadata and appends the plaintext to dst, preceded by metadata when
// clearOut is set. Every input is read before output is written, so buffers may overlap.
func (k *SFrameKey) open(dst []byte, ctr uint64, clearOut bool, header, metadata, ct []byte) ([]byte, error) {
	s := k.getScratch()
	defer k.putScratch(s)
	s.aad = append(append(s.aad[:0], header...), metadata...)
	hdr := len(header)
	k.fillNonce(s, ctr)

	start := len(dst)
	var pre int
	if clearOut {
		pre = len(metadata)
	}
	body := start + pre
	out := sframeGrow(dst, pre+len(ct))
	copy(out[body:], ct) // a memmove, then decrypt in place with exact overlap
	copy(out[start:], s.aad[hdr:hdr+pre])
	if _, err := k.aead.Open(out[body:body], s.nonce[:], out[body:body+len(ct)], s.aad); err != nil {
		return nil, fmt.Errorf("%w (KID %d, CTR %d)", ErrDecrypt, k.kid, ctr)
	}
	return out[:len(out)-sframeTagSize], nil
}

// fillNonce sets s.nonce to salt XOR CTR, the CTR as 12 big-endian bytes.
func (k *SFrameKey) fillNonce(s *sframeScratch, ctr uint64) {
	s.nonce = k.salt
	binary.BigEndian.PutUint64(s.nonce[4:], binary.BigEndian.Uint64(k.salt[4:])^ctr)
}

func (k *SFrameKey) getScratch() *sframeScratch { return k.scratch.Get().(*sframeScratch) }

func (k *SFrameKey) putScratch(s *sframeScratch) {
	if cap(s.aad) > maxPooledAAD {
		return
	}
	k.scratch.Put(s)
}

// sframeGrow returns dst extended by n bytes, reusing its capacity when there is room.
func sframeGrow(dst []byte, n int) []byte {
	if total := len(dst) + n; total <= cap(dst) {
		return dst[:total]
	}
	out := make([]byte, len(dst)+n, len(dst)+n+len(dst)/4)
	copy(out, dst)
	return out
}
