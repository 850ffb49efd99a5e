package testnet

// Certificates made by package identity, checked by the web client's e2ee/cert.js: part of
// TestBrowserE2EELib.

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/identity"
)

// e2eeVerifyCert runs verifyCertificate on cert and returns the body it accepted, or the
// error's text.
func e2eeVerifyCert(t *testing.T, b *Browser, cert identity.SignedObject, trusted, room string, now int64) (map[string]any, string) {
	t.Helper()
	type res struct {
		Body map[string]any `json:"body"`
		Err  string         `json:"err"`
	}
	r := e2eeRun[res](t, b, map[string]any{"cert": cert, "trusted": trusted, "room": room, "now": now}, `
		try {
			const b = await cert.verifyCertificate(A.cert, {trusted: [A.trusted], room: A.room, now: A.now || undefined});
			delete b.nodeKey; delete b.sigPubKey;
			return {body: b};
		} catch (e) {
			if (!(e instanceof cert.CertificateError)) throw e;
			return {err: e.message};
		}`)
	return r.Body, r.Err
}

func testE2EECertificate(t *testing.T, b *Browser, w *e2eeWorld) {
	body, errText := e2eeVerifyCert(t, b, w.browserCert, w.nodeB64, e2eeRoom, 0)
	if errText != "" {
		t.Fatalf("Go certificate refused in the browser: %s", errText)
	}
	gb := w.browserBody
	want := map[string]any{
		"v": 1.0, "id": gb.ID, "tag": float64(gb.Tag), "name": gb.Name, "org": gb.Org, "node": w.nodeB64,
		"room": gb.Room, "sig_pub": base64.RawURLEncoding.EncodeToString(gb.SigPub), "age": gb.Age,
		"iat": float64(gb.IAT), "exp": float64(gb.EXP), "verified": false, "agent": false,
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("certificate %s: browser %v, Go %v", k, body[k], v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("browser certificate body has %d fields: %v", len(body), body)
	}

	other, _ := identity.GenerateNodeKey()
	tamperedBody := w.browserCert
	tamperedBody.Body = strings.Replace(tamperedBody.Body, "Brö Wser", "Mallory", 1)
	tamperedSig := w.browserCert
	sig := []byte(tamperedSig.Sig)
	sig[10] ^= 'A' ^ 'B'
	tamperedSig.Sig = string(sig)
	cases := []struct {
		name    string
		cert    identity.SignedObject
		trusted string
		room    string
		now     int64
	}{
		{"body changed", tamperedBody, w.nodeB64, e2eeRoom, 0},
		{"signature changed", tamperedSig, w.nodeB64, e2eeRoom, 0},
		{"untrusted node", w.browserCert, base64.RawURLEncoding.EncodeToString(other.PublicKey()), e2eeRoom, 0},
		{"other room", w.browserCert, w.nodeB64, "room-other", 0},
		{"expired", w.browserCert, w.nodeB64, e2eeRoom, gb.EXP + 1},
		{"not yet valid", w.browserCert, w.nodeB64, e2eeRoom, gb.IAT - 61},
	}
	for _, c := range cases {
		if _, errText := e2eeVerifyCert(t, b, c.cert, c.trusted, c.room, c.now); errText == "" {
			t.Errorf("%s: the browser accepted the certificate", c.name)
		}
	}
	if _, errText := e2eeVerifyCert(t, b, w.browserCert, w.nodeB64, e2eeRoom, gb.IAT-60); errText != "" {
		t.Errorf("certificate 60 s before iat refused: %s", errText)
	}
	t.Logf("Go certificate accepted; %d tampered or misused ones refused", len(cases))

	// A signed-in person's certificate (version 2) is verified, with its account.
	now := time.Now()
	signedIn, err := identity.IssueCertificate(w.node, identity.CertBody{
		ID: "p-signed-in", Tag: 99, Name: "Camille Dupont", Org: "Ministry of Tests", Room: e2eeRoom,
		SigPub: gb.SigPub, Age: gb.Age, IAT: now.Unix(), EXP: now.Add(identity.CertificateLifetime).Unix(),
		Issuer: "https://idp.example", Subject: "camille", Email: "camille@example.org",
	})
	if err != nil {
		t.Fatal(err)
	}
	body, errText = e2eeVerifyCert(t, b, signedIn, w.nodeB64, e2eeRoom, 0)
	if errText != "" || body["verified"] != true || body["v"] != 2.0 || body["sub"] != "camille" || body["email"] != "camille@example.org" || body["iss"] != "https://idp.example" {
		t.Errorf("signed-in certificate: %v %s", body, errText)
	}
}

// testE2EECertificateStrict signs odd bodies with the node key: Go and the browser must both
// refuse each, and both accept an equivalent body spelled differently.
func testE2EECertificateStrict(t *testing.T, b *Browser, w *e2eeWorld) {
	gb := w.browserBody
	now := time.Now().Unix()
	field := func(k string, v any) string {
		j, _ := json.Marshal(v)
		return strconv.Quote(k) + ":" + string(j)
	}
	fields := []string{
		field("v", 1), field("id", gb.ID), field("tag", gb.Tag), field("name", gb.Name), field("org", gb.Org),
		field("node", w.nodeB64), field("room", gb.Room), field("sig_pub", base64.RawURLEncoding.EncodeToString(gb.SigPub)),
		field("age", gb.Age), field("iat", now), field("exp", now+3600),
	}
	body := func(fs ...string) string { return "{" + strings.Join(fs, ",") + "}" }
	with := func(i int, f string) []string { c := append([]string(nil), fields...); c[i] = f; return c }
	bodies := map[string]string{
		"repeated member":  body(append(fields, field("name", "Other"))...),
		"unknown member":   body(append(fields, field("extra", 1))...),
		"missing member":   body(fields[:10]...),
		"null member":      body(with(3, `"name":null`)...),
		"float tag":        body(with(2, `"tag":7.0`)...),
		"exponent iat":     body(with(9, `"iat":`+strconv.FormatInt(now/10, 10)+`0e0`)...),
		"negative tag":     body(with(2, `"tag":-7`)...),
		"tag over 2^32":    body(with(2, `"tag":4294967296`)...),
		"capitalised name": body(with(3, `"Name":"Brö Wser"`)...),
		"blank name":       body(with(3, field("name", "   "))...),
		"control in name":  body(with(3, field("name", "a\u0007b"))...),
		"upper-case age":   body(with(8, field("age", strings.ToUpper(gb.Age)))...),
		"bad age checksum": body(with(8, field("age", e2eeFlipLast(gb.Age)))...),
		"long lifetime":    body(with(10, field("exp", now+12*3600+1))...),
		"version 2":        body(with(0, field("v", 2))...),
		"guest claims account": body(append(fields, field("iss", "https://idp.example"), field("sub", "camille"),
			field("email", ""))...),
		"v2 without email": body(append(with(0, field("v", 2)), field("iss", "https://idp.example"), field("sub", "camille"))...),
		"v2 blank subject": body(append(with(0, field("v", 2)), field("iss", "https://idp.example"), field("sub", " "),
			field("email", ""))...),
		"bad room id":   body(with(6, field("room", "room E2EE"))...),
		"short sig_pub": body(with(7, field("sig_pub", base64.RawURLEncoding.EncodeToString(gb.SigPub[:31])))...),
		"trailing data": body(fields...) + "{}",
		"array":         "[" + body(fields...) + "]",
	}
	sign := func(text string) identity.SignedObject {
		return identity.SignedObject{Body: text, Sig: base64.RawURLEncoding.EncodeToString(w.node.Sign([]byte(identity.CertificatePrefix + text)))}
	}
	trusted := w.trusts
	for name, text := range bodies {
		o := sign(text)
		_, goErr := identity.VerifyCertificate(o, trusted, e2eeRoom, time.Now())
		_, browserErr := e2eeVerifyCert(t, b, o, w.nodeB64, e2eeRoom, 0)
		if goErr == nil || browserErr == "" {
			t.Errorf("%s: Go error %v, browser error %q; both must refuse %s", name, goErr, browserErr, text)
		}
	}
	// The same certificate in another member order with whitespace: both accept.
	reordered := " {\n" + strings.Join(append(append([]string(nil), fields[5:]...), fields[:5]...), " ,\n") + "}\n"
	o := sign(reordered)
	if _, err := identity.VerifyCertificate(o, trusted, e2eeRoom, time.Now()); err != nil {
		t.Errorf("Go refuses the reordered body: %v", err)
	}
	if _, errText := e2eeVerifyCert(t, b, o, w.nodeB64, e2eeRoom, 0); errText != "" {
		t.Errorf("browser refuses the reordered body: %s", errText)
	}
	t.Logf("%d malformed certificate bodies refused by both; a reordered one accepted by both", len(bodies))
}
