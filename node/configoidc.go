package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"parley/node/auth"
)

// OIDCSecretEnv is the environment variable that holds the OpenID Connect client secret
// when the configuration names no client_secret_file.
const OIDCSecretEnv = "PARLEY_OIDC_CLIENT_SECRET"

// OIDCConfig is the organisation's OpenID Connect provider (ProConnect, Keycloak, any
// certified OP), the "oidc" object of config.json. Without it nobody signs in: meetings are
// joined with typed names and rooms are made by the operator.
//
//	"oidc": {
//	  "issuer": "https://auth.agentconnect.gouv.fr/api/v2",
//	  "client_id": "6d4c…",
//	  "client_secret_file": "oidc-secret",
//	  "scopes": ["openid", "email", "given_name", "usual_name", "uid"],
//	  "acr_values": "eidas1",
//	  "session_ttl": "12h"
//	}
type OIDCConfig struct {
	// Issuer is the provider's issuer URL: https, or http on a loopback host. Required.
	Issuer string `json:"issuer"`
	// ClientID is the node's client ID at the provider. Required.
	ClientID string `json:"client_id"`
	// ClientSecretFile holds the client secret (relative paths are inside the data
	// directory; keep it mode 0600). Without it the secret is read from the environment
	// variable PARLEY_OIDC_CLIENT_SECRET. Never put the secret itself in config.json.
	ClientSecretFile string `json:"client_secret_file,omitempty"`
	// Scopes asked for. Default: openid email given_name usual_name uid (ProConnect's).
	Scopes []string `json:"scopes,omitempty"`
	// ACRValues, if set, is asked for (e.g. "eidas1") and the provider's answer must carry
	// one of its values.
	ACRValues string `json:"acr_values,omitempty"`
	// SessionTTL bounds a sign-in ("12h"). Default 12 hours, at most 7 days.
	SessionTTL Duration `json:"session_ttl,omitempty"`
}

func (o *OIDCConfig) validate() error {
	if err := auth.ValidIssuer(o.Issuer); err != nil {
		return fmt.Errorf(`field "oidc.issuer": %w`, err)
	}
	if o.ClientID == "" || len(o.ClientID) > 256 || strings.IndexFunc(o.ClientID, unicode.IsSpace) >= 0 {
		return errors.New(`field "oidc.client_id": required, at most 256 characters, no spaces`)
	}
	if len(o.Scopes) > 32 {
		return errors.New(`field "oidc.scopes": at most 32 scopes`)
	}
	for _, s := range o.Scopes {
		if s == "" || len(s) > 64 || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' }) >= 0 {
			return fmt.Errorf(`field "oidc.scopes": %q is not a scope`, s)
		}
	}
	if len(o.ACRValues) > 256 || strings.IndexFunc(o.ACRValues, unicode.IsControl) >= 0 {
		return errors.New(`field "oidc.acr_values": at most 256 characters, no control characters`)
	}
	if o.SessionTTL < 0 || time.Duration(o.SessionTTL) > auth.MaxSessionTTL {
		return fmt.Errorf(`field "oidc.session_ttl": 0 to %v`, auth.MaxSessionTTL)
	}
	return nil
}

// secret reads the client secret: from ClientSecretFile (inside dir if relative), else from
// PARLEY_OIDC_CLIENT_SECRET.
func (o *OIDCConfig) secret(dir string) (string, error) {
	if o.ClientSecretFile == "" {
		if s := strings.TrimSpace(os.Getenv(OIDCSecretEnv)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf(`sign-in is configured but has no client secret: set "oidc.client_secret_file" in config.json or the environment variable %s`, OIDCSecretEnv)
	}
	path := o.ClientSecretFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf(`read the OpenID Connect client secret ("oidc.client_secret_file"): %w`, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" || len(s) > 4096 {
		return "", fmt.Errorf("the OpenID Connect client secret file %s is empty or over 4096 bytes", path)
	}
	return s, nil
}
