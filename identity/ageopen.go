package identity

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"golang.org/x/crypto/chacha20poly1305"
)

// A quick reader for the age message of a key envelope, which opens only the reader's own
// stanza. age.Decrypt parses every stanza into strings and slices and writes the header out
// again to check its MAC; in a meeting of n, each of n-1 receivers does that for each of n-1
// senders on every rekey. A key envelope's age message is always one shape (SealKeyEnvelope
// and the browser's age library write it so), with stanzas of fixed length:
//
//	age-encryption.org/v1\n                                     22 bytes
//	-> X25519 <ephemeral share: 43 base64>\n                     54 bytes  ┐ one per recipient,
//	<ChaCha20-Poly1305 of the file key: 43 base64>\n             44 bytes  ┘ in the order of "to"
//	--- <header MAC: 43 base64>\n                                48 bytes
//	<nonce: 16 bytes><ChaCha20-Poly1305 of the plaintext: one final chunk>
//
//	MAC     = HMAC-SHA256(HKDF-SHA256(file key, salt "", "header"), header up to "---")
//	payload = ChaCha20-Poly1305(HKDF-SHA256(file key, salt nonce, "payload"),
//	                            nonce 0^88 || 0x01, plaintext)
//
// so stanza i starts at a known offset. openAt checks the whole header's shape (every line,
// every base64 value canonical) as age's parser would, unwraps stanza i only, checks the MAC
// over the header's bytes as they are and opens the payload. It gives up (ok false) on any
// other shape, a stanza that does not open, a bad MAC or payload; the caller then decrypts
// with age, which decides and reports. What openAt opens, age.Decrypt opens to the same
// plaintext (FuzzAgeOpenAt checks it): age accepts only headers in the one spelling that
// writing them out again gives, so its MAC over the rewritten header is this one.

const (
	ageIntro       = "age-encryption.org/v1\n"
	ageStanzaStart = "-> X25519 "
	ageFooterStart = "--- "
	ageB64Len      = 43 // a 32-byte value in unpadded base64
	ageStanzaLen   = len(ageStanzaStart) + ageB64Len + 1 + ageB64Len + 1
	ageFooterLen   = len(ageFooterStart) + ageB64Len + 1
	ageNonceSize   = 16
)

// ageB64 decodes one 43-character base64 value of the header into dst (32 bytes).
func ageB64(dst, src []byte) bool {
	n, err := base64.RawStdEncoding.Strict().Decode(dst, src)
	return err == nil && n == 32 // n < 32 if src held CR or LF, which Decode skips
}

// openAt decrypts msg, an age message of at most maxPlain bytes of plaintext, with the
// X25519 stanza at place i. ok false: let age decide.
func (a *ageIdentity) openAt(msg []byte, i, maxPlain int) (plain []byte, ok bool) {
	if !bytes.HasPrefix(msg, []byte(ageIntro)) || i < 0 {
		return nil, false
	}
	stanzas := msg[len(ageIntro):]
	n := bytes.Index(stanzas, []byte("\n"+ageFooterStart))
	if n < 0 || (n+1)%ageStanzaLen != 0 {
		return nil, false
	}
	count := (n + 1) / ageStanzaLen
	if count == 0 || count > MaxRecipients || i >= count {
		return nil, false
	}
	var share, body, scratch [32]byte
	for k := range count {
		s := stanzas[k*ageStanzaLen : (k+1)*ageStanzaLen]
		arg := s[len(ageStanzaStart) : len(ageStanzaStart)+ageB64Len]
		line := s[len(ageStanzaStart)+ageB64Len+1 : ageStanzaLen-1]
		dstShare, dstBody := scratch[:], scratch[:]
		if k == i {
			dstShare, dstBody = share[:], body[:]
		}
		if !bytes.HasPrefix(s, []byte(ageStanzaStart)) || s[len(ageStanzaStart)+ageB64Len] != '\n' ||
			s[ageStanzaLen-1] != '\n' || !ageB64(dstShare, arg) || !ageB64(dstBody, line) {
			return nil, false
		}
	}
	header := msg[:len(ageIntro)+count*ageStanzaLen+len(ageFooterStart)-1] // up to "---"
	footer := msg[len(header)-3:]
	if len(footer) < ageFooterLen || footer[ageFooterLen-1] != '\n' {
		return nil, false
	}
	var mac [32]byte
	if !ageB64(mac[:], footer[len(ageFooterStart):ageFooterLen-1]) {
		return nil, false
	}
	payload := footer[ageFooterLen:]
	if len(payload) < ageNonceSize+chacha20poly1305.Overhead || len(payload) > ageNonceSize+maxPlain+chacha20poly1305.Overhead {
		return nil, false
	}
	fileKey, err := a.unwrapShare(share[:], body[:])
	if err != nil {
		return nil, false
	}
	hmacKey, err := hkdf.Key(sha256.New, fileKey, nil, "header", sha256.Size)
	if err != nil {
		return nil, false
	}
	h := hmac.New(sha256.New, hmacKey)
	h.Write(header)
	if !hmac.Equal(h.Sum(nil), mac[:]) {
		return nil, false
	}
	streamKey, err := hkdf.Key(sha256.New, fileKey, payload[:ageNonceSize], "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, false
	}
	aead, err := chacha20poly1305.New(streamKey)
	if err != nil {
		return nil, false
	}
	var nonce [chacha20poly1305.NonceSize]byte
	nonce[len(nonce)-1] = 1 // the first chunk, and the last
	plain, err = aead.Open(nil, nonce[:], payload[ageNonceSize:], nil)
	if err != nil {
		return nil, false
	}
	return plain, true
}
