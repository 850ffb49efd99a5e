package testnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/node"
	"parley/node/auth"
	"parley/node/auth/testprovider"
)

// TestBrowserSignInNewMeeting: on the home page a civil servant signs in through the
// organisation's OpenID provider (a real OP on loopback, its own login page), sees their
// name, starts a new meeting and lands on its prejoin, finds it under their meetings, and
// signs out.
func TestBrowserSignInNewMeeting(t *testing.T) {
	n, _ := signInNode(t, testprovider.Account{Username: "camille", Password: "pw-camille", GivenName: "Camille",
		Family: "Martin", Email: "camille.martin@interieur.gouv.fr"})
	forEachBrowser(t, func(t *testing.T, kind string) {
		b := NewBrowserOf(t, kind, "Camille")
		signIn(b, n, "camille", "pw-camille", "Camille Martin")

		b.Click(`[data-testid=new-meeting]`)
		b.WaitVisible(`[data-testid=join]`, 20*time.Second)
		path, err := Eval[string](b, `location.pathname`)
		if err != nil || !strings.HasPrefix(path, "/r/") {
			t.Fatalf("after New meeting the browser is at %q (%v)", path, err)
		}
		b.WaitText(`#prejoin-title`, "Meeting of Camille Martin", 10*time.Second)
		b.waitJS("the name filled in from the sign-in", `document.querySelector('#name').value === 'Camille Martin' && document.querySelector('#name').readOnly`, 10*time.Second)
		// Joined, Camille is the verified moderator of her meeting, whatever name is typed.
		b.Click(`[data-testid=join]`)
		b.WaitVisible(`.tile[data-pid=self][data-verified=true]`, 20*time.Second)
		b.WaitText(`.tile[data-pid=self] .name`, "Camille Martin", 10*time.Second)
		b.Click(`[data-testid=leave]`)

		b.Open(n.URL() + "/")
		b.WaitVisible(`[data-testid=meeting]`, 15*time.Second)
		url, err := Eval[string](b, `document.querySelector('[data-testid=meeting]').dataset.roomUrl`)
		if err != nil || url != n.URL()+path {
			t.Fatalf("the meeting listed links to %q, want %q (%v)", url, n.URL()+path, err)
		}

		// Sign-out goes through the provider's end_session_endpoint and back home, signed out.
		b.Click(`[data-testid=sign-out]`)
		b.WaitVisible(`[data-testid=sign-in]`, 20*time.Second)
		at, err := Eval[string](b, `location.origin + location.pathname`)
		if err != nil || at != n.URL()+"/" {
			t.Fatalf("after sign-out the browser is at %q (%v)", at, err)
		}
	})
}

// signInNode starts a real OpenID provider on loopback with accounts and a node that signs
// people in with it.
func signInNode(t *testing.T, accounts ...testprovider.Account) (*TestNode, *testprovider.Provider) {
	t.Helper()
	p, err := testprovider.Start(nil, accounts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	secret := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := StartNodeWith(t, "Ministère de l'Intérieur", func(c *node.Config) {
		c.OIDC = &node.OIDCConfig{Issuer: p.Issuer, ClientID: "parley", ClientSecretFile: secret,
			Scopes: []string{"openid", "email", "profile"}}
	})
	p.Register(testprovider.Client{ID: "parley", Secret: "s3cret", RedirectURIs: []string{n.URL() + auth.CallbackPath},
		PostLogoutRedirectURIs: []string{n.URL() + "/"}})
	return n, p
}

// signIn signs b in on n's home page through the provider's login form.
func signIn(b *Browser, n *TestNode, user, password, name string) {
	b.t.Helper()
	b.Open(n.URL() + "/")
	b.Click(`[data-testid=sign-in]`)
	b.WaitVisible(`#username`, 20*time.Second)
	b.Type(`#username`, user)
	b.Type(`#password`, password+"\n")
	b.WaitText(`[data-testid=user-name]`, name, 20*time.Second)
}
