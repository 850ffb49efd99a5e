// Package auth signs people in with the organisation's OpenID Connect provider (ProConnect,
// Keycloak, any certified OP): the authorization code flow with PKCE, state and nonce, the
// ID token's signature checked against the provider's keys (RS256, ES256), the returned acr
// checked against the one asked for, userinfo read as JSON or as a signed JWT, and logout
// through the provider's end_session_endpoint.
//
// A signed-in person holds a session cookie: 32 random bytes, of which the node stores only
// the SHA-256 (SessionStore), so that a copy of the store opens no session. Sessions end at
// their expiry, at sign-out, or when the node revokes them.
//
// The provider is discovered when first needed and again after a failure, so a node whose
// provider is down still starts and serves meetings to guests.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Defaults of Config fields left empty.
const (
	DefaultSessionTTL = 12 * time.Hour
	// MaxSessionTTL bounds SessionTTL: a session outlives no working week.
	MaxSessionTTL = 7 * 24 * time.Hour
	// CallbackPath and LogoutPath are the node's endpoints the provider redirects to.
	CallbackPath = "/auth/callback"
	LoginPath    = "/auth/login"
	LogoutPath   = "/auth/logout"
)

// DefaultScopes are ProConnect's: openid plus what names a civil servant.
var DefaultScopes = []string{oidc.ScopeOpenID, "email", "given_name", "usual_name", "uid"}

// Config configures sign-in.
type Config struct {
	// Issuer is the provider's issuer URL: https, or http on a loopback host.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes asked for; default DefaultScopes. openid is always asked for.
	Scopes []string
	// ACRValues, if set, is sent as acr_values (space-separated, e.g. "eidas1") and the ID
	// token's acr must be one of them.
	ACRValues string
	// BaseURL is the node's public URL; the redirect URI is BaseURL + CallbackPath.
	BaseURL string
	// SessionTTL bounds a session. Default DefaultSessionTTL, at most MaxSessionTTL.
	SessionTTL time.Duration
	// Store keeps sessions. Required.
	Store SessionStore
	// HTTPClient talks to the provider; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// Page writes the browser a page with the message of key (one of Messages) in r's
	// language, args filled into its text. Required.
	Page func(w http.ResponseWriter, r *http.Request, status int, key string, args ...any)
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// ValidIssuer checks an issuer URL: absolute, https (or http on a loopback host), no query
// or fragment.
func ValidIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an absolute URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("issuer %q must use https (http is accepted only on a loopback host)", issuer)
	}
	return fmt.Errorf("issuer %q must be an https URL", issuer)
}

func (c Config) withDefaults() (Config, error) {
	if err := ValidIssuer(c.Issuer); err != nil {
		return c, err
	}
	if c.ClientID == "" {
		return c, errors.New("the provider's client ID is missing")
	}
	if c.Store == nil || c.Page == nil {
		return c, errors.New("auth: Store and Page are required")
	}
	if _, err := url.Parse(c.BaseURL); err != nil || c.BaseURL == "" {
		return c, fmt.Errorf("auth: base URL %q is not a URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		c.Scopes = append([]string{oidc.ScopeOpenID}, c.Scopes...)
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	c.SessionTTL = min(c.SessionTTL, MaxSessionTTL)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Auth serves sign-in, its callback and sign-out, and reads sessions from requests.
type Auth struct {
	cfg     Config
	pending pendingLogins

	mu      sync.Mutex
	prov    *provider // nil until discovered; guarded by mu
	failed  error     // the last discovery's error; guarded by mu
	retryAt time.Time // no new discovery before then; guarded by mu
}

// discoveryBackoff is how long after a failed discovery the provider is not asked again
// (sign-in answers with the last error meanwhile), so a down provider is not flooded.
const discoveryBackoff = 5 * time.Second

// provider is what discovery learnt.
type provider struct {
	p          *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string // end_session_endpoint, if any
}

// New returns an Auth for cfg. It does not contact the provider.
func New(cfg Config) (*Auth, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Auth{cfg: cfg, pending: pendingLogins{m: map[string]pendingLogin{}}}, nil
}

// RedirectURI is the URI to register at the provider.
func (a *Auth) RedirectURI() string { return a.cfg.BaseURL + CallbackPath }

// Issuer is the configured provider.
func (a *Auth) Issuer() string { return a.cfg.Issuer }

// provider discovers the provider, once it answers.
func (a *Auth) provider(ctx context.Context) (*provider, error) {
	a.mu.Lock()
	p, failed := a.prov, a.failed
	wait := a.cfg.Now().Before(a.retryAt)
	a.mu.Unlock()
	if p != nil {
		return p, nil
	}
	if failed != nil && wait {
		return nil, failed
	}
	ctx = oidc.ClientContext(ctx, a.cfg.HTTPClient)
	op, err := oidc.NewProvider(ctx, a.cfg.Issuer)
	if err != nil {
		err = fmt.Errorf("discover the sign-in provider %s: %w", a.cfg.Issuer, err)
		a.mu.Lock()
		a.failed, a.retryAt = err, a.cfg.Now().Add(discoveryBackoff)
		a.mu.Unlock()
		return nil, err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&extra) // a provider without it has no logout endpoint
	p = &provider{
		p: op,
		verifier: op.VerifierContext(oidc.ClientContext(context.Background(), a.cfg.HTTPClient), &oidc.Config{
			ClientID: a.cfg.ClientID, SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256}, Now: a.cfg.Now,
		}),
		oauth: oauth2.Config{
			ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, Endpoint: op.Endpoint(),
			RedirectURL: a.RedirectURI(), Scopes: a.cfg.Scopes,
		},
		endSession: extra.EndSession,
	}
	a.mu.Lock()
	a.prov = p
	a.mu.Unlock()
	a.cfg.Log.Info("sign-in provider discovered", "issuer", a.cfg.Issuer, "logout", p.endSession != "")
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
