// Package testprovider runs a TEST OpenID Connect provider on loopback, for tests and for
// `parley demo`: a real OP (zitadel's certified op package with its in-memory example
// storage) with a username/password login page and a fixed list of accounts. It is not for
// production: accounts, passwords and keys live in memory and its issuer is plain http.
package testprovider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Account is one person who can sign in.
type Account struct {
	Username, Password string
	GivenName, Family  string
	Email              string
}

// Client is a relying party registered at the provider.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where the provider may send the browser after sign-out.
	PostLogoutRedirectURIs []string
}

// Provider is a running test provider.
type Provider struct {
	Issuer string // http://127.0.0.1:PORT
	st     *clientStorage
	srv    *http.Server
	done   chan struct{}
}

// Start runs a provider on a fresh loopback port with these clients (more can be added with
// Register) and accounts. Sign-in
// pages are at ISSUER/login/username (fields "username" and "password").
func Start(clients []Client, accounts []Account) (*Provider, error) {
	if len(accounts) == 0 {
		return nil, errors.New("testprovider: at least one account")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testprovider: listen: %w", err)
	}
	issuer := "http://" + ln.Addr().String()
	users := userStore{}
	for i, a := range accounts {
		id := fmt.Sprintf("user-%d", i+1)
		users[id] = &storage.User{
			ID: id, Username: a.Username, Password: a.Password, FirstName: a.GivenName, LastName: a.Family,
			Email: a.Email, EmailVerified: true, PreferredLanguage: language.French,
		}
	}
	st := &clientStorage{Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}), clients: map[string]Client{}}
	for _, c := range clients {
		st.register(c)
	}
	router := exampleop.SetupServer(issuer, st, nil, false, op.WithAllowInsecure())
	p := &Provider{Issuer: issuer, st: st, done: make(chan struct{}),
		srv: &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Register adds a client (one whose redirect URI was not known at Start). Call it before
// the client's first sign-in.
func (p *Provider) Register(c Client) { p.st.register(c) }

// Close stops the provider and waits for it.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}

// userStore implements storage.UserStore over a fixed map.
type userStore map[string]*storage.User

func (u userStore) GetUserByID(id string) *storage.User { return u[id] }

func (u userStore) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (u userStore) ExampleClientID() string { return storage.ServiceUserID }

// clientStorage is the example storage with clients that can be added while it serves and
// that have post-logout redirect URIs.
type clientStorage struct {
	*storage.Storage
	mu      sync.Mutex
	clients map[string]Client
}

func (s *clientStorage) register(c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = c
}

func (s *clientStorage) client(id string) (Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// GetClientByClientID implements op.Storage.
func (s *clientStorage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.client(id)
	if !ok {
		return nil, errors.New("client not found")
	}
	return webClient{Client: storage.WebClient(c.ID, c.Secret, c.RedirectURIs...), postLogout: c.PostLogoutRedirectURIs}, nil
}

// AuthorizeClientIDSecret implements op.Storage.
func (s *clientStorage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.client(id)
	if !ok || c.Secret != secret {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

type webClient struct {
	*storage.Client
	postLogout []string
}

func (c webClient) PostLogoutRedirectURIs() []string { return c.postLogout }
