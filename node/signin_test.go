package node

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"parley/identity"
	"parley/media/signal"
	"parley/node/auth"
	"parley/node/auth/testprovider"
)

// startSignInNode starts a test provider and a node that signs people in with it.
func startSignInNode(t *testing.T) (*Node, *testprovider.Provider) {
	t.Helper()
	p, err := testprovider.Start(nil, []testprovider.Account{
		{Username: "camille", Password: "pw-camille", GivenName: "Camille", Family: "Martin", Email: "camille.martin@interieur.gouv.fr"},
		{Username: "dominique", Password: "pw-dominique", GivenName: "Dominique", Family: "Bernard", Email: "dominique.bernard@interieur.gouv.fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "oidc-secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, dir, func(c *Config) {
		c.OIDC = &OIDCConfig{Issuer: p.Issuer, ClientID: "parley", ClientSecretFile: "oidc-secret",
			Scopes: []string{"openid", "email", "profile"}}
	})
	p.Register(testprovider.Client{ID: "parley", Secret: "s3cret", RedirectURIs: []string{n.URL() + auth.CallbackPath},
		PostLogoutRedirectURIs: []string{n.URL() + "/"}})
	return n, p
}

var formIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInAs signs username in through the node's /auth/login in a fresh cookie jar.
func signInAs(t *testing.T, n *Node, p *testprovider.Provider, username, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(n.URL() + auth.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formIDRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %d %s", resp.StatusCode, page)
	}
	resp, err = c.PostForm(p.Issuer+"/login/username", url.Values{"username": {username}, "password": {password}, "id": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != n.URL()+"/" {
		t.Fatalf("sign-in of %s ended at %s with %d", username, resp.Request.URL, resp.StatusCode)
	}
	return c
}

// call sends a same-origin API request and decodes the JSON answer into out (if not nil).
func call(t *testing.T, c *http.Client, n *Node, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
	req.Header.Set("Origin", n.URL())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, answer does not decode: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// TestSignedInMeetings: a civil servant signs in through the node, creates a meeting on the
// home page's API, lists it, joins it as its moderator, and deletes it; another signed-in
// person neither sees nor deletes it; writes without the node's Origin or a session are
// refused; both actions are in the audit log; sign-out ends the session.
func TestSignedInMeetings(t *testing.T) {
	n, p := startSignInNode(t)
	camille := signInAs(t, n, p, "camille", "pw-camille")

	var me struct {
		SignIn bool `json:"sign_in"`
		User   *apiUser
	}
	call(t, camille, n, "GET", "/api/me", "", &me)
	if !me.SignIn || me.User == nil || me.User.Name != "Camille Martin" || me.User.Email != "camille.martin@interieur.gouv.fr" {
		t.Fatalf("/api/me: %+v %+v", me, me.User)
	}

	var m apiMeeting
	if st := call(t, camille, n, "POST", "/api/meetings", `{"title":"Point sécurité","lobby":true}`, &m); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if !ValidRoomID(m.ID) || m.Title != "Point sécurité" || !m.Lobby || m.URL != RoomURL(n.URL(), m.ID) {
		t.Fatalf("created %+v", m)
	}
	var list []apiMeeting
	call(t, camille, n, "GET", "/api/meetings", "", &list)
	if len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("Camille's meetings: %+v", list)
	}

	// The owner joins as moderator (past the lobby), without the moderator link.
	h := http.Header{}
	h.Set("Origin", n.URL())
	u, _ := url.Parse(n.URL())
	for _, ck := range camille.Jar.Cookies(u) {
		h.Add("Cookie", ck.String())
	}
	ws, _, err := dialWSHeader(t, n.URL(), m.ID, h)
	if err != nil {
		t.Fatal(err)
	}
	j := ws.join("The Boss")
	if j.You == nil || !j.You.Moderator || !j.You.Verified || j.You.Name != "Camille Martin" {
		t.Fatalf("the owner joined as %+v, want the verified moderator Camille Martin", j.You)
	}
	// A guest (no session) keeps the name typed and is not verified; and sees Camille as
	// verified. The room has a lobby: Camille admits the guest.
	guest := mustDial(t, n, m.ID)
	guest.send(guest.joinMessage("Camille Martin", ""))
	w := ws.must(signal.TypeWaitingAdd)
	ws.send(&signal.Message{Type: signal.TypeAdmit, ID: w.Waiting[0].ID})
	gj := guest.must(signal.TypeJoined)
	if gj.You.Verified || len(gj.Participants) != 1 || !gj.Participants[0].Verified || gj.Participants[0].Name != "Camille Martin" {
		t.Fatalf("the guest joined as %+v and sees %+v", gj.You, gj.Participants)
	}
	if p := ws.must(signal.TypeParticipantJoined).Participant; p.Verified {
		t.Fatalf("Camille sees the guest as %+v, want not verified", p)
	}

	// Someone else signed in sees none of it and cannot delete it.
	dominique := signInAs(t, n, p, "dominique", "pw-dominique")
	call(t, dominique, n, "GET", "/api/meetings", "", &list)
	if len(list) != 0 {
		t.Fatalf("Dominique sees %+v", list)
	}
	if st := call(t, dominique, n, "DELETE", "/api/meetings/"+m.ID, "", nil); st != http.StatusNotFound {
		t.Fatalf("Dominique deleting Camille's meeting: %d", st)
	}

	// Writes need the node's Origin and a session.
	req, _ := http.NewRequest("POST", n.URL()+"/api/meetings", strings.NewReader(`{"title":"x"}`))
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := camille.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site create: %v %v", resp.StatusCode, err)
	}
	if st := call(t, http.DefaultClient, n, "POST", "/api/meetings", `{"title":"x"}`, nil); st != http.StatusUnauthorized {
		t.Fatalf("a create without a session: %d", st)
	}
	if st := call(t, camille, n, "POST", "/api/meetings", `{"title":""}`, nil); st != http.StatusBadRequest {
		t.Fatalf("an empty title: %d", st)
	}

	if st := call(t, camille, n, "DELETE", "/api/meetings/"+m.ID, "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	call(t, camille, n, "GET", "/api/meetings", "", &list)
	if len(list) != 0 {
		t.Fatalf("after delete: %+v", list)
	}
	// The audit log is written off the request's goroutine: wait for both entries.
	want := "user camille.martin@interieur.gouv.fr room.create,user camille.martin@interieur.gouv.fr room.delete"
	var actions []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		entries, err := n.store.auditList(100)
		if err != nil {
			t.Fatal(err)
		}
		actions = actions[:0]
		for _, e := range entries {
			if e.Room == m.ID && (e.Action == OpRoomCreate || e.Action == OpRoomDelete) {
				actions = append(actions, e.Actor+" "+e.Action)
			}
		}
		if strings.Join(actions, ",") == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Join(actions, ",") != want {
		t.Fatalf("audit %q, want %q", actions, want)
	}

	// Sign-out ends the session; the node points the browser at the provider's logout.
	var out struct{ Location string }
	if st := call(t, camille, n, "POST", auth.LogoutPath, "", &out); st != http.StatusOK || !strings.HasPrefix(out.Location, p.Issuer) {
		t.Fatalf("sign-out: %d %q", st, out.Location)
	}
	call(t, camille, n, "GET", "/api/me", "", &me)
	if me.User != nil {
		t.Fatalf("still signed in after sign-out: %+v", me.User)
	}
	if k, err := n.store.revokeSessions(); err != nil || k != 1 {
		t.Fatalf("revoking the sessions left: %d, %v (want Dominique's)", k, err)
	}
	call(t, dominique, n, "GET", "/api/me", "", &me)
	if me.User != nil {
		t.Fatal("a revoked session still signs in")
	}
}

func TestOIDCConfig(t *testing.T) {
	for _, bad := range []string{
		`{"name":"n","oidc":{"issuer":"http://idp.example","client_id":"x"}}`,
		`{"name":"n","oidc":{"issuer":"https://idp.example"}}`,
		`{"name":"n","oidc":{"issuer":"https://idp.example","client_id":"x","scopes":["a b"]}}`,
		`{"name":"n","oidc":{"issuer":"https://idp.example","client_id":"x","session_ttl":"720h"}}`,
		`{"name":"n","oidc":{"issuer":"https://idp.example","client_id":"x","client_secret":"inline"}}`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
	c, err := ParseConfig([]byte(`{"name":"n","oidc":{"issuer":"https://auth.agentconnect.gouv.fr/api/v2","client_id":"x","acr_values":"eidas1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(OIDCSecretEnv, "")
	if _, err := c.OIDC.secret(t.TempDir()); err == nil || !strings.Contains(err.Error(), OIDCSecretEnv) {
		t.Fatalf("no secret: %v", err)
	}
	t.Setenv(OIDCSecretEnv, "from-env")
	if s, err := c.OIDC.secret(t.TempDir()); err != nil || s != "from-env" {
		t.Fatalf("secret from the environment: %q, %v", s, err)
	}
}

// TestScheduledMeetingPolicy: a meeting scheduled on the home page keeps its start, guest
// policy and organisations; in a meeting closed to guests a guest is refused with sign_in and
// a signed-in person joins with a certificate that names their account.
func TestScheduledMeetingPolicy(t *testing.T) {
	n, p := startSignInNode(t)
	camille := signInAs(t, n, p, "camille", "pw-camille")
	start := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Minute)
	var m apiMeeting
	body := `{"title":"Comité","guests":"no","start":"` + start.Format(time.RFC3339) + `","orgs":["Défense"]}`
	if st := call(t, camille, n, "POST", "/api/meetings", body, &m); st != http.StatusCreated {
		t.Fatalf("schedule: %d", st)
	}
	if m.Guests != "no" || m.Start == nil || !m.Start.Equal(start) || len(m.Orgs) != 2 {
		t.Fatalf("scheduled %+v", m)
	}
	// Each refusal names its field by code, for the home page to say it in its own words.
	for _, c := range []struct{ body, code string }{
		{`{"title":"x","guests":"maybe"}`, apiInvalidGuests},
		{`{"title":"x","start":"` + time.Now().Add(-48*time.Hour).Format(time.RFC3339) + `"}`, apiInvalidStart},
		{`{"title":"x","start":"` + time.Now().Add(5*366*24*time.Hour).Format(time.RFC3339) + `"}`, apiInvalidStart},
		{`{"title":"x","start":"tomorrow"}`, apiBadRequest},
		{`{"title":"` + strings.Repeat("x", MaxTitleLen+1) + `"}`, apiInvalidTitle},
		{`{"title":"x\u0007"}`, apiInvalidTitle},
		{`{"title":"x","orgs":["` + strings.Repeat("o", 500) + `"]}`, apiInvalidMeeting},
		{`{"title":"x","color":"blue"}`, apiBadRequest},
	} {
		var e struct{ Code, Error string }
		if st := call(t, camille, n, "POST", "/api/meetings", c.body, &e); st != http.StatusBadRequest || e.Code != c.code || e.Error == "" {
			t.Errorf("%.80s: %d %q %q, want 400 %q", c.body, st, e.Code, e.Error, c.code)
		}
	}

	guest := mustDial(t, n, m.ID)
	guest.send(guest.joinMessage("Visiteur", ""))
	if e := guest.must(signal.TypeError); e.Code != signal.CodeSignIn {
		t.Fatalf("a guest in a meeting closed to guests: %+v", e)
	}

	dominique := signInAs(t, n, p, "dominique", "pw-dominique")
	h := http.Header{}
	h.Set("Origin", n.URL())
	u, _ := url.Parse(n.URL())
	for _, ck := range dominique.Jar.Cookies(u) {
		h.Add("Cookie", ck.String())
	}
	ws, _, err := dialWSHeader(t, n.URL(), m.ID, h)
	if err != nil {
		t.Fatal(err)
	}
	j := ws.join("anything")
	if j.You == nil || !j.You.Verified || j.You.Moderator || j.Room.Guests != "no" {
		t.Fatalf("Dominique joined as %+v in %+v", j.You, j.Room)
	}
	cert, err := identity.VerifyCertificate(*j.You.Cert, func(k ed25519.PublicKey) bool { return k.Equal(n.key.PublicKey()) }, m.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Verified() || cert.Issuer != p.Issuer || cert.Subject == "" || cert.Email != "dominique.bernard@interieur.gouv.fr" || cert.Name != "Dominique Bernard" {
		t.Fatalf("Dominique's certificate: %+v", cert)
	}
}

// TestSignInRefusalInFrench: a refused sign-in is explained in the reader's language.
func TestSignInRefusalInFrench(t *testing.T) {
	n, _ := startSignInNode(t)
	for _, c := range []struct{ accept, title string }{
		{"fr-FR,fr;q=0.9", "<h1>Connexion non reconnue</h1>"},
		{"en-GB", "<h1>Sign-in not recognised</h1>"},
	} {
		req, _ := http.NewRequest("GET", n.URL()+auth.CallbackPath+"?state="+strings.Repeat("f", 43)+"&code=forged", nil)
		req.Header.Set("Accept-Language", c.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), c.title) {
			t.Errorf("Accept-Language %s: %d %s, want %s", c.accept, resp.StatusCode, body, c.title)
		}
	}
}
