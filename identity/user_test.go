package identity

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestUserIdentity(t *testing.T) {
	u, v := newUser(t), newUser(t)
	if len(u.SigPub()) != 32 || !strings.HasPrefix(u.AgeRecipient(), "age1") {
		t.Fatalf("keys %x %q", u.SigPub(), u.AgeRecipient())
	}
	if u.SigPub().Equal(v.SigPub()) || u.AgeRecipient() == v.AgeRecipient() {
		t.Fatal("two identities share keys")
	}
	p, err := ParsePublicIdentity(encodeB64u(u.SigPub()), u.AgeRecipient())
	if err != nil {
		t.Fatal(err)
	}
	if !p.SigPub.Equal(u.Public().SigPub) || p.Age != u.Public().Age {
		t.Errorf("parsed %+v, want %+v", p, u.Public())
	}
}

func TestParsePublicIdentityRejects(t *testing.T) {
	u := newUser(t)
	sig, rcpt := encodeB64u(u.SigPub()), u.AgeRecipient()
	bad := map[string][2]string{
		"empty sig_pub":     {"", rcpt},
		"short sig_pub":     {encodeB64u(u.SigPub()[:31]), rcpt},
		"long sig_pub":      {encodeB64u(append(u.SigPub(), 0)), rcpt},
		"padded sig_pub":    {base64.URLEncoding.EncodeToString(u.SigPub()), rcpt},
		"std alphabet":      {strings.NewReplacer("-", "+", "_", "/").Replace(sig[:42]) + "+", rcpt},
		"sig_pub newline":   {sig[:20] + "\n" + sig[20:42], rcpt},
		"non-zero pad bits": {sig[:42] + "B", rcpt}, // the last character carries 2 unused bits
		"empty age":         {sig, ""},
		"upper-case age":    {sig, strings.ToUpper(rcpt)},
		"bad checksum":      {sig, otherLast(rcpt)},
		"secret key":        {sig, "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"},
		"ssh key":           {sig, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPa4"},
		"long age":          {sig, rcpt + strings.Repeat("q", 100)},
	}
	for name, in := range bad {
		if _, err := ParsePublicIdentity(in[0], in[1]); err == nil {
			t.Errorf("%s: accepted %q %q", name, in[0], in[1])
		}
	}
}

// otherLast changes the last character of a Bech32 string to another valid one.
func otherLast(s string) string {
	if strings.HasSuffix(s, "q") {
		return s[:len(s)-1] + "p"
	}
	return s[:len(s)-1] + "q"
}
