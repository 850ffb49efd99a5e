package federation

import (
	"errors"
	"fmt"
	"net/url"
	"unicode"
	"unicode/utf8"
)

// Field limits of records, checked on everything read from a peer or the store.
const (
	MaxNameLen   = 64   // runes of a node or participant display name
	MaxOrgLen    = 128  // runes of an organisation
	MaxTitleLen  = 200  // runes of a room title
	maxURLLen    = 2048 // bytes of an HTTP URL
	maxAddrs     = 32   // libp2p addresses in a node record or invite
	maxAddrLen   = 512  // bytes of one address
	maxOrgs      = 64   // organisations in a room policy
	maxIDLen     = 64   // bytes of a participant id
	maxMillis    = 1 << 45
	maxSecretLen = 64
)

// text checks a human-readable string: valid UTF-8, no control characters, at most max runes,
// and non-empty unless empty is allowed.
func text(what, s string, max int, empty bool) error {
	if s == "" {
		if empty {
			return nil
		}
		return fmt.Errorf("%s is empty", what)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%s is not valid text of at most %d characters", what, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains a control character", what)
		}
	}
	return nil
}

// token checks an identifier-like string: 1..max bytes of printable ASCII without spaces.
func token(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes", what, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%s contains a byte outside printable ASCII", what)
		}
	}
	return nil
}

// httpURL checks an absolute http or https URL with a host and no user info or fragment.
func httpURL(what, s string, empty bool) error {
	if s == "" && empty {
		return nil
	}
	if err := token(what, s, maxURLLen); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%s %q is not an http(s) URL of a host", what, s)
	}
	return nil
}

// addrList checks a list of libp2p addresses (as mesh spells them; opaque here).
func addrList(addrs []string) error {
	if len(addrs) > maxAddrs {
		return fmt.Errorf("%d addresses, at most %d", len(addrs), maxAddrs)
	}
	for _, a := range addrs {
		if err := token("address", a, maxAddrLen); err != nil {
			return err
		}
	}
	return nil
}

// millis checks a unix time in milliseconds: positive and before the year 3000.
func millis(what string, ms int64) error {
	if ms <= 0 || ms >= maxMillis {
		return fmt.Errorf("%s %d is not a plausible unix time in milliseconds", what, ms)
	}
	return nil
}

// errVersion is returned for a record whose "v" is not wireVersion.
var errVersion = errors.New("unsupported version")
