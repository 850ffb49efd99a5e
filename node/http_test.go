package node

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/federation"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHTTPRoutes(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, err := n.CreateRoom("Weekly sync")
	if err != nil {
		t.Fatal(err)
	}
	index := string(n.static["index.html"].data)
	cases := []struct {
		path, ctype string
		status      int
		contains    string
	}{
		{"/", "text/html; charset=utf-8", 200, `data-testid="sign-in"`},
		{"/api/me", "application/json", 200, `"sign_in":false,"user":null,"node":"test node"`},
		{"/api/meetings", "application/json", 401, "sign in first"},
		{"/auth/login", "text/html; charset=utf-8", 404, "Sign-in is not enabled"},
		{"/accessibility", "text/html; charset=utf-8", 200, `data-i18n="a11y.notTitle"`},
		{"/r/" + room.ID, "text/html; charset=utf-8", 200, index},
		{"/r/" + federation.NewRoomID(), "text/html; charset=utf-8", 404, "No such room"},
		{"/r/not-a-room", "text/html; charset=utf-8", 404, "No such room"},
		{"/static/app.js", "text/javascript; charset=utf-8", 200, ""},
		{"/static/style.css", "text/css; charset=utf-8", 200, ""},
		{"/static/index.html", "text/html; charset=utf-8", 200, ""},
		{"/static/nope.js", "", 404, ""},
		{"/static/../config.json", "", 404, ""},
		{"/api/rooms/" + room.ID, "application/json", 200, `"title":"Weekly sync"`},
		{"/api/rooms/" + federation.NewRoomID(), "application/json", 404, "no such room"},
		{"/healthz", "text/plain; charset=utf-8", 200, "ok"},
		{"/metrics", "text/html; charset=utf-8", 404, ""}, // private: on metrics_addr only
		{"/elsewhere", "text/html; charset=utf-8", 404, ""},
	}
	for _, c := range cases {
		resp, body := get(t, n.URL()+c.path)
		if resp.StatusCode != c.status {
			t.Errorf("GET %s: status %d, want %d", c.path, resp.StatusCode, c.status)
			continue
		}
		if c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, resp.Header.Get("Content-Type"), c.ctype)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "http") {
			t.Errorf("GET %s: CSP %q", c.path, csp)
		}
		if pp := resp.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") || !strings.Contains(pp, "display-capture=(self)") {
			t.Errorf("GET %s: Permissions-Policy %q", c.path, pp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.path)
		}
	}
	var api map[string]string
	_, body := get(t, n.URL()+"/api/rooms/"+room.ID)
	if err := json.Unmarshal([]byte(body), &api); err != nil || api["id"] != room.ID || api["title"] != room.Title {
		t.Errorf("api body %q: %v", body, err)
	}
	// Static assets revalidate by ETag.
	resp, _ := get(t, n.URL()+"/static/app.js")
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("app.js: ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest("GET", n.URL()+"/static/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", resp2.StatusCode)
	}
}

func TestWebSocketOriginChecked(t *testing.T) {
	n := startNode(t, t.TempDir())
	room, err := n.CreateRoom("r")
	if err != nil {
		t.Fatal(err)
	}
	before := counter(t, n, "parley_signalling_errors_total", codeBadOrigin)
	for _, origin := range []string{"http://evil.example", "null", n.URL() + ".evil.example"} {
		_, resp, err := dialWS(t, n.URL(), room.ID, origin)
		if err == nil {
			t.Fatalf("origin %s accepted", origin)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: %v, want 403", origin, err)
		}
	}
	if got := counter(t, n, "parley_signalling_errors_total", codeBadOrigin); got != before+3 {
		t.Errorf("bad_origin counter %v, want %v", got, before+3)
	}
	port := n.HTTPAddr().String()[strings.LastIndex(n.HTTPAddr().String(), ":"):]
	for _, origin := range []string{n.URL(), "http://localhost" + port, ""} {
		c, _, err := dialWS(t, n.URL(), room.ID, origin)
		if err != nil {
			t.Fatalf("origin %q refused: %v", origin, err)
		}
		c.join("Ada")
	}
}

// Many connections that send their headers or their body a byte at a time are closed once
// their time is up; the node answers everyone else meanwhile and holds no descriptor for
// them afterwards.
func TestSlowClientsTimedOut(t *testing.T) {
	n := startNodeWith(t, t.TempDir(), func(c *Config) {
		c.HTTPHeaderTimeout, c.HTTPRequestTimeout = time.Second, time.Second
	})
	addr := n.HTTPAddr().String()
	const each = 100
	type slow struct {
		name  string
		start string // sent at once
	}
	kinds := []slow{
		{"slow headers", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "},
		{"slow body", "POST " + federation.JoinPath + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"},
	}
	var wg sync.WaitGroup
	closedIn := make(chan time.Duration, each*len(kinds))
	for _, k := range kinds {
		for range each {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if _, err := io.WriteString(c, k.start); err != nil {
					closedIn <- time.Since(start)
					return
				}
				// One byte every 200 ms, for at most 10 s, until the node hangs up.
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = io.Copy(io.Discard, c) // until the node closes the connection
				}()
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for i := 0; i < 50; i++ {
					select {
					case <-done:
						closedIn <- time.Since(start)
						return
					case <-tick.C:
						_, _ = c.Write([]byte("a"))
					}
				}
				closedIn <- -1
			}()
		}
	}
	// Everyone else is served meanwhile.
	resp, err := http.Get(n.URL() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz during the slow clients: %v %v", resp, err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("Strict-Transport-Security over plain HTTP: %q", hsts)
	}
	wg.Wait()
	close(closedIn)
	var longest time.Duration
	for d := range closedIn {
		if d < 0 {
			t.Fatal("a slow client was never closed")
		}
		longest = max(longest, d)
	}
	t.Logf("%d slow clients closed, the last after %v", each*len(kinds), longest.Round(time.Millisecond))
}

// A body larger than its handler takes is refused before it is read.
func TestBodyLimit(t *testing.T) {
	n := startNode(t, t.TempDir())
	resp, err := http.Post(n.URL()+federation.JoinPath, "application/json", strings.NewReader(strings.Repeat("x", 64<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 64 KiB join: %s, want 413", resp.Status)
	}
	if got := counter(t, n, "parley_meeting_refusals_total", "http_body_too_large"); got != 1 {
		t.Errorf("refusals counted %v", got)
	}
}

// Metrics are served on the private listener only, loopback by default, with /healthz.
func TestMetricsListener(t *testing.T) {
	n := startNode(t, t.TempDir())
	m := n.MetricsURL()
	if !strings.HasPrefix(m, "http://127.0.0.1:") || m == n.URL() {
		t.Fatalf("metrics URL %q (node at %s)", m, n.URL())
	}
	resp, body := get(t, m+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, "parley_meeting_refusals_total") {
		t.Fatalf("GET /metrics on the metrics listener: %d, %.200q", resp.StatusCode, body)
	}
	if resp, _ := get(t, m+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("GET /healthz on the metrics listener: %d", resp.StatusCode)
	}
	if resp, _ := get(t, m+"/r/x"); resp.StatusCode != 404 {
		t.Errorf("the metrics listener serves pages: %d", resp.StatusCode)
	}
	if st := n.Status(); st.MetricsURL != m {
		t.Errorf("status metrics URL %q, want %q", st.MetricsURL, m)
	}
	off := startNodeWith(t, t.TempDir(), func(c *Config) { c.MetricsAddr = MetricsOff })
	if off.MetricsURL() != "" {
		t.Errorf("metrics off, but served at %q", off.MetricsURL())
	}
}
