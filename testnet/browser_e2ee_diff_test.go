package testnet

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"parley/identity"
)

// Differential tests of the browser's decoders against package identity's: random inputs,
// the same verdict on both sides. The seed is logged, so that a failure can be replayed.
// TestBrowserE2EELib (browser_e2ee_lib_test.go) runs these.

// e2eeSeed is the seed of the random inputs: $PARLEY_E2EE_SEED, or the time.
func e2eeSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PARLEY_E2EE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PARLEY_E2EE_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (set PARLEY_E2EE_SEED to replay)", seed)
	return seed
}

// testE2EEHeaderDifferential parses random byte strings as SFrame headers on both sides.
func testE2EEHeaderDifferential(t *testing.T, b *Browser) {
	rng := rand.New(rand.NewPCG(e2eeSeed(t), 1))
	const n = 3000
	inputs := make([]string, n)
	for i := range inputs {
		buf := make([]byte, rng.IntN(19))
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		if len(buf) > 1 && rng.IntN(3) == 0 {
			buf[1] = 0 // leading zero bytes: not minimal
		}
		inputs[i] = hex.EncodeToString(buf)
	}
	got := e2eeRun[[]string](t, b, inputs, `
		return A.map((h) => {
			try { const p = sf.parseHeader(enc.fromHex(h)); return p.kid + ' ' + p.ctr + ' ' + p.size; }
			catch (e) { if (e.code !== 'header') throw e; return 'error'; }
		});`)
	bad := 0
	for i, h := range inputs {
		raw, _ := hex.DecodeString(h)
		want := "error"
		if kid, ctr, size, err := identity.ParseSFrameHeader(raw); err == nil {
			want = strconv.FormatUint(kid, 10) + " " + strconv.FormatUint(ctr, 10) + " " + strconv.Itoa(size)
		}
		if got[i] != want {
			if bad++; bad <= 10 {
				t.Errorf("header %s: browser %q, Go %q", h, got[i], want)
			}
		}
	}
	t.Logf("%d random headers, %d disagreements", n, bad)
}

// testE2EECertificateDifferential signs random edits of a valid certificate body with the
// node key and checks that Go and the browser accept exactly the same ones.
func testE2EECertificateDifferential(t *testing.T, b *Browser, w *e2eeWorld) {
	rng := rand.New(rand.NewPCG(e2eeSeed(t), 2))
	valid := w.browserCert.Body
	// Characters that make JSON, and the ones inside this body's values.
	const alphabet = `{}[]:,"\ -+.0123456789eEtrufalsn` + "\t\n" + `_abcdxyzAZ` + `u0`
	const n = 400
	certs := make([]identity.SignedObject, n)
	for i := range certs {
		body := []byte(valid)
		for range 1 + rng.IntN(2) {
			p := rng.IntN(len(body) + 1)
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0: // insert
				body = append(body[:p], append([]byte{c}, body[p:]...)...)
			case 1: // delete
				if p < len(body) {
					body = append(body[:p], body[p+1:]...)
				}
			default: // replace
				if p < len(body) {
					body[p] = c
				}
			}
		}
		text := string(body)
		certs[i] = identity.SignedObject{Body: text, Sig: base64.RawURLEncoding.EncodeToString(w.node.Sign([]byte(identity.CertificatePrefix + text)))}
	}
	got := e2eeRun[[]bool](t, b, map[string]any{"certs": certs, "node": w.nodeB64, "room": e2eeRoom}, `
		const out = [];
		for (const c of A.certs) {
			try { await cert.verifyCertificate(c, {trusted: [A.node], room: A.room}); out.push(true); }
			catch (e) { if (!(e instanceof cert.CertificateError)) throw e; out.push(false); }
		}
		return out;`)
	accepted, bad := 0, 0
	for i, c := range certs {
		_, err := identity.VerifyCertificate(c, w.trusts, e2eeRoom, time.Now())
		if err == nil {
			accepted++
		}
		if got[i] != (err == nil) {
			if bad++; bad <= 10 {
				t.Errorf("body %q: browser accepts %v, Go error %v", c.Body, got[i], err)
			}
		}
	}
	if accepted == 0 || accepted == n {
		t.Errorf("%d of %d edited bodies accepted: the edits test nothing", accepted, n)
	}
	t.Logf("%d edited certificate bodies (%d valid), %d disagreements", n, accepted, bad)
}
