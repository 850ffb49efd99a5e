package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"parley/identity"
	"parley/node/auth"
	"parley/node/meeting"
)

// Sign-in with the organisation's OpenID Connect provider (Config.OIDC) and the meetings
// signed-in people make. In the store:
//
//	auth/session/<hex SHA-256 of the cookie secret>  -> JSON auth.User (badger TTL: its expiry)
//	owner/<room id>                                   -> JSON roomOwner
//
// A room made on the home page is owned by the person who made it (issuer and subject): they
// list and delete it there, and join it as its moderator.

var (
	sessionPrefix = []byte("auth/session/")
	ownerPrefix   = []byte("owner/")
)

// roomOwner is who made a room on the home page.
type roomOwner struct {
	ID   string `json:"id"` // auth.User.ID: issuer and subject
	Name string `json:"name"`
}

// sessionStore keeps sign-in sessions in the node's store.
type sessionStore struct{ s *store }

func (ss sessionStore) PutSession(key string, u auth.User) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	ttl := time.Until(u.Expires)
	if ttl <= 0 {
		return errors.New("session already expired")
	}
	return ss.s.db.Update(func(txn *badger.Txn) error {
		return txn.SetEntry(badger.NewEntry(append(sessionPrefix, key...), v).WithTTL(ttl))
	})
}

func (ss sessionStore) Session(key string) (auth.User, bool, error) {
	var u auth.User
	err := ss.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(sessionPrefix, key...))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &u) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return auth.User{}, false, nil
	}
	if err != nil {
		return auth.User{}, false, fmt.Errorf("read a session: %w", err)
	}
	return u, true, nil
}

func (ss sessionStore) DeleteSession(key string) error {
	return ss.s.db.Update(func(txn *badger.Txn) error { return txn.Delete(append(sessionPrefix, key...)) })
}

// revokeSessions ends every sign-in session of the node and returns how many there were.
func (s *store) revokeSessions() (int, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sessionPrefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return 0, fmt.Errorf("revoke sessions: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return len(keys), nil
}

// startSignIn sets up sign-in if the configuration names a provider. The provider is not
// contacted yet: a node whose provider is down starts and serves guests.
func (n *Node) startSignIn() error {
	o := n.cfg.OIDC
	if o == nil {
		return nil
	}
	secret, err := o.secret(n.cfg.Dir)
	if err != nil {
		return err
	}
	a, err := auth.New(auth.Config{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes, ACRValues: o.ACRValues,
		BaseURL: n.publicURL, SessionTTL: time.Duration(o.SessionTTL), Store: sessionStore{n.store},
		Page: n.serveMessage, Log: n.log.With("component", "auth"),
	})
	if err != nil {
		return fmt.Errorf("sign-in: %w", err)
	}
	n.auth = a
	n.log.Info("sign-in enabled", "issuer", o.Issuer, "redirect_uri", a.RedirectURI())
	return nil
}

// signedIn returns the person signed in on r, if sign-in is on and they are.
func (n *Node) signedIn(r *http.Request) (auth.User, bool) {
	if n.auth == nil {
		return auth.User{}, false
	}
	u, err := n.auth.User(r)
	if err != nil {
		if !errors.Is(err, auth.ErrNoSession) {
			n.log.Error("read a session", "err", err)
		}
		return auth.User{}, false
	}
	return u, true
}

func (s *store) putOwner(room string, o roomOwner) error {
	v, _ := json.Marshal(o)
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(append(ownerPrefix, room...), v) })
}

// owner returns who made room on the home page, if someone did.
func (s *store) owner(room string) (roomOwner, bool) {
	var o roomOwner
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(ownerPrefix, room...))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &o) })
	})
	return o, err == nil
}

// ownedRooms lists the IDs of the rooms person id made.
func (s *store) ownedRooms(id string) ([]string, error) {
	var out []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: ownerPrefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var o roomOwner
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &o) }); err == nil && o.ID == id {
				out = append(out, string(it.Item().Key()[len(ownerPrefix):]))
			}
		}
		return nil
	})
	return out, err
}

func (s *store) dropOwner(room string) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(append(ownerPrefix, room...)) })
}

// certAccount is u's account as their certificate names it, or nil if the provider's issuer
// or subject cannot go in one (too long, blank or with control characters). An e-mail
// address that cannot is left out.
func certAccount(u auth.User) *meeting.Account {
	ok := func(s string, limit int) bool {
		return strings.TrimSpace(s) != "" && len(s) <= limit && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
	}
	if !ok(u.Issuer, identity.MaxIssLen) || !ok(u.Subject, identity.MaxSubLen) || strings.TrimSpace(u.Name) == "" {
		return nil
	}
	a := &meeting.Account{Issuer: u.Issuer, Subject: u.Subject}
	if ok(u.Email, identity.MaxMailLen) {
		a.Email = u.Email
	}
	return a
}
