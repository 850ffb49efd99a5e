package testnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/identity"
	"parley/node/web"
)

// The web client's end-to-end encryption library (node/web/static/e2ee) in a real headless
// Chromium: the RFC 9605 vectors, and byte-for-byte interoperation with package identity.

// e2eeCSP is the Content-Security-Policy the node serves the web client with (node/http.go):
// the library, its age bundle and its worker are tested under the same policy.
const e2eeCSP = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// e2eeBlankPage is the page the test imports the modules into.
const e2eeBlankPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>e2ee</title></head><body></body></html>`

// e2eeVectorsPath is the RFC 9605 Appendix C vectors, kept beside the repository.
const e2eeVectorsPath = "../../shared/testdata/sframe/rfc9605-test-vectors.json"

const e2eeRoom = "room-E2EE_1"

// e2eeServeStatic serves node/web/static under /static/ and a blank page at /, on loopback.
func e2eeServeStatic(t *testing.T) *httptest.Server {
	t.Helper()
	static, err := fs.Sub(web.Static, "static")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(e2eeBlankPage))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", e2eeCSP)
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// e2eePage opens the blank page and imports every module of the library as window.E.
func e2eePage(t *testing.T, b *Browser, base string) {
	t.Helper()
	b.Open(base + "/")
	ok, err := Eval[bool](b, `(async () => {
		const E = {};
		for (const n of ['encoding', 'sframe', 'identity', 'signed', 'cert', 'envelope', 'safety', 'keyring', 'transform']) {
			E[n] = await import(`+jsString(base+"/static/e2ee/")+` + n + '.js');
		}
		window.E = E;
		return true;
	})()`)
	if err != nil || !ok {
		t.Fatalf("import the e2ee modules: %v (console: %q)", err, b.ConsoleErrors())
	}
}

// e2eeRun runs body, the body of an async JavaScript function, in the page with the modules in
// scope (enc, sf, id, signed, cert, env, safety, keyring, transform) and args as A, and decodes what it
// returns into T. A thrown error fails the test with its stack.
func e2eeRun[T any](t *testing.T, b *Browser, args any, body string) T {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	js := `(async () => {
		const {encoding: enc, sframe: sf, identity: id, signed, cert, envelope: env, safety, keyring, transform} = window.E;
		const A = ` + string(a) + `;
		try {
			const v = await (async () => {` + body + `})();
			return JSON.stringify({ok: v === undefined ? null : v});
		} catch (e) {
			return JSON.stringify({err: String(e && e.stack || e)});
		}
	})()`
	out, err := Eval[string](b, js)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct {
		OK  json.RawMessage `json:"ok"`
		Err string          `json:"err"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("browser answer %q: %v", out, err)
	}
	if res.Err != "" {
		t.Fatalf("browser: %s", res.Err)
	}
	var v T
	if err := json.Unmarshal(res.OK, &v); err != nil {
		t.Fatalf("browser answer %s: %v", res.OK, err)
	}
	return v
}

type e2eeVectors struct {
	Header []struct {
		KID     uint64 `json:"kid"`
		CTR     uint64 `json:"ctr"`
		Encoded string `json:"encoded"`
	} `json:"header"`
	SFrame []struct {
		CipherSuite uint16 `json:"cipher_suite"`
		KID         uint64 `json:"kid"`
		CTR         uint64 `json:"ctr"`
		BaseKey     string `json:"base_key"`
		Key         string `json:"sframe_key"`
		Salt        string `json:"sframe_salt"`
		Metadata    string `json:"metadata"`
		Nonce       string `json:"nonce"`
		AAD         string `json:"aad"`
		PT          string `json:"pt"`
		CT          string `json:"ct"`
	} `json:"sframe"`
}

func e2eeLoadVectors(t *testing.T) *e2eeVectors {
	t.Helper()
	data, err := os.ReadFile(e2eeVectorsPath)
	if err != nil {
		t.Fatalf("RFC 9605 vectors: %v", err)
	}
	var v e2eeVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("parse %s: %v", e2eeVectorsPath, err)
	}
	return &v
}

// TestBrowserE2EELib runs the e2ee library in Chromium against the RFC 9605 vectors and
// against package identity: certificates, key envelopes, frames, chat and safety codes made
// on one side are read on the other; the transform worker decrypts, drops and reports frames,
// and encrypts a real WebRTC call end to end.
func TestBrowserE2EELib(t *testing.T) { forEachBrowser(t, testBrowserE2EELib) }

func testBrowserE2EELib(t *testing.T, kind string) {
	srv := e2eeServeStatic(t)
	b := NewBrowserOf(t, kind, "e2ee")
	e2eePage(t, b, srv.URL)

	t.Run("HeaderVectors", func(t *testing.T) { testE2EEHeaderVectors(t, b) })
	t.Run("HeaderDifferential", func(t *testing.T) { testE2EEHeaderDifferential(t, b) })
	t.Run("SFrameVectors", func(t *testing.T) { testE2EESFrameVectors(t, b) })
	t.Run("Identity", func(t *testing.T) { testE2EEIdentity(t, b, srv.URL) })

	w := newE2EEWorld(t, b)
	t.Run("Certificate", func(t *testing.T) { testE2EECertificate(t, b, w) })
	t.Run("CertificateStrict", func(t *testing.T) { testE2EECertificateStrict(t, b, w) })
	t.Run("CertificateDifferential", func(t *testing.T) { testE2EECertificateDifferential(t, b, w) })
	t.Run("EnvelopeGoToBrowser", func(t *testing.T) { testE2EEEnvelopeGoToBrowser(t, b, w) })
	t.Run("EnvelopeBrowserToGo", func(t *testing.T) { testE2EEEnvelopeBrowserToGo(t, b, w) })
	t.Run("SafetyCode", func(t *testing.T) { testE2EESafetyCode(t, b, w) })
	t.Run("FramesGoToBrowser", func(t *testing.T) { testE2EEFramesGoToBrowser(t, b) })
	t.Run("FramesBrowserToGo", func(t *testing.T) { testE2EEFramesBrowserToGo(t, b) })
	t.Run("KeyRing", func(t *testing.T) { testE2EEKeyRing(t, b) })
	t.Run("Worker", func(t *testing.T) { testE2EEWorker(t, b) })
	t.Run("WebRTC", func(t *testing.T) { testE2EEWebRTC(t, b) })
}

func testE2EEHeaderVectors(t *testing.T, b *Browser) {
	v := e2eeLoadVectors(t)
	type in struct{ KID, CTR, Hex string }
	var ins []in
	for _, h := range v.Header {
		ins = append(ins, in{strconv.FormatUint(h.KID, 10), strconv.FormatUint(h.CTR, 10), h.Encoded})
	}
	type out struct {
		Enc  string `json:"enc"`
		KID  string `json:"kid"`
		CTR  string `json:"ctr"`
		Size int    `json:"size"`
	}
	got := e2eeRun[[]out](t, b, ins, `
		return A.map((h) => {
			const p = sf.parseHeader(enc.fromHex(h.Hex + 'dead'));
			return {enc: enc.hex(sf.encodeHeader(BigInt(h.KID), BigInt(h.CTR))), kid: String(p.kid), ctr: String(p.ctr), size: p.size};
		});`)
	if len(got) != len(v.Header) || len(got) == 0 {
		t.Fatalf("%d answers for %d header vectors", len(got), len(v.Header))
	}
	for i, h := range v.Header {
		g := got[i]
		if g.Enc != h.Encoded || g.KID != ins[i].KID || g.CTR != ins[i].CTR || g.Size != len(h.Encoded)/2 {
			t.Errorf("header vector kid=%d ctr=%d %s: browser encodes %s, parses kid=%s ctr=%s size=%d", h.KID, h.CTR, h.Encoded, g.Enc, g.KID, g.CTR, g.Size)
		}
	}

	// Headers that are cut off or not minimal: Go and the browser both refuse them.
	bad := []string{"", "88", "8807", "0807", "9000ff", "0f00", "08", "ff01020304050607", "98000101"}
	refused := e2eeRun[[]bool](t, b, bad, `
		return A.map((h) => { try { sf.parseHeader(enc.fromHex(h)); return false; } catch (e) { return e.code === 'header'; } });`)
	for i, h := range bad {
		raw, _ := hex.DecodeString(h)
		_, _, _, goErr := identity.ParseSFrameHeader(raw)
		if goErr == nil || !refused[i] {
			t.Errorf("malformed header %q: Go error %v, browser refused %v", h, goErr, refused[i])
		}
	}
	t.Logf("%d header vectors and %d malformed headers agree", len(v.Header), len(bad))
}

func testE2EESFrameVectors(t *testing.T, b *Browser) {
	v := e2eeLoadVectors(t)
	n := 0
	for _, s := range v.SFrame {
		if s.CipherSuite != identity.SuiteAES128GCMSHA256 {
			continue
		}
		n++
		type out struct {
			Key, Salt, Nonce, AAD, CT, PT string
			Tampered                      string
		}
		got := e2eeRun[out](t, b, s, `
			const base = enc.fromHex(A.base_key), md = enc.fromHex(A.metadata);
			const kid = BigInt(A.kid), ctr = BigInt(A.ctr);
			const m = await sf.deriveKeyMaterial(base, kid);
			const key = await sf.SFrameKey.create(base, kid);
			const ct = await sf.seal(key, ctr, md, enc.fromHex(A.pt));
			const vec = enc.fromHex(A.ct);
			const pt = await sf.open(key, sf.parseHeader(vec), vec, md);
			const bad = vec.slice(); bad[bad.length - 1] ^= 1;
			let tampered = 'opened';
			try { await sf.open(key, sf.parseHeader(bad), bad, md); } catch (e) { tampered = e.code; }
			return {Key: enc.hex(m.key), Salt: enc.hex(m.salt), Nonce: enc.hex(key.nonce(ctr)),
				AAD: enc.hex(enc.concat(sf.encodeHeader(kid, ctr), md)), CT: enc.hex(ct), PT: enc.hex(pt), Tampered: tampered};`)
		want := out{Key: s.Key, Salt: s.Salt, Nonce: s.Nonce, AAD: s.AAD, CT: s.CT, PT: s.PT, Tampered: "auth"}
		if got != want {
			t.Errorf("suite 4 vector kid=%d ctr=%d:\n browser %+v\n want    %+v", s.KID, s.CTR, got, want)
		}
	}
	if n == 0 {
		t.Fatal("no suite 4 vectors")
	}
	t.Logf("%d suite 4 vector(s) agree", n)
}

// testE2EEIdentity: the identity is made once, kept in IndexedDB across visits, and its
// private keys cannot be read out.
func testE2EEIdentity(t *testing.T, b *Browser, base string) {
	type pub struct {
		SigPub      string `json:"sig_pub"`
		Age         string `json:"age"`
		Extractable bool   `json:"extractable"`
		Export      string `json:"export"`
	}
	load := `
		window.me = await id.loadIdentity('e2ee-test');
		let exported = 'refused';
		try { await crypto.subtle.exportKey('pkcs8', window.me.keys.sign.privateKey); exported = 'sign'; } catch {}
		try { await crypto.subtle.exportKey('pkcs8', window.me.ageIdentity); exported = 'age'; } catch {}
		return {sig_pub: window.me.sigPub, age: window.me.ageRecipient, extractable: window.me.extractable, export: exported};`
	first := e2eeRun[pub](t, b, nil, load)
	if _, err := identity.ParsePublicIdentity(first.SigPub, first.Age); err != nil {
		t.Fatalf("browser identity %+v does not parse in Go: %v", first, err)
	}
	if first.Extractable || first.Export != "refused" {
		t.Errorf("browser private keys can be read out: extractable %v, export %s", first.Extractable, first.Export)
	}
	e2eePage(t, b, base) // a new visit
	again := e2eeRun[pub](t, b, nil, load)
	if again != first {
		t.Errorf("identity after a reload %+v, before %+v", again, first)
	}
	other := e2eeRun[pub](t, b, nil, `const o = await id.generateIdentity(); return {sig_pub: o.sigPub, age: o.ageRecipient};`)
	if other.SigPub == first.SigPub || other.Age == first.Age {
		t.Error("generateIdentity returned the stored keys")
	}
}

// e2eeWorld is the Go side of the interop tests: a node key, a Go participant, the browser's
// certificate and the Go participant's.
type e2eeWorld struct {
	node        *identity.NodeKey
	nodeB64     string
	goUser      *identity.UserIdentity
	goCert      identity.SignedObject
	browserPub  identity.PublicIdentity
	browserCert identity.SignedObject
	browserBody *identity.CertBody
}

const (
	e2eeBrowserID  = "browser-1"
	e2eeBrowserTag = 7
	e2eeGoID       = "go-1"
	e2eeGoTag      = 3
)

func newE2EEWorld(t *testing.T, b *Browser) *e2eeWorld {
	t.Helper()
	keys := e2eeRun[map[string]string](t, b, nil, `
		if (!window.me) window.me = await id.loadIdentity('e2ee-test');
		return window.me.publicKeys();`)
	pub, err := identity.ParsePublicIdentity(keys["sig_pub"], keys["age"])
	if err != nil {
		t.Fatal(err)
	}
	nk, err := identity.GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	goUser, err := identity.GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	w := &e2eeWorld{node: nk, nodeB64: base64.RawURLEncoding.EncodeToString(nk.PublicKey()), goUser: goUser, browserPub: pub}
	w.browserCert = w.issue(t, e2eeBrowserID, e2eeBrowserTag, "Brö Wser", pub)
	w.goCert = w.issue(t, e2eeGoID, e2eeGoTag, "Go Pher", goUser.Public())
	w.browserBody, err = identity.VerifyCertificate(w.browserCert, w.trusts, e2eeRoom, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// trusts accepts the world's node key only.
func (w *e2eeWorld) trusts(k ed25519.PublicKey) bool { return k.Equal(w.node.PublicKey()) }

func (w *e2eeWorld) issue(t *testing.T, id string, tag uint32, name string, p identity.PublicIdentity) identity.SignedObject {
	t.Helper()
	now := time.Now()
	cert, err := identity.IssueCertificate(w.node, identity.CertBody{
		ID: id, Tag: tag, Name: name, Org: "Ministry of Tests", Room: e2eeRoom,
		SigPub: p.SigPub, Age: p.Age, IAT: now.Unix(), EXP: now.Add(identity.CertificateLifetime).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// e2eeFlipLast replaces the last character of a Bech32 string with another of the alphabet.
func e2eeFlipLast(s string) string {
	if strings.HasSuffix(s, "q") {
		return s[:len(s)-1] + "p"
	}
	return s[:len(s)-1] + "q"
}

func e2eeRandomKey(t *testing.T) []byte {
	k := make([]byte, identity.BaseKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// e2eeOpenEnvelope verifies the sender's certificate and opens env as the browser participant;
// it returns the KID and key, or the error's class and text.
func e2eeOpenEnvelope(t *testing.T, b *Browser, w *e2eeWorld, env identity.SignedObject) (kid uint64, key, errName string) {
	t.Helper()
	type res struct {
		KID  uint64 `json:"kid"`
		Key  string `json:"key"`
		Err  string `json:"err"`
		Name string `json:"name"`
	}
	r := e2eeRun[res](t, b, map[string]any{"cert": w.goCert, "env": env, "node": w.nodeB64, "room": e2eeRoom}, `
		const sender = await cert.verifyCertificate(A.cert, {trusted: [A.node], room: A.room});
		try {
			const got = await env.openEnvelope(A.env, {sender, identity: window.me, room: A.room});
			return {kid: got.kid, key: enc.hex(got.key)};
		} catch (e) {
			if (!(e instanceof env.EnvelopeError || e instanceof env.NotForMeError)) throw e;
			return {err: e.message, name: e.name};
		}`)
	if r.Err != "" {
		return 0, "", r.Name + ": " + r.Err
	}
	return r.KID, r.Key, ""
}

func testE2EEEnvelopeGoToBrowser(t *testing.T, b *Browser, w *e2eeWorld) {
	other, _ := identity.GenerateUserIdentity()
	base := e2eeRandomKey(t)
	kid := identity.KIDOf(e2eeGoTag, 4)
	to := []identity.Recipient{{ID: "go-2", Age: other.AgeRecipient()}, {ID: e2eeBrowserID, Age: w.browserPub.Age}}
	env, err := identity.SealKeyEnvelope(w.goUser, e2eeRoom, e2eeGoID, kid, base, to, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gotKID, gotKey, errText := e2eeOpenEnvelope(t, b, w, env)
	if errText != "" || gotKID != kid || gotKey != hex.EncodeToString(base) {
		t.Fatalf("browser opened the Go envelope as kid %d key %s (error %q), want kid %d key %x", gotKID, gotKey, errText, kid, base)
	}

	notMine, _ := identity.SealKeyEnvelope(w.goUser, e2eeRoom, e2eeGoID, kid+1, base, to[:1], time.Now())
	wrongTag, _ := identity.SealKeyEnvelope(w.goUser, e2eeRoom, e2eeGoID, identity.KIDOf(e2eeGoTag+1, 0), base, to, time.Now())
	otherRoom, _ := identity.SealKeyEnvelope(w.goUser, "room-other", e2eeGoID, kid, base, to, time.Now())
	forged, _ := identity.SealKeyEnvelope(other, e2eeRoom, e2eeGoID, kid, base, to, time.Now()) // not the sender's key
	tampered := env
	tampered.Body = strings.Replace(env.Body, `"iat_ms":`, `"iat_ms":1`, 1)
	cases := []struct {
		name string
		env  identity.SignedObject
		want string
	}{
		{"not addressed to the browser", notMine, "NotForMeError"},
		{"KID under another tag", wrongTag, "EnvelopeError"},
		{"other room", otherRoom, "EnvelopeError"},
		{"signed by someone else", forged, "EnvelopeError"},
		{"body changed", tampered, "EnvelopeError"},
	}
	for _, c := range cases {
		if _, _, errText := e2eeOpenEnvelope(t, b, w, c.env); !strings.HasPrefix(errText, c.want+":") {
			t.Errorf("%s: browser says %q, want %s", c.name, errText, c.want)
		}
	}
	t.Logf("Go envelope opened in the browser; %d bad ones refused", len(cases))
}

func testE2EEEnvelopeBrowserToGo(t *testing.T, b *Browser, w *e2eeWorld) {
	kid := identity.KIDOf(e2eeBrowserTag, 2)
	type res struct {
		Env identity.SignedObject `json:"env"`
		Key string                `json:"key"`
	}
	r := e2eeRun[res](t, b, map[string]any{"kid": kid, "room": e2eeRoom, "from": e2eeBrowserID, "go": e2eeGoID, "goAge": w.goUser.AgeRecipient()}, `
		const key = crypto.getRandomValues(new Uint8Array(16));
		const o = await env.sealEnvelope(window.me, {room: A.room, from: A.from, kid: A.kid, baseKey: key,
			to: [{id: A.go, age: A.goAge}, {id: A.from, age: window.me.ageRecipient}]});
		return {env: o, key: enc.hex(key)};`)
	gotKID, gotKey, err := identity.OpenKeyEnvelope(r.Env, w.browserBody, w.goUser, e2eeRoom)
	if err != nil || gotKID != kid || hex.EncodeToString(gotKey) != r.Key {
		t.Fatalf("Go opened the browser envelope as kid %d key %x (error %v), want kid %d key %s", gotKID, gotKey, err, kid, r.Key)
	}
	body, err := identity.ParseEnvelope(r.Env)
	if err != nil || body.From != e2eeBrowserID || strings.Join(body.To, ",") != e2eeGoID+","+e2eeBrowserID {
		t.Errorf("envelope body %+v, %v", body, err)
	}
	if err := identity.VerifyEnvelopeSignature(r.Env, w.browserPub.SigPub); err != nil {
		t.Errorf("node-side signature check: %v", err)
	}
	other, _ := identity.GenerateUserIdentity()
	if _, _, err := identity.OpenKeyEnvelope(r.Env, w.browserBody, other, e2eeRoom); err == nil {
		t.Error("a participant not in to opened the browser's envelope")
	}
}

func testE2EESafetyCode(t *testing.T, b *Browser, w *e2eeWorld) {
	goPub := w.goUser.Public()
	codes := e2eeRun[[]string](t, b, map[string]any{"sig": base64.RawURLEncoding.EncodeToString(goPub.SigPub), "age": goPub.Age}, `
		const me = {sigPub: window.me.sigPub, age: window.me.ageRecipient}, other = {sigPub: A.sig, age: A.age};
		return [await safety.safetyCode(me, other), await safety.safetyCode(other, me)];`)
	want := identity.SafetyCode(w.browserPub, goPub)
	if codes[0] != want || codes[1] != want {
		t.Errorf("safety code: browser %q, Go %q", codes, want)
	}
}
