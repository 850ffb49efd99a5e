package auth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/node/auth/testprovider"
)

// memStore is a SessionStore in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string]User
}

func (s *memStore) PutSession(k string, u User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = u
	return nil
}

func (s *memStore) Session(k string) (User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[k]
	return u, ok, nil
}

func (s *memStore) DeleteSession(k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

// rp is a relying party: an Auth behind a test server, with a page that says who is in.
type rp struct {
	srv   *httptest.Server
	auth  *Auth
	store *memStore
	now   time.Time
	mu    sync.Mutex
}

func (r *rp) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *rp) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

// startRP starts the relying party's server; configure finishes the Auth once the provider
// (which needs the redirect URI) runs.
func startRP(t *testing.T) *rp {
	t.Helper()
	r := &rp{store: &memStore{m: map[string]User{}}, now: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, func(w http.ResponseWriter, q *http.Request) { r.auth.Login(w, q) })
	mux.HandleFunc("GET "+CallbackPath, func(w http.ResponseWriter, q *http.Request) { r.auth.Callback(w, q) })
	mux.HandleFunc("POST "+LogoutPath, func(w http.ResponseWriter, q *http.Request) {
		w.Header().Set("Location", r.auth.Logout(w, q))
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, q *http.Request) {
		u, err := r.auth.User(q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s <%s>", u.Name, u.Email)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *rp) configure(t *testing.T, issuer, acr string) {
	t.Helper()
	a, err := New(Config{
		Issuer: issuer, ClientID: "parley", ClientSecret: "s3cret", BaseURL: r.srv.URL, ACRValues: acr,
		Scopes: []string{"openid", "email", "profile"}, Store: r.store, Now: r.clock,
		Page: func(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
			if n, ok := Messages[key]; !ok || n != len(args) {
				t.Errorf("page %q with %d arguments: not a message this package declares", key, len(args))
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, "<h1>%s</h1><p>%q</p>", key, args)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.auth = a
}

func startProvider(t *testing.T, redirect ...string) *testprovider.Provider {
	t.Helper()
	p, err := testprovider.Start(
		[]testprovider.Client{{ID: "parley", Secret: "s3cret", RedirectURIs: redirect}},
		[]testprovider.Account{
			{Username: "camille", Password: "pw-camille", GivenName: "Camille", Family: "Martin", Email: "camille.martin@interieur.gouv.fr"},
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

var loginIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn runs the whole flow in c: login at the node, the provider's login page, back to the
// callback; it returns the final answer's status and body.
func signIn(t *testing.T, c *http.Client, r *rp, password string) (int, string) {
	t.Helper()
	resp, err := c.Get(r.srv.URL + LoginPath + "?next=/me")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	m := loginIDRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form at %s: %d %s", resp.Request.URL, resp.StatusCode, page)
	}
	form := url.Values{"username": {"camille"}, "password": {password}, "id": {m[1]}}
	resp, err = c.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/login/username", form)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSignInAgainstProvider: the whole code flow with PKCE against a real OP; the session
// cookie is HttpOnly and the store holds only its hash; a forged, an expired and a signed-out
// session are refused; sign-out goes through the provider's end_session_endpoint.
func TestSignInAgainstProvider(t *testing.T) {
	r := startRP(t)
	p := startProvider(t, r.srv.URL+CallbackPath)
	r.configure(t, p.Issuer, "")
	c := browser(t)

	status, body := signIn(t, c, r, "pw-camille")
	if status != http.StatusOK || body != "Camille Martin <camille.martin@interieur.gouv.fr>" {
		t.Fatalf("after sign-in: %d %q", status, body)
	}
	base, _ := url.Parse(r.srv.URL)
	var session string
	for _, ck := range c.Jar.Cookies(base) {
		if ck.Name == SessionCookie {
			session = ck.Value
		}
	}
	if len(session) != 43 {
		t.Fatalf("session cookie %q", session)
	}
	r.store.mu.Lock()
	for k, u := range r.store.m {
		if k == session || strings.Contains(k, session) || k != sessionKey(session) {
			t.Fatalf("the store keeps the session under %q", k)
		}
		if u.Issuer != p.Issuer || u.Subject == "" || u.IDToken == "" {
			t.Fatalf("stored user %+v", u)
		}
	}
	r.store.mu.Unlock()

	// A forged cookie is nobody.
	req := httptest.NewRequest("GET", "/me", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: newSecret()})
	if _, err := r.auth.User(req); err != ErrNoSession {
		t.Fatalf("a forged cookie: %v", err)
	}
	req.Header.Del("Cookie")
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "../../etc"})
	if _, err := r.auth.User(req); err != ErrNoSession {
		t.Fatalf("a malformed cookie: %v", err)
	}

	// Sign-out ends the session here and sends the browser to the provider's logout.
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Post(r.srv.URL+LogoutPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), p.Issuer) ||
		loc.Query().Get("id_token_hint") == "" || len(loc.Query().Get("state")) < 32 || loc.Query().Get("post_logout_redirect_uri") != r.srv.URL+"/" {
		t.Fatalf("sign-out: %d to %s", resp.StatusCode, loc)
	}
	if resp, err := c.Get(r.srv.URL + "/me"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %v %v", resp.StatusCode, err)
	}
	if len(r.store.m) != 0 {
		t.Fatalf("sessions left after sign-out: %d", len(r.store.m))
	}

	// A session ends at its expiry.
	if status, _ := signIn(t, c, r, "pw-camille"); status != http.StatusOK {
		t.Fatalf("second sign-in: %d", status)
	}
	r.advance(DefaultSessionTTL + time.Second)
	if resp, err := c.Get(r.srv.URL + "/me"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired session: %v %v", resp.StatusCode, err)
	}
}

// TestCallbackRefusals: a callback whose state is not this browser's, one replayed, a
// provider error, an ID token with another nonce, and an acr weaker than asked are refused
// with a page that says why.
func TestCallbackRefusals(t *testing.T) {
	r := startRP(t)
	p := startProvider(t, r.srv.URL+CallbackPath)
	r.configure(t, p.Issuer, "")
	c := browser(t)

	// Capture a genuine callback URL without following it.
	stop := *c
	var callback string
	stop.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == CallbackPath && "http://"+req.URL.Host == r.srv.URL {
			callback = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := stop.Get(r.srv.URL + LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	m := loginIDRE.FindStringSubmatch(readAll(t, resp))
	if m == nil {
		t.Fatal("no login form")
	}
	resp, err = stop.PostForm(p.Issuer+"/login/username", url.Values{"username": {"camille"}, "password": {"pw-camille"}, "id": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if callback == "" {
		t.Fatal("the provider did not redirect to the callback")
	}

	// Another browser (no login cookie) presenting it is refused.
	other := browser(t)
	resp, err = other.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, MsgForeign) {
		t.Fatalf("foreign state: %d %s", resp.StatusCode, body)
	}
	// A tampered state in the right browser too.
	u, _ := url.Parse(callback)
	q := u.Query()
	q.Set("state", newSecret())
	u.RawQuery = q.Encode()
	resp, err = c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, MsgForeign) {
		t.Fatalf("tampered state: %d %s", resp.StatusCode, body)
	}
	// The login cookie was cleared by that answer: the genuine callback is now refused too,
	// and so is any replay of it.
	resp, err = c.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d %s", resp.StatusCode, body)
	}

	// The provider's own error is shown.
	resp, err = c.Get(r.srv.URL + CallbackPath + "?error=access_denied&error_description=user+cancelled")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, MsgProviderError) || !strings.Contains(body, "access_denied user cancelled") {
		t.Fatalf("provider error: %d %s", resp.StatusCode, body)
	}

	// An ID token made for another sign-in (its nonce is not the one this login sent) is
	// refused: the node's record of the login is given another nonce before the callback.
	c2 := browser(t)
	resp, err = c2.Get(r.srv.URL + LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	m = loginIDRE.FindStringSubmatch(readAll(t, resp))
	if m == nil {
		t.Fatal("no login form")
	}
	r.auth.pending.mu.Lock()
	for k, l := range r.auth.pending.m {
		l.nonce = newSecret()
		r.auth.pending.m[k] = l
	}
	r.auth.pending.mu.Unlock()
	resp, err = c2.PostForm(p.Issuer+"/login/username", url.Values{"username": {"camille"}, "password": {"pw-camille"}, "id": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode == http.StatusOK || !strings.Contains(body, MsgNonce) {
		t.Fatalf("wrong nonce: %d %s", resp.StatusCode, body)
	}

	// A node asking for eidas1 refuses a sign-in the provider did not rate so.
	r.configure(t, p.Issuer, "eidas1")
	status, body := signIn(t, browser(t), r, "pw-camille")
	if status != http.StatusForbidden || !strings.Contains(body, MsgWeak) || !strings.Contains(body, "eidas1") {
		t.Fatalf("weak acr: %d %s", status, body)
	}
	if len(r.store.m) != 0 {
		t.Fatalf("a refused sign-in left %d sessions", len(r.store.m))
	}
}

// TestIDTokenOfAnotherIssuer: an ID token signed by another provider (even one with the
// same client ID) does not verify.
func TestIDTokenOfAnotherIssuer(t *testing.T) {
	r1, r2 := startRP(t), startRP(t)
	p1 := startProvider(t, r1.srv.URL+CallbackPath)
	p2 := startProvider(t, r2.srv.URL+CallbackPath)
	r1.configure(t, p1.Issuer, "")
	r2.configure(t, p2.Issuer, "")
	if status, _ := signIn(t, browser(t), r2, "pw-camille"); status != http.StatusOK {
		t.Fatalf("sign-in at the second provider: %d", status)
	}
	var foreign string
	for _, u := range r2.store.m {
		foreign = u.IDToken
	}
	prov, err := r1.auth.provider(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.verifier.Verify(context.Background(), foreign); err == nil {
		t.Fatal("an ID token of another issuer verified")
	} else {
		t.Logf("refused: %v", err)
	}
}

func TestSafeNextAndIssuer(t *testing.T) {
	for in, want := range map[string]string{
		"/r/abc?name=x": "/r/abc?name=x", "": "/", "//evil.example/": "/", "https://evil.example": "/",
		"/\\evil": "/", "/a\r\nSet-Cookie: x": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
	for _, ok := range []string{"https://auth.agentconnect.gouv.fr/api/v2", "http://127.0.0.1:5556/dex", "http://localhost:9000"} {
		if err := ValidIssuer(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://idp.example", "ftp://x", "https://", "https://x/?a=b", "not a url"} {
		if err := ValidIssuer(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestProviderDown: with the provider unreachable, sign-in answers 503 with a page that
// says so, and the provider is asked again only after discoveryBackoff.
func TestProviderDown(t *testing.T) {
	r := startRP(t)
	p := startProvider(t, r.srv.URL+CallbackPath)
	issuer := p.Issuer
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	r.configure(t, issuer, "")
	c := browser(t)
	resp, err := c.Get(r.srv.URL + LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, MsgUnavailable) {
		t.Fatalf("provider down: %d %s", resp.StatusCode, body)
	}
	r.auth.mu.Lock()
	first := r.auth.failed
	r.auth.mu.Unlock()
	if _, err := r.auth.provider(context.Background()); err != first {
		t.Fatalf("asked the provider again within the backoff: %v", err)
	}
	r.advance(discoveryBackoff + time.Second)
	if _, err := r.auth.provider(context.Background()); err == first || err == nil {
		t.Fatalf("after the backoff: %v, want a fresh failure", err)
	}
}
