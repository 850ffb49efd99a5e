package node

import (
	"encoding/json"
	"io"
	"net/http"
	"parley/federation"
	"strings"
	"testing"
	"time"
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
		{"/", "text/html; charset=utf-8", 200, "test node"},
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
		{"/metrics", "", 200, "parley_signalling_errors_total"},
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
