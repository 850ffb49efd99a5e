package identity

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"testing"
)

// vectorsPath is the RFC 9605 Appendix C test vectors, kept beside the repository.
const vectorsPath = "../../shared/testdata/sframe/rfc9605-test-vectors.json"

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type rfc9605Vectors struct {
	Header []struct {
		KID     uint64   `json:"kid"`
		CTR     uint64   `json:"ctr"`
		Encoded hexBytes `json:"encoded"`
	} `json:"header"`
	SFrame []struct {
		CipherSuite uint16   `json:"cipher_suite"`
		KID         uint64   `json:"kid"`
		CTR         uint64   `json:"ctr"`
		BaseKey     hexBytes `json:"base_key"`
		Key         hexBytes `json:"sframe_key"`
		Salt        hexBytes `json:"sframe_salt"`
		Metadata    hexBytes `json:"metadata"`
		Nonce       hexBytes `json:"nonce"`
		AAD         hexBytes `json:"aad"`
		PT          hexBytes `json:"pt"`
		CT          hexBytes `json:"ct"`
	} `json:"sframe"`
}

func loadVectors(t testing.TB) *rfc9605Vectors {
	t.Helper()
	data, err := os.ReadFile(vectorsPath)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("RFC 9605 test vectors not found at %s; skipping", vectorsPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	var v rfc9605Vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse %s: %v", vectorsPath, err)
	}
	return &v
}

func TestSFrameHeaderVectors(t *testing.T) {
	v := loadVectors(t)
	if len(v.Header) == 0 {
		t.Fatal("no header vectors")
	}
	for _, h := range v.Header {
		got := AppendSFrameHeader([]byte{0xaa}, h.KID, h.CTR)
		if !bytes.Equal(got[1:], h.Encoded) || got[0] != 0xaa {
			t.Errorf("header(kid=%d, ctr=%d) = %x, want %x", h.KID, h.CTR, got[1:], h.Encoded)
		}
		if n := sframeHeaderLen(h.KID, h.CTR); n != len(h.Encoded) {
			t.Errorf("sframeHeaderLen(%d, %d) = %d, want %d", h.KID, h.CTR, n, len(h.Encoded))
		}
		trailer := append(append([]byte{}, h.Encoded...), 0xde, 0xad)
		kid, ctr, n, err := ParseSFrameHeader(trailer)
		if err != nil || kid != h.KID || ctr != h.CTR || n != len(h.Encoded) {
			t.Errorf("parse %x = (%d, %d, %d, %v), want (%d, %d, %d)", h.Encoded, kid, ctr, n, err, h.KID, h.CTR, len(h.Encoded))
		}
		for cut := range len(h.Encoded) {
			if _, _, _, err := ParseSFrameHeader(h.Encoded[:cut]); !errors.Is(err, ErrSFrameMalformed) {
				t.Errorf("parse of %x cut to %d bytes: err %v, want ErrSFrameMalformed", h.Encoded, cut, err)
			}
		}
	}
	t.Logf("%d header vectors", len(v.Header))
}

func TestSFrameHeaderRejectsNonMinimal(t *testing.T) {
	for _, h := range []string{
		"8007", // KID 7 in an extended byte
		"0807", // CTR 7 in an extended byte
		"900008",
		"09000f",
		"f0000000000000000001",
	} {
		b, _ := hex.DecodeString(h)
		if _, _, _, err := ParseSFrameHeader(b); !errors.Is(err, ErrSFrameMalformed) {
			t.Errorf("parse %s: err %v, want ErrSFrameMalformed", h, err)
		}
	}
}

func TestSFrameVectors(t *testing.T) {
	v := loadVectors(t)
	ran := 0
	for i, x := range v.SFrame {
		if x.CipherSuite != SuiteAES128GCMSHA256 {
			t.Logf("vector %d: cipher suite %d not implemented (only %d), skipped", i, x.CipherSuite, SuiteAES128GCMSHA256)
			continue
		}
		ran++
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			key, salt, err := deriveSFrameKey(x.BaseKey, x.KID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, x.Key) || !bytes.Equal(salt, x.Salt) {
				t.Fatalf("derived key %x salt %x, want %x %x", key, salt, x.Key, x.Salt)
			}
			k, err := NewSFrameKey(x.BaseKey, x.KID)
			if err != nil {
				t.Fatal(err)
			}
			if k.KID() != x.KID {
				t.Fatalf("KID() = %d", k.KID())
			}
			var s sframeScratch
			k.fillNonce(&s, x.CTR)
			if !bytes.Equal(s.nonce[:], x.Nonce) {
				t.Fatalf("nonce %x, want %x", s.nonce, x.Nonce)
			}
			aad := append(AppendSFrameHeader(nil, x.KID, x.CTR), x.Metadata...)
			if !bytes.Equal(aad, x.AAD) {
				t.Fatalf("aad %x, want %x", aad, x.AAD)
			}
			ct := k.Seal(nil, x.CTR, x.Metadata, x.PT)
			if !bytes.Equal(ct, x.CT) {
				t.Fatalf("ciphertext\n %x\nwant\n %x", ct, x.CT)
			}
			prefix := []byte("keep")
			ct2 := k.Seal(prefix, x.CTR, x.Metadata, x.PT)
			if !bytes.Equal(ct2[:4], prefix) || !bytes.Equal(ct2[4:], x.CT) {
				t.Fatalf("Seal after a prefix = %x", ct2)
			}
			ctr, pt, err := k.Open([]byte("pt:"), x.CT, x.Metadata)
			if err != nil || ctr != x.CTR || string(pt) != "pt:"+string(x.PT) {
				t.Fatalf("Open = %d, %q, %v", ctr, pt, err)
			}
			if _, _, err := k.Open(nil, x.CT, []byte("other metadata")); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open with other metadata: %v, want ErrDecrypt", err)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no vector for cipher suite 4")
	}
	t.Logf("%d suite-4 vectors checked, %d of other suites skipped", ran, len(v.SFrame)-ran)
}

func testKey(t testing.TB, kid uint64) *SFrameKey {
	t.Helper()
	base := bytes.Repeat([]byte{byte(kid) + 1}, BaseKeySize)
	k, err := NewSFrameKey(base, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewSFrameKeyRejectsBadBaseKey(t *testing.T) {
	for _, n := range []int{0, 15, 17, 32} {
		if _, err := NewSFrameKey(make([]byte, n), 1); err == nil {
			t.Errorf("%d-byte base key accepted", n)
		}
	}
}

func TestSFrameKeysDifferByKID(t *testing.T) {
	base := make([]byte, BaseKeySize)
	a, _ := NewSFrameKey(base, 1)
	b, _ := NewSFrameKey(base, 2)
	pt := []byte("same plaintext")
	ca, cb := a.Seal(nil, 9, nil, pt), b.Seal(nil, 9, nil, pt)
	if bytes.Equal(ca[1:], cb[1:]) {
		t.Fatal("two KIDs of one base key gave the same ciphertext")
	}
	if _, _, err := a.Open(nil, cb, nil); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("key 1 opening a KID 2 frame: %v, want ErrUnknownKID", err)
	}
}

func TestSFrameOpenInPlaceAndOverlap(t *testing.T) {
	k := testKey(t, 300)
	pt := bytes.Repeat([]byte("0123456789"), 20)
	meta := []byte("meta")
	for _, shift := range []int{0, 1, 5, 17, 40} {
		// Seal with the plaintext sitting at various places in the output buffer.
		buf := make([]byte, 0, 512)
		in := append(buf[shift:shift], pt...)
		sealed := k.Seal(buf[:0], 77, meta, in)
		want := k.Seal(nil, 77, meta, pt)
		if !bytes.Equal(sealed, want) {
			t.Fatalf("shift %d: in-place Seal differs", shift)
		}
		// And Open into the buffer holding the ciphertext.
		ctr, got, err := k.Open(sealed[:0], sealed, meta)
		if err != nil || ctr != 77 || !bytes.Equal(got, pt) {
			t.Fatalf("shift %d: in-place Open = %d, %v", shift, ctr, err)
		}
	}
}

func TestSFrameOpenRejects(t *testing.T) {
	k := testKey(t, 12)
	sealed := k.Seal(nil, 1000, nil, []byte("hello"))
	for i := range len(sealed) {
		if _, _, err := k.Open(nil, sealed[:i], nil); err == nil {
			t.Fatalf("open of %d of %d bytes succeeded", i, len(sealed))
		}
	}
	for i := range len(sealed) {
		bad := append([]byte{}, sealed...)
		bad[i] ^= 0x01
		if _, _, err := k.Open(nil, bad, nil); err == nil {
			t.Fatalf("open with byte %d flipped succeeded", i)
		}
	}
	if _, _, err := k.Open(nil, sealed, nil); err != nil {
		t.Fatalf("open of the untouched frame: %v", err)
	}
}
