package identity

import (
	"bytes"
	"regexp"
	"testing"
)

// TestSafetyCodeKnown pins one code, computed independently:
//
//	import hashlib
//	A = bytes([1])*32 + b"age10pw5qx0pu4tam8x3nuw0j42g4989e3dhmts7jrcz0aujfhxvwcxqhnwlmz"
//	B = bytes([2])*32 + b"age1w7m9pqxx0vkr0z72ustsrcendkelmy5dfuhjr5yh6lw9dv2mqprqm0k8xy"
//	p1, p2 = sorted([A, B])
//	h = hashlib.sha256(b"parley-safety-v1" + p1 + p2).digest()
//	h[:8].hex()                          # '805ce8b80f5432e7'
//	int.from_bytes(h[:8], "big") % 10**12 # 611940958951 -> "6119 4095 8951"
func TestSafetyCodeKnown(t *testing.T) {
	a := PublicIdentity{SigPub: bytes.Repeat([]byte{1}, 32), Age: "age10pw5qx0pu4tam8x3nuw0j42g4989e3dhmts7jrcz0aujfhxvwcxqhnwlmz"}
	b := PublicIdentity{SigPub: bytes.Repeat([]byte{2}, 32), Age: "age1w7m9pqxx0vkr0z72ustsrcendkelmy5dfuhjr5yh6lw9dv2mqprqm0k8xy"}
	const want = "6119 4095 8951"
	if got := SafetyCode(a, b); got != want {
		t.Errorf("SafetyCode(a, b) = %q, want %q", got, want)
	}
	if got := SafetyCode(b, a); got != want {
		t.Errorf("SafetyCode(b, a) = %q, want %q", got, want)
	}
}

func TestSafetyCode(t *testing.T) {
	a, b, c := newUser(t).Public(), newUser(t).Public(), newUser(t).Public()
	code := SafetyCode(a, b)
	if !regexp.MustCompile(`^\d{4} \d{4} \d{4}$`).MatchString(code) {
		t.Fatalf("code %q is not three groups of four digits", code)
	}
	if SafetyCode(b, a) != code {
		t.Error("not symmetric")
	}
	if SafetyCode(a, b) != code {
		t.Error("not stable")
	}
	if SafetyCode(a, c) == code || SafetyCode(c, b) == code {
		t.Error("code did not change with a participant's keys")
	}
	// Either key alone changes it.
	a2 := PublicIdentity{SigPub: a.SigPub, Age: c.Age}
	a3 := PublicIdentity{SigPub: c.SigPub, Age: a.Age}
	if SafetyCode(a2, b) == code || SafetyCode(a3, b) == code {
		t.Error("code did not change with one of the keys")
	}
	// The inputs are not modified.
	before := bytes.Clone(a.SigPub)
	SafetyCode(a, b)
	if !bytes.Equal(before, a.SigPub) {
		t.Error("SafetyCode modified its input")
	}
}
