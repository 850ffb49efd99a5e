package identity

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// certNow is the issue time of the test certificates.
var certNow = time.Unix(1_700_000_000, 0)

func certBodyFor(nk *NodeKey, u *UserIdentity, id string, tag uint32) CertBody {
	return CertBody{
		V: 1, ID: id, Tag: tag, Name: "Ada Lovelace", Org: "Example <Org> & Co",
		Node: nk.PublicKey(), Room: testRoom, SigPub: u.SigPub(), Age: u.AgeRecipient(),
		IAT: certNow.Unix(), EXP: certNow.Add(CertificateLifetime).Unix(),
	}
}

func issueCert(t testing.TB, nk *NodeKey, u *UserIdentity, id string, tag uint32) (SignedObject, *CertBody) {
	t.Helper()
	b := certBodyFor(nk, u, id, tag)
	o, err := IssueCertificate(nk, b)
	if err != nil {
		t.Fatal(err)
	}
	return o, &b
}

// rawCert is the JSON text of b's body with fields replaced or added by extra (name -> raw
// JSON value, "" to drop the field), in the wire order.
func rawCert(b CertBody, extra map[string]string) string {
	enc, _ := b.MarshalJSON()
	var m map[string]json.RawMessage
	_ = json.Unmarshal(enc, &m)
	var parts []string
	for _, f := range certFields {
		v := string(m[f])
		if x, ok := extra[f]; ok {
			v = x
		}
		if v != "" {
			parts = append(parts, fmt.Sprintf("%q:%s", f, v))
		}
	}
	for k, v := range extra {
		if _, known := m[k]; !known {
			parts = append(parts, fmt.Sprintf("%q:%s", k, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestCertificateIssueVerify(t *testing.T) {
	nk, u := newNode(t), newUser(t)
	o, want := issueCert(t, nk, u, "p_1-X", 7)
	if !strings.HasPrefix(o.Body, `{"v":1,"id":"p_1-X","tag":7,"name":"Ada Lovelace","org":"Example <Org> & Co","node":"`) {
		t.Errorf("body %s: not in the documented order or HTML-escaped", o.Body)
	}
	got, err := VerifyCertificate(o, trustOnly(nk.PublicKey()), testRoom, certNow)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*want) {
		t.Errorf("verified body %+v, want %+v", *got, *want)
	}
	// The validity window is iat-60 <= now <= exp, in whole seconds.
	for _, now := range []time.Time{certNow.Add(-60 * time.Second), certNow.Add(CertificateLifetime), certNow.Add(CertificateLifetime + 999*time.Millisecond)} {
		if _, err := VerifyCertificate(o, trustOnly(nk.PublicKey()), testRoom, now); err != nil {
			t.Errorf("at %v: %v", now.Sub(certNow), err)
		}
	}
	// Node nil is filled in, V 0 means 1.
	b := certBodyFor(nk, u, "p1", 1)
	b.Node, b.V = nil, 0
	if o, err := IssueCertificate(nk, b); err != nil {
		t.Error(err)
	} else if _, err := VerifyCertificate(o, trustOnly(nk.PublicKey()), testRoom, certNow); err != nil {
		t.Error(err)
	}
}

func TestCertificateRejected(t *testing.T) {
	nk, u, other := newNode(t), newUser(t), newNode(t)
	o, b := issueCert(t, nk, u, "p1", 7)
	trusted := trustOnly(nk.PublicKey(), other.PublicKey())
	signed := func(body string) SignedObject { return signObject(nk.PrivateKey(), CertificatePrefix, []byte(body)) }
	tampered := o
	tampered.Body = strings.Replace(o.Body, `"tag":7`, `"tag":8`, 1)
	foreign := *b
	foreign.Node = other.PublicKey()
	long := *b
	long.EXP = long.IAT + int64(CertificateLifetime/time.Second) + 1
	cases := map[string]struct {
		o       SignedObject
		trusted func(ed25519.PublicKey) bool
		room    string
		now     time.Time
		sig     bool // also ErrBadSignature
	}{
		"untrusted node":    {o: o, trusted: trustOnly(other.PublicKey())},
		"no trust function": {o: o, trusted: nil},
		"tampered body":     {o: tampered, sig: true},
		"bad sig":           {o: SignedObject{Body: o.Body, Sig: signed(o.Body + " ").Sig}, sig: true},
		"sig of other node": {o: signObject(other.PrivateKey(), CertificatePrefix, []byte(o.Body)), sig: true},
		"envelope prefix":   {o: signObject(nk.PrivateKey(), EnvelopePrefix, []byte(o.Body)), sig: true},
		"claims other node": {o: signed(rawCert(foreign, nil)), sig: true},
		"other room":        {o: o, room: "zyxwvutsrqponmlkjihgfedcba"},
		"expired":           {o: o, now: certNow.Add(CertificateLifetime + time.Second)},
		"not yet valid":     {o: o, now: certNow.Add(-61 * time.Second)},
		"lifetime over 12h": {o: signed(rawCert(long, nil))},
		"oversize":          {o: signed(rawCert(*b, nil) + strings.Repeat(" ", MaxBody))},
		"unknown field":     {o: signed(rawCert(*b, map[string]string{"admin": "true"}))},
		"missing field":     {o: signed(rawCert(*b, map[string]string{"org": ""}))},
		"null field":        {o: signed(rawCert(*b, map[string]string{"tag": "null"}))},
		"trailing data":     {o: signed(rawCert(*b, nil) + `{}`)},
		"duplicate key":     {o: signed(strings.Replace(rawCert(*b, nil), `"tag":7`, `"tag":7,"tag":9`, 1))},
		"field name case":   {o: signed(strings.Replace(rawCert(*b, nil), `"tag"`, `"TAG"`, 1))},
		"version 2":         {o: signed(rawCert(*b, map[string]string{"v": "2"}))},
		"float tag":         {o: signed(rawCert(*b, map[string]string{"tag": "7.0"}))},
		"negative tag":      {o: signed(rawCert(*b, map[string]string{"tag": "-7"}))},
		"bad id":            {o: signed(rawCert(*b, map[string]string{"id": `"p 1"`}))},
		"long id":           {o: signed(rawCert(*b, map[string]string{"id": `"` + strings.Repeat("a", MaxIDLen+1) + `"`}))},
		"empty name":        {o: signed(rawCert(*b, map[string]string{"name": `"  "`}))},
		"control in name":   {o: signed(rawCert(*b, map[string]string{"name": `"Ada\u0007"`}))},
		"long name":         {o: signed(rawCert(*b, map[string]string{"name": `"` + strings.Repeat("é", MaxNameLen+1) + `"`}))},
		"padded sig_pub":    {o: signed(rawCert(*b, map[string]string{"sig_pub": `"` + encodeB64u(b.SigPub) + `="`}))},
		"short sig_pub":     {o: signed(rawCert(*b, map[string]string{"sig_pub": `"` + encodeB64u(b.SigPub[:31]) + `"`}))},
		"upper-case age":    {o: signed(rawCert(*b, map[string]string{"age": `"` + strings.ToUpper(b.Age) + `"`}))},
		"not an age key":    {o: signed(rawCert(*b, map[string]string{"age": `"age1qqqq"`}))},
		"not an object":     {o: signed(`[1,2,3]`)},
		"invalid UTF-8":     {o: signed(strings.Replace(rawCert(*b, nil), "Lovelace", "Love\xfflace", 1))},
	}
	for name, c := range cases {
		room, now := testRoom, certNow
		if c.room != "" {
			room = c.room
		}
		if !c.now.IsZero() {
			now = c.now
		}
		if name != "no trust function" && c.trusted == nil {
			c.trusted = trusted
		}
		_, err := VerifyCertificate(c.o, c.trusted, room, now)
		if !errors.Is(err, ErrBadCertificate) {
			t.Errorf("%s: %v, want ErrBadCertificate", name, err)
			continue
		}
		if c.sig != errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v: ErrBadSignature is %v, want %v", name, err, !c.sig, c.sig)
		}
	}
}

func TestIssueCertificateValidates(t *testing.T) {
	nk, u := newNode(t), newUser(t)
	mods := map[string]func(*CertBody){
		"version 2":       func(b *CertBody) { b.V = 2 },
		"other node":      func(b *CertBody) { b.Node = newNode(t).PublicKey() },
		"empty id":        func(b *CertBody) { b.ID = "" },
		"id with slash":   func(b *CertBody) { b.ID = "a/b" },
		"id of 65 bytes":  func(b *CertBody) { b.ID = strings.Repeat("a", 65) },
		"room with space": func(b *CertBody) { b.Room = "a b" },
		"blank name":      func(b *CertBody) { b.Name = " \t" },
		"name of 65":      func(b *CertBody) { b.Name = strings.Repeat("ß", 65) },
		"newline in name": func(b *CertBody) { b.Name = "Ada\nLovelace" },
		"invalid UTF-8":   func(b *CertBody) { b.Name = "Ada\xc3" },
		"empty org":       func(b *CertBody) { b.Org = "" },
		"org of 201":      func(b *CertBody) { b.Org = strings.Repeat("o", 201) },
		"short sig_pub":   func(b *CertBody) { b.SigPub = b.SigPub[:16] },
		"bad age":         func(b *CertBody) { b.Age = "age1" },
		"no iat":          func(b *CertBody) { b.IAT = 0 },
		"exp before iat":  func(b *CertBody) { b.EXP = b.IAT - 1 },
		"13 hours":        func(b *CertBody) { b.EXP = b.IAT + 13*3600 },
	}
	for name, mod := range mods {
		b := certBodyFor(nk, u, "p1", 1)
		mod(&b)
		if _, err := IssueCertificate(nk, b); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
	b := certBodyFor(nk, u, strings.Repeat("a", 64), 1<<32-1)
	b.Name, b.Org = strings.Repeat("ß", 64), strings.Repeat("o", 200)
	if _, err := IssueCertificate(nk, b); err != nil {
		t.Errorf("longest fields: %v", err)
	}
}

// FuzzVerifyCertificate signs whatever body it is given with a trusted node key, so that the
// fuzzer reaches the parser and every check after the signature. It must never panic, and
// whatever it accepts must encode back to a body that verifies the same.
func FuzzVerifyCertificate(f *testing.F) {
	nk, u := newNode(f), newUser(f)
	o, b := issueCert(f, nk, u, "p1", 7)
	f.Add(o.Body, false)
	f.Add(o.Body, true)
	f.Add(rawCert(*b, map[string]string{"tag": "7,\"tag\":8"}), false)
	f.Add(rawCert(*b, map[string]string{"name": `"\ud800"`}), false)
	f.Add(`{"v":1}`, false)
	v2 := *b
	v2.V, v2.Issuer, v2.Subject, v2.Email = 2, "https://idp.example", "sub", "a@b.example"
	raw, _ := v2.MarshalJSON()
	f.Add(string(raw), false)
	f.Add(strings.Replace(string(raw), `"v":2`, `"v":1`, 1), false)
	trusted := trustOnly(nk.PublicKey())
	f.Fuzz(func(t *testing.T, body string, unsigned bool) {
		o := signObject(nk.PrivateKey(), CertificatePrefix, []byte(body))
		if unsigned {
			o.Sig = body
		}
		got, err := VerifyCertificate(o, trusted, testRoom, certNow)
		if err != nil {
			if !errors.Is(err, ErrBadCertificate) {
				t.Fatalf("error %v does not wrap ErrBadCertificate", err)
			}
			return
		}
		again, err := IssueCertificate(nk, *got)
		if err != nil {
			t.Fatalf("accepted body %q does not issue again: %v", body, err)
		}
		got2, err := VerifyCertificate(again, trusted, testRoom, certNow)
		if err != nil || fmt.Sprint(*got2) != fmt.Sprint(*got) {
			t.Fatalf("round trip of %q: %+v, %v", body, got2, err)
		}
	})
}

// A person the home node signed in gets a version 2 certificate naming their identity
// provider account; a guest's version 1 certificate cannot claim one.
func TestCertificateSignedIn(t *testing.T) {
	nk, u := newNode(t), newUser(t)
	b := certBodyFor(nk, u, "p1", 3)
	b.V, b.Issuer, b.Subject, b.Email = 0, "https://idp.example", "8d1f-Ada", "ada@example.org"
	o, err := IssueCertificate(nk, b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o.Body, `{"v":2,`) || !strings.HasSuffix(o.Body, `,"iss":"https://idp.example","sub":"8d1f-Ada","email":"ada@example.org"}`) {
		t.Errorf("body %s", o.Body)
	}
	got, err := VerifyCertificate(o, trustOnly(nk.PublicKey()), testRoom, certNow)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verified() || got.Issuer != b.Issuer || got.Subject != b.Subject || got.Email != b.Email {
		t.Errorf("verified body %+v", *got)
	}
	// An account without an e-mail address still spells the field.
	b.V, b.Email = 2, ""
	if o, err := IssueCertificate(nk, b); err != nil || !strings.HasSuffix(o.Body, `"email":""}`) {
		t.Errorf("no e-mail: %v %s", err, o.Body)
	} else if got, err := VerifyCertificate(o, trustOnly(nk.PublicKey()), testRoom, certNow); err != nil || got.Email != "" {
		t.Errorf("no e-mail: %v", err)
	}
	guest := certBodyFor(nk, u, "p2", 4)
	if o, err := IssueCertificate(nk, guest); err != nil || strings.Contains(o.Body, `"sub"`) {
		t.Errorf("guest: %v %s", err, o.Body)
	}
	signed := func(body string) SignedObject { return signObject(nk.PrivateKey(), CertificatePrefix, []byte(body)) }
	v2 := func(extra string) string {
		return strings.TrimSuffix(rawCert(guest, map[string]string{"v": "2"}), "}") + extra + "}"
	}
	cases := map[string]string{
		"guest claims an account": strings.TrimSuffix(rawCert(guest, nil), "}") + `,"iss":"https://idp.example","sub":"x","email":""}`,
		"v2 without account":      rawCert(guest, map[string]string{"v": "2"}),
		"v2 without email":        v2(`,"iss":"https://idp.example","sub":"x"`),
		"v2 blank subject":        v2(`,"iss":"https://idp.example","sub":" ","email":""`),
		"v2 long subject":         v2(`,"iss":"https://idp.example","sub":"` + strings.Repeat("s", MaxSubLen+1) + `","email":""`),
		"v2 control in email":     v2(`,"iss":"https://idp.example","sub":"x","email":"a\u0000@b"`),
		"v2 unknown field":        v2(`,"iss":"https://idp.example","sub":"x","email":"","org2":"y"`),
		"v2 repeated v":           v2(`,"iss":"https://idp.example","sub":"x","email":"","v":2`),
		"version 3":               strings.Replace(v2(`,"iss":"https://idp.example","sub":"x","email":""`), `"v":2`, `"v":3`, 1),
	}
	for name, body := range cases {
		if _, err := VerifyCertificate(signed(body), trustOnly(nk.PublicKey()), testRoom, certNow); !errors.Is(err, ErrBadCertificate) {
			t.Errorf("%s: %v, want ErrBadCertificate", name, err)
		}
	}
}
