package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	loginCookie = "parley_login" // binds a callback to the browser that started the login
	loginTTL    = 10 * time.Minute
	maxPending  = 4096 // logins under way at once; the oldest is dropped beyond
	maxNameLen  = 128
	maxNextLen  = 512
)

// pendingLogin is a login under way, by state.
type pendingLogin struct {
	nonce, verifier, next string
	expires               time.Time
}

type pendingLogins struct {
	mu sync.Mutex
	m  map[string]pendingLogin
}

func (p *pendingLogins) put(state string, l pendingLogin, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, o := range p.m {
		if now.After(o.expires) {
			delete(p.m, s)
		}
	}
	for len(p.m) >= maxPending { // a flood of logins never finished: drop the one expiring first
		oldest := ""
		for s, o := range p.m {
			if oldest == "" || o.expires.Before(p.m[oldest].expires) {
				oldest = s
			}
		}
		delete(p.m, oldest)
	}
	p.m[state] = l
}

// take removes and returns the login under state, if it is still valid.
func (p *pendingLogins) take(state string, now time.Time) (pendingLogin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.m[state]
	delete(p.m, state)
	return l, ok && now.Before(l.expires)
}

// safeNext is where to go after sign-in: a path on this node, else "/".
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLen || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

// Login starts sign-in: it remembers a fresh state, nonce and PKCE verifier and sends the
// browser to the provider. ?next=/path is where the browser lands once signed in.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request) {
	p, err := a.provider(r.Context())
	if err != nil {
		a.cfg.Log.Warn("sign-in unavailable", "err", err)
		a.cfg.Page(w, r, http.StatusServiceUnavailable, MsgUnavailable)
		return
	}
	state, nonce, verifier := newSecret(), newSecret(), oauth2.GenerateVerifier()
	a.pending.put(state, pendingLogin{nonce: nonce, verifier: verifier, next: safeNext(r.URL.Query().Get("next")),
		expires: a.cfg.Now().Add(loginTTL)}, a.cfg.Now())
	http.SetCookie(w, a.cookie(loginCookie, state, loginTTL))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if a.cfg.ACRValues != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", a.cfg.ACRValues))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oauth.AuthCodeURL(state, opts...), http.StatusFound)
}

// refusal is a sign-in that failed: the page the person is shown (a message key with its
// arguments) and the error the node logs.
type refusal struct {
	status int
	key    string
	args   []any
	err    error // logged
}

// refuse is a refusal with status, message key and its arguments.
func refuse(status int, key string, err error, args ...any) *refusal {
	return &refusal{status: status, key: key, args: args, err: err}
}

// Callback finishes sign-in: it checks state against the browser's login cookie, redeems
// the code with the PKCE verifier, verifies the ID token (signature, issuer, audience,
// expiry, nonce, acr), reads userinfo, and starts a session.
func (a *Auth) Callback(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, a.cookie(loginCookie, "", -1))
	w.Header().Set("Cache-Control", "no-store")
	u, next, ref := a.callback(r)
	if ref != nil {
		a.cfg.Log.Warn("sign-in refused", "reason", ref.key, "err", ref.err)
		a.cfg.Page(w, r, ref.status, ref.key, ref.args...)
		return
	}
	if err := a.startSession(w, u); err != nil {
		a.cfg.Log.Error("store a session", "err", err)
		a.cfg.Page(w, r, http.StatusInternalServerError, MsgSession)
		return
	}
	a.cfg.Log.Info("signed in", "sub", u.Subject, "email", u.Email, "acr", u.ACR)
	http.Redirect(w, r, next, http.StatusFound)
}

func (a *Auth) callback(r *http.Request) (User, string, *refusal) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		return User{}, "", refuse(http.StatusForbidden, MsgProviderError, errors.New(e), clip(strings.TrimSpace(e+" "+desc), 200))
	}
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return User{}, "", refuse(http.StatusBadRequest, MsgForeign, errors.New("state does not match the login cookie"))
	}
	l, ok := a.pending.take(state, a.cfg.Now())
	if !ok {
		return User{}, "", refuse(http.StatusBadRequest, MsgExpired, errors.New("unknown or expired state"))
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), a.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	p, err := a.provider(ctx)
	if err != nil {
		return User{}, "", refuse(http.StatusServiceUnavailable, MsgUnavailable, err)
	}
	code := q.Get("code")
	if code == "" {
		return User{}, "", refuse(http.StatusBadRequest, MsgNoCode, errors.New("no code"))
	}
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(l.verifier))
	if err != nil {
		return User{}, "", refuse(http.StatusBadGateway, MsgNotAccepted, fmt.Errorf("exchange the code: %w", err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return User{}, "", refuse(http.StatusBadGateway, MsgNoToken, errors.New("no id_token"))
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return User{}, "", refuse(http.StatusForbidden, MsgBadToken, err, clip(err.Error(), 160))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.nonce)) != 1 {
		return User{}, "", refuse(http.StatusForbidden, MsgNonce, errors.New("nonce mismatch"))
	}
	var claims struct {
		ACR       string `json:"acr"`
		Email     string `json:"email"`
		Name      string `json:"name"`
		GivenName string `json:"given_name"`
		UsualName string `json:"usual_name"`
		Family    string `json:"family_name"`
		UID       string `json:"uid"`
	}
	if err := idt.Claims(&claims); err != nil {
		return User{}, "", refuse(http.StatusBadGateway, MsgUnreadable, err)
	}
	if want := strings.Fields(a.cfg.ACRValues); len(want) > 0 && !slices.Contains(want, claims.ACR) {
		return User{}, "", refuse(http.StatusForbidden, MsgWeak, fmt.Errorf("acr %q, want one of %q", claims.ACR, want),
			strings.Join(want, ", "), cmpOr(claims.ACR, "-"))
	}
	// Userinfo fills in what the ID token leaves out (ProConnect puts the names there).
	if p.p.UserInfoEndpoint() != "" {
		ui, err := p.p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return User{}, "", refuse(http.StatusBadGateway, MsgUserinfo, err)
		}
		if ui.Subject != idt.Subject {
			return User{}, "", refuse(http.StatusForbidden, MsgUserinfoOther, fmt.Errorf("userinfo sub %q, id token sub %q", ui.Subject, idt.Subject))
		}
		var more struct {
			Name      string `json:"name"`
			GivenName string `json:"given_name"`
			UsualName string `json:"usual_name"`
			Family    string `json:"family_name"`
			UID       string `json:"uid"`
		}
		_ = ui.Claims(&more)
		claims.Email = cmpOr(claims.Email, ui.Email)
		claims.Name, claims.GivenName = cmpOr(claims.Name, more.Name), cmpOr(claims.GivenName, more.GivenName)
		claims.UsualName, claims.Family = cmpOr(claims.UsualName, more.UsualName), cmpOr(claims.Family, more.Family)
		claims.UID = cmpOr(claims.UID, more.UID)
	}
	name := strings.TrimSpace(claims.GivenName + " " + cmpOr(claims.UsualName, claims.Family))
	name = cleanName(cmpOr(name, claims.Name, claims.Email, idt.Subject))
	return User{
		Issuer: idt.Issuer, Subject: idt.Subject, Email: clip(claims.Email, 254), Name: name, UID: clip(claims.UID, 128),
		ACR: clip(claims.ACR, 64), IDToken: raw,
	}, l.next, nil
}

// Logout ends r's session and returns where the browser goes next: the provider's
// end_session_endpoint (with id_token_hint, state and post_logout_redirect_uri, to end the
// provider's session too) if it has one, else the node's home page. The caller answers with
// it (the node's pages navigate there: a form's redirect to another site would be blocked by
// their Content-Security-Policy).
func (a *Auth) Logout(w http.ResponseWriter, r *http.Request) string {
	u, _ := a.User(r)
	if err := a.endSession(w, r); err != nil {
		a.cfg.Log.Error("end a session", "err", err)
	}
	home := a.cfg.BaseURL + "/"
	a.mu.Lock()
	p := a.prov
	a.mu.Unlock()
	if p == nil || p.endSession == "" || u.IDToken == "" {
		return home
	}
	end, err := url.Parse(p.endSession)
	if err != nil {
		return home
	}
	q := end.Query()
	q.Set("id_token_hint", u.IDToken)
	q.Set("state", newSecret())
	q.Set("post_logout_redirect_uri", home)
	q.Set("client_id", a.cfg.ClientID)
	end.RawQuery = q.Encode()
	a.cfg.Log.Info("signed out", "sub", u.Subject)
	return end.String()
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// cleanName makes a provider's name safe to show: valid UTF-8, no control characters, at
// most maxNameLen characters.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return clip(s, maxNameLen)
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
