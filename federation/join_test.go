package federation

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inviter starts a node whose join handler is served by a real TLS server on loopback, with
// the server's URL and certificate in its configuration, as the node would do.
func inviter(t *testing.T, log *slog.Logger, name string) (*testNode, *httptest.Server) {
	t.Helper()
	var fed atomic.Pointer[Federation]
	mux := http.NewServeMux()
	mux.Handle(JoinPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := fed.Load(); f != nil {
			f.JoinHandler().ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn) // a refused pin logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n := newTestNode(t, log, name, "", func(c *Config) {
		c.URL = srv.URL
		c.TLSCertificate = srv.Certificate().Raw
	})
	fed.Store(n.fed)
	return n, srv
}

func isPeer(n *testNode, other *testNode) bool {
	for _, p := range n.fed.Peers() {
		if p.ID == other.id() {
			return true
		}
	}
	return false
}

func TestInviteJoin(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice, _ := inviter(t, log, "alice")
	bob := newTestNode(t, log, "bob", "", nil)
	carol := newTestNode(t, log, "carol", "", nil)
	ctx := ctxTimeout(t, 30*time.Second)

	inv, err := alice.fed.Invite(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv, InvitePrefix) {
		t.Fatalf("invite %q lacks its prefix", inv)
	}
	parsed, err := ParseInvite(inv)
	if err != nil {
		t.Fatal(err)
	}

	// A wrong certificate pin is refused before the secret is sent, and spends nothing.
	wrongPin := parsed
	wrongPin.TLSFingerprint = make([]byte, 32)
	if _, err := bob.fed.Join(ctx, wrongPin.String()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("join with a wrong pin: %v", err)
	}
	// A wrong secret is refused.
	wrongSecret := parsed
	wrongSecret.Secret = make([]byte, 32)
	if _, err := bob.fed.Join(ctx, wrongSecret.String()); !errors.Is(err, ErrInviteRefused) {
		t.Fatalf("join with a wrong secret: %v", err)
	}
	// A damaged invite is caught by its checksum.
	damaged := []byte(inv)
	damaged[len(damaged)-3] ^= 1
	if _, err := bob.fed.Join(ctx, string(damaged)); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("join with a damaged invite: %v", err)
	}

	// The real invite makes the trust mutual.
	p, err := bob.fed.Join(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != alice.id() || p.Record.Name != "alice" {
		t.Fatalf("bob joined %+v", p)
	}
	if !isPeer(alice, bob) || !isPeer(bob, alice) {
		t.Fatal("trust is not mutual")
	}
	eventually(t, 10*time.Second, "alice and bob connecting", func() bool {
		return alice.host.Connected(bob.id()) && bob.host.Connected(alice.id())
	})
	if got := alice.fed.Stats().Rejected[ReasonBadSignature]; got != 0 {
		t.Fatalf("alice counted %d bad signatures", got)
	}

	// The invite is spent: carol cannot reuse it.
	if _, err := carol.fed.Join(ctx, inv); !errors.Is(err, ErrInviteRefused) {
		t.Fatalf("reused invite: %v", err)
	}
	if isPeer(alice, carol) || isPeer(carol, alice) {
		t.Fatal("a reused invite federated carol")
	}

	// An expired invite is refused by the inviter, even if the joiner's clock says otherwise.
	short, err := alice.fed.Invite(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let the invite expire
	if _, err := carol.fed.Join(ctx, short); !errors.Is(err, ErrInviteExpired) {
		t.Fatalf("expired invite, joiner side: %v", err)
	}
	forged, _ := ParseInvite(short)
	forged.Expires = time.Now().Add(time.Hour)
	if _, err := carol.fed.Join(ctx, forged.String()); !errors.Is(err, ErrInviteRefused) {
		t.Fatalf("expired invite, inviter side: %v", err)
	}

	// A fresh invite lets carol in; the federation survives restarts on both sides.
	inv2, err := alice.fed.Invite(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.fed.Join(ctx, inv2); err != nil {
		t.Fatal(err)
	}
	alice.restart()
	if !isPeer(alice, bob) || !isPeer(alice, carol) {
		t.Fatal("alice forgot her peers on restart")
	}
	eventually(t, 10*time.Second, "alice reconnecting to bob after restart", func() bool {
		return alice.host.Connected(bob.id())
	})
}

func TestJoinHandlerRefusesBadRequests(t *testing.T) {
	log := testLogger(t, slog.LevelWarn)
	alice, srv := inviter(t, log, "alice")
	client := srv.Client()
	post := func(body string) int {
		t.Helper()
		resp, err := client.Post(srv.URL+JoinPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if resp, err := client.Get(srv.URL + JoinPath); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	for _, body := range []string{
		``, `{}`, `{"v":1}`, `not json`,
		`{"v":1,"secret":"AAAA","record":{},"proof":""}`,
		`{"v":1,"secret":"` + strings.Repeat("A", 43) + `","record":` + string(alice.fed.Record()) + `,"proof":"AAAA"}`,
	} {
		if code := post(body); code != http.StatusBadRequest {
			t.Fatalf("body %.60q: HTTP %d, want 400", body, code)
		}
	}
	if code := post(strings.Repeat(" ", maxJoinBody+10)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: HTTP %d", code)
	}
	if len(alice.fed.Peers()) != 0 {
		t.Fatal("a bad join request federated someone")
	}
}
