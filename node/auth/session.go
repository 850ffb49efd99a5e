package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "parley_session"

// User is who a session belongs to, as the provider vouched at sign-in.
type User struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	Email   string `json:"email,omitempty"`
	// Name is what the interface shows: given_name and usual_name (ProConnect), else name,
	// else the e-mail address.
	Name string `json:"name"`
	// UID is the provider's uid claim, if any.
	UID string `json:"uid,omitempty"`
	// ACR is the authentication context class the provider reported.
	ACR string `json:"acr,omitempty"`
	// IDToken is the raw ID token, sent back as id_token_hint at sign-out.
	IDToken string    `json:"id_token"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// ID names the person across sessions: issuer and subject.
func (u User) ID() string { return u.Issuer + " " + u.Subject }

// SessionStore keeps sessions by the hex SHA-256 of their cookie's secret.
type SessionStore interface {
	// PutSession stores u under key until u.Expires.
	PutSession(key string, u User) error
	// Session returns the session under key; ok is false if there is none (or it expired).
	Session(key string) (u User, ok bool, err error)
	// DeleteSession ends the session under key (no error if there is none).
	DeleteSession(key string) error
}

const secretLen = 32

// newSecret returns 32 random bytes in base64url (43 characters).
func newSecret() string {
	b := make([]byte, secretLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionKey is the store key of a cookie value, or "" if the value is not one the node
// could have made.
func sessionKey(cookie string) string {
	b, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(b) != secretLen {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrNoSession: the request carries no valid session.
var ErrNoSession = errors.New("not signed in")

// User returns the signed-in person of r: ErrNoSession when the request carries no cookie,
// a cookie the node did not make, or one whose session ended.
func (a *Auth) User(r *http.Request) (User, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return User{}, ErrNoSession
	}
	key := sessionKey(c.Value)
	if key == "" {
		return User{}, ErrNoSession
	}
	u, ok, err := a.cfg.Store.Session(key)
	if err != nil {
		return User{}, err
	}
	if !ok || !a.cfg.Now().Before(u.Expires) {
		return User{}, ErrNoSession
	}
	return u, nil
}

// startSession stores a session for u and sets its cookie on w.
func (a *Auth) startSession(w http.ResponseWriter, u User) error {
	secret := newSecret()
	now := a.cfg.Now()
	u.Created, u.Expires = now, now.Add(a.cfg.SessionTTL)
	if err := a.cfg.Store.PutSession(sessionKey(secret), u); err != nil {
		return err
	}
	http.SetCookie(w, a.cookie(SessionCookie, secret, a.cfg.SessionTTL))
	return nil
}

// endSession deletes r's session, if any, and clears its cookie.
func (a *Auth) endSession(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, a.cookie(SessionCookie, "", -1))
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	if key := sessionKey(c.Value); key != "" {
		return a.cfg.Store.DeleteSession(key)
	}
	return nil
}

// cookie makes one of the node's cookies: HttpOnly, SameSite=Lax (the provider's redirect
// back is a top-level navigation from another site, which Lax lets through and Strict does
// not), Secure when the node is served over https, for the whole site. maxAge < 0 deletes.
func (a *Auth) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.cfg.BaseURL, "https:"),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}
