package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"path"
	"strings"
	"time"

	"github.com/coder/websocket"

	"parley/federation"
	"parley/media/signal"
	"parley/node/auth"
	"parley/node/web"
)

// HTTP routes:
//
//	GET /                 landing page naming the node
//	POST /api/federation/join  redeem a federation invite (package federation)
//	GET /r/<roomID>       the web client (static/index.html); 404 page for an unknown room
//	GET /static/<file>    the web client's assets, from the binary
//	GET /api/rooms/<id>   {"id":…,"title":…}; 404 {"error":…} for an unknown room
//	GET /ws/<roomID>      signalling WebSocket (Origin checked)
//	GET /healthz          "ok"

// securityHeaders are set on every response. The web client is same-origin only: no inline
// script or style, no external origin; media may come from blob: and mediastream: URLs.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; " +
		"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"Permissions-Policy":           "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// contentTypes are the static assets' types, fixed here rather than taken from the host's
// MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".wasm": "application/wasm",
	".txt":  "text/plain; charset=utf-8",
}

// staticFile is one embedded asset, read once at start.
type staticFile struct {
	data        []byte
	etag        string
	contentType string
}

// loadStatic reads the embedded web client into memory.
func loadStatic() (map[string]staticFile, error) {
	sub, err := fs.Sub(web.Static, "static")
	if err != nil {
		return nil, fmt.Errorf("web client: %w", err)
	}
	files := map[string]staticFile{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ct := contentTypes[path.Ext(p)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		files[p] = staticFile{data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web client: %w", err)
	}
	if _, ok := files["index.html"]; !ok {
		return nil, errors.New("web client: static/index.html is missing from the binary")
	}
	return files, nil
}

// HTTP limits. Every request gets at most requestTimeout to send its body and to be answered
// (the WebSocket upgrade hands its connection to the signalling session, whose own reads
// and writes are bounded), and a body of at most its handler's limit.
const (
	headerTimeout  = 10 * time.Second // the request line and headers
	requestTimeout = 15 * time.Second // reading the body and writing the answer
	noBody         = 0                // GET handlers read no body
	joinBodyLimit  = 16 << 10         // a federation join (the federation checks it too)
	hstsMaxAge     = 365 * 24 * 3600  // seconds browsers keep to HTTPS once they saw it
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, limit int64, h http.Handler) {
		mux.Handle(pattern, n.bounded(limit, h))
	}
	handle("GET /{$}", noBody, http.HandlerFunc(n.serveLanding))
	handle("GET /r/{id}", noBody, http.HandlerFunc(n.serveRoomPage))
	handle("GET /accessibility", noBody, http.HandlerFunc(n.serveStatement))
	handle("GET /static/{file...}", noBody, http.HandlerFunc(n.serveStatic))
	handle("GET /api/rooms/{id}", noBody, http.HandlerFunc(n.serveRoomAPI))
	handle("GET /api/rooms/{id}/transcript", noBody, http.HandlerFunc(n.serveTranscript))
	handle("GET /api/me", noBody, http.HandlerFunc(n.serveMe))
	handle("GET /api/meetings", noBody, http.HandlerFunc(n.serveMyMeetings))
	handle("POST /api/meetings", meetingBodyLimit, http.HandlerFunc(n.serveCreateMeeting))
	handle("DELETE /api/meetings/{id}", noBody, http.HandlerFunc(n.serveDeleteMeeting))
	if n.auth != nil {
		handle("GET "+auth.LoginPath, noBody, http.HandlerFunc(n.auth.Login))
		handle("GET "+auth.CallbackPath, noBody, http.HandlerFunc(n.auth.Callback))
		handle("POST "+auth.LogoutPath, noBody, http.HandlerFunc(n.serveLogout))
	} else {
		handle("GET "+auth.LoginPath, noBody, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.serveMessage(w, r, http.StatusNotFound, "signInOff")
		}))
	}
	mux.Handle("GET /ws/{id}", n.bodyLimit(noBody, http.HandlerFunc(n.serveWS))) // the session bounds the rest
	mux.Handle("GET "+signal.TranscriberPath, n.bodyLimit(noBody, http.HandlerFunc(n.serveTranscriberLink)))
	handle("POST "+federation.JoinPath, joinBodyLimit, n.fed.fed.JoinHandler())
	handle("GET /healthz", noBody, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	}))
	handle("/", noBody, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.serveMessage(w, r, http.StatusNotFound, "notFound")
	}))
	return n.withSecurityHeaders(mux)
}

// metricsRoutes are the private metrics listener's: /metrics and /healthz.
func (n *Node) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.bounded(noBody, n.metrics.handler()))
	if n.cfg.MetricsPprof {
		// Not bounded: a CPU profile takes as long as it is asked to.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	mux.Handle("GET /healthz", n.bounded(noBody, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})))
	return mux
}

// bounded gives a request Config.HTTPRequestTimeout to send its body and be answered, and
// a body of at most limit bytes.
func (n *Node) bounded(limit int64, h http.Handler) http.Handler {
	h = n.bodyLimit(limit, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(n.cfg.HTTPRequestTimeout)
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		h.ServeHTTP(w, r)
	})
}

// bodyLimit refuses a body over limit bytes: with 413 when it says so up front, else its
// reader fails past the limit.
func (n *Node) bodyLimit(limit int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			n.metrics.refused("http_body_too_large")
			http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

func (n *Node) withSecurityHeaders(h http.Handler) http.Handler {
	tls := n.cfg.TLS()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if tls {
			w.Header().Set("Strict-Transport-Security", fmt.Sprintf("max-age=%d", hstsMaxAge))
		}
		h.ServeHTTP(w, r)
	})
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}{{if ne .Title .Node}} · {{.Node}}{{end}}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
</head><body>
<main class="page">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
<p><small>{{.Footer}}{{if ne .Org .Node}} ({{.Org}}){{end}}</small></p>
</main>
</body></html>
`))

// serveMessage writes the page of message key (pagetext.go) in r's language; args fill in
// its text.
func (n *Node) serveMessage(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	lang := n.pageLanguage(r)
	n.writePage(w, status, lang, pageMessage(lang, key+".title"), pageMessage(lang, key+".text", args...))
}

func (n *Node) writePage(w http.ResponseWriter, status int, lang, title, text string) {
	var buf bytes.Buffer
	_ = pageTemplate.Execute(&buf, map[string]string{"Lang": lang, "Title": title, "Text": text, "Node": n.cfg.Name,
		"Org": n.cfg.Organisation, "Footer": pageMessage(lang, "footer", n.cfg.Name)})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// serveLanding serves the home page (static/home.html): sign in, start and list meetings,
// join by link or code.
func (n *Node) serveLanding(w http.ResponseWriter, r *http.Request) {
	f := n.page("home.html")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// serveStatement serves the accessibility statement (static/accessibility.html).
func (n *Node) serveStatement(w http.ResponseWriter, r *http.Request) {
	f := n.page("accessibility.html")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

func (n *Node) serveRoomPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	room, err := n.lookupRoom(id)
	if err == nil && !n.openTo(room) {
		n.serveMessage(w, r, http.StatusForbidden, "roomClosed", n.cfg.Name, strings.Join(room.Orgs, ", "), n.cfg.Organisation)
		return
	}
	if err != nil {
		if errors.Is(err, ErrRoomDeleted) {
			n.serveMessage(w, r, http.StatusGone, "roomDeleted")
			return
		}
		if errors.Is(err, ErrNotFound) {
			n.serveMessage(w, r, http.StatusNotFound, "noRoom")
			return
		}
		n.log.Error("read room", "room", id, "err", err)
		n.serveMessage(w, r, http.StatusInternalServerError, "error")
		return
	}
	f := n.page("index.html")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// page is a page of the web client with the node's default language on its <html>, which
// the client falls back to when the browser asks for no language it has.
func (n *Node) page(name string) staticFile {
	f := n.static[name]
	if n.cfg.DefaultLanguage == "" {
		return f
	}
	f.data = bytes.Replace(f.data, []byte(`<html lang="en">`),
		[]byte(`<html lang="`+n.cfg.DefaultLanguage+`" data-default-lang="`+n.cfg.DefaultLanguage+`">`), 1)
	return f
}

func (n *Node) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := n.static[r.PathValue("file")]
	if !ok {
		http.Error(w, "404 not found", http.StatusNotFound)
		return
	}
	// The file names carry no version, so browsers revalidate (cheaply, by ETag) each time.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

func (n *Node) serveRoomAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	room, err := n.lookupRoom(r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNotFound):
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no such room"})
	case errors.Is(err, ErrRoomDeleted):
		w.WriteHeader(http.StatusGone)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "the room was deleted by its host"})
	case err != nil:
		n.log.Error("read room", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "the node could not read the room"})
	default:
		_ = json.NewEncoder(w).Encode(map[string]string{"id": room.ID, "title": room.Title})
	}
}

// serveWS upgrades to the signalling WebSocket after checking the Origin: browsers send it,
// and only the node's own pages (and the configured AllowedOrigins) may connect. Requests
// without an Origin come from non-browser clients, which no web page can forge.
func (n *Node) serveWS(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !n.originAllowed(origin) {
		n.metrics.signallingError(codeBadOrigin)
		n.log.Warn("signalling refused: origin not allowed", "origin", origin)
		http.Error(w, "origin not allowed: add it to allowed_origins in the node configuration", http.StatusForbidden)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin was checked above, stricter than the library would
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered
	}
	s := newSession(n, conn, r.PathValue("id"), clientAddr(r))
	s.owner = n.isOwner(r, s.roomID)
	if u, ok := n.signedIn(r); ok {
		s.verifiedName, s.account = clipRunes(u.Name, signal.MaxNameLen), certAccount(u)
		if s.account == nil {
			n.log.Warn("a signed-in person joins as a guest: the identity provider's issuer or subject cannot go in a certificate",
				"issuer", u.Issuer, "subject_bytes", len(u.Subject))
			s.verifiedName = ""
		}
	}
	if err := n.addSession(s); err != nil {
		code := websocket.StatusGoingAway
		if errors.Is(err, errTooManySessions) {
			n.metrics.refused(codeTooManySessions)
			n.log.Warn("signalling refused: too many sessions from one address", "addr", s.addr,
				"max_sessions_per_address", n.cfg.MaxSessionsPerAddress)
			code = websocket.StatusTryAgainLater
		}
		_ = conn.Close(code, err.Error())
		return
	}
	defer n.removeSession(s)
	n.metrics.wsSessions.Inc()
	s.run()
}

// clipRunes cuts s to at most n characters.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// clientAddr is the IP address a request came from (its TCP peer: the node trusts no
// forwarding header).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// codeBadOrigin labels refused WebSocket handshakes in parley_signalling_errors_total.
const codeBadOrigin = "bad_origin"

// originAllowed reports whether origin is the node's own or an allowed one.
func (n *Node) originAllowed(origin string) bool {
	o, err := normalOrigin(origin)
	if err != nil {
		return false
	}
	_, ok := n.origins[o]
	return ok
}

// ownOrigins are the origins of the node's own pages: its public URL, the bound address and,
// on loopback or unspecified hosts, the localhost spellings of it, plus AllowedOrigins.
func ownOrigins(cfg Config, publicURL, scheme string, port string) map[string]struct{} {
	out := map[string]struct{}{}
	add := func(o string) {
		if n, err := normalOrigin(o); err == nil {
			out[n] = struct{}{}
		}
	}
	add(publicURL)
	host, _, _ := splitHostPort(cfg.HTTPAddr)
	hosts := []string{host}
	if isLoopbackHost(host) || host == "" || host == "0.0.0.0" || host == "::" {
		hosts = append(hosts, "localhost", "127.0.0.1", "[::1]")
	}
	for _, ip := range cfg.PublicIPs {
		hosts = append(hosts, ip)
	}
	for _, h := range hosts {
		if h == "" || h == "0.0.0.0" || h == "::" {
			continue
		}
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			h = "[" + h + "]"
		}
		add(scheme + "://" + h + ":" + port)
	}
	for _, o := range cfg.AllowedOrigins {
		add(o)
	}
	return out
}
