// Package node composes a Parley node: it loads the configuration and node key, opens the
// badger store, binds the HTTP, media and admin sockets, runs the SFU (package media) and
// serves the embedded web client (node/web), its JSON API, WebSocket signalling, /healthz and
// /metrics.
//
// Live meetings belong to package node/meeting (one goroutine per live room); node hands it
// functions onto the SFU, the federation and the node key (meetings.go), and its signalling
// sessions are the meetings' connections to clients.
//
// node is the one place where parts are wired together. It owns every socket of the node;
// the packages it composes never bind one themselves. It keeps no package-level mutable
// state: several nodes run side by side in one test process.
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"parley/node/auth"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/federation"
	"parley/identity"
	"parley/media"
	"parley/node/meeting"
)

// shutdownTimeout bounds how long Close waits for HTTP requests in progress.
const shutdownTimeout = 5 * time.Second

// Node is a running Parley node. Create it with New; stop it with Close.
type Node struct {
	cfg        Config
	log        *slog.Logger
	key        *identity.NodeKey
	store      *store
	sfu        *media.SFU
	casc       *cascadeNode
	fed        *fedNode
	meetings   *meeting.Registry
	dataFormat int // the store's format when opened (DataFormat once started)
	audit      *auditor
	auth       *auth.Auth   // nil without an OpenID Connect provider
	repair     *repairWatch // after a repair, until it reports; nil otherwise
	metrics    *metrics
	static     map[string]staticFile
	publicURL  string
	origins    map[string]struct{}

	httpLn     net.Listener
	httpSrv    *http.Server
	metricsLn  net.Listener // nil when metrics_addr is off
	metricsSrv *http.Server
	admin      *adminServer
	serveWG    sync.WaitGroup // the HTTP server's Serve

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{} // guarded by mu
	perAddr  map[string]int        // open sessions by client address; guarded by mu
	sessWG   sync.WaitGroup

	transcribers transcribers // the meetings' transcriber agents

	closeOnce sync.Once
	closeErr  error
}

// New starts a node: it validates cfg (LoadConfig's result, possibly adjusted), opens the
// store and node key in cfg.Dir, binds the HTTP listener (TLS when configured), the media UDP
// socket and the optional ICE-TCP listener and the admin socket, and starts serving. A nil
// log discards logs.
func New(cfg Config, log *slog.Logger) (_ *Node, err error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Dir == "" {
		return nil, errors.New("node: Config.Dir (the data directory) is not set; load the configuration with LoadConfig")
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, fmt.Errorf("node: configuration: %w", err)
	}
	n := &Node{cfg: cfg, log: log, sessions: map[*session]struct{}{}, perAddr: map[string]int{}}

	// On failure, undo what was done, last first.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	if n.static, err = loadStatic(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.key, err = identity.LoadNodeKey(filepath.Join(cfg.Dir, NodeKeyFile)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var aside string
	if cfg.Repair {
		aside = filepath.Join(cfg.Dir, DamagedDir, time.Now().UTC().Format("20060102T150405Z"))
	}
	var repaired *storeRepair
	if n.store, repaired, err = openStore(filepath.Join(cfg.Dir, StoreDir), log, aside); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	undo = append(undo, func() { _ = n.store.Close() })
	if n.dataFormat, err = n.store.checkFormat(); err != nil {
		return nil, fmt.Errorf("node: %s: %w", cfg.Dir, err)
	}
	n.audit = newAuditor(n.store, log.With("component", "audit"))
	undo = append(undo, n.audit.close)
	if repaired != nil {
		detail := fmt.Sprintf("%s; damaged files moved to %s; %d writes after a log's damage written back",
			repaired.damage.describe(), repaired.aside, repaired.written)
		log.Warn("store repaired: " + detail)
		n.audit.record(AuditEntry{Actor: "node", Action: "store.repair", Detail: detail})
	} else if cfg.Repair {
		log.Info("--repair: the store has no damage to repair")
	}

	var tlsCfg *tls.Config
	if cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(cfg.path(cfg.TLSCert), cfg.path(cfg.TLSKey))
		if err != nil {
			return nil, fmt.Errorf("node: load TLS certificate %s and key %s: %w", cfg.path(cfg.TLSCert), cfg.path(cfg.TLSKey), err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("node: listen for HTTP on %s: %w (change http_addr in %s)", cfg.HTTPAddr, err, filepath.Join(cfg.Dir, ConfigFile))
	}
	undo = append(undo, func() { _ = n.httpLn.Close() })
	udp, err := net.ListenPacket("udp", cfg.MediaUDPAddr)
	if err != nil {
		return nil, fmt.Errorf("node: listen for media on UDP %s: %w (change media_udp_addr in %s)", cfg.MediaUDPAddr, err, filepath.Join(cfg.Dir, ConfigFile))
	}
	undo = append(undo, func() { _ = udp.Close() })
	var tcp net.Listener
	if cfg.MediaTCPAddr != MediaTCPOff {
		if tcp, err = net.Listen("tcp", cfg.MediaTCPAddr); err != nil {
			return nil, fmt.Errorf("node: listen for ICE-TCP on %s: %w (change media_tcp_addr in %s)", cfg.MediaTCPAddr, err, filepath.Join(cfg.Dir, ConfigFile))
		}
		undo = append(undo, func() { _ = tcp.Close() })
	}
	if n.casc, err = listenCascade(cfg.CascadeAddr, log.With("component", "cascade")); err != nil {
		return nil, fmt.Errorf("node: listen for the media cascade on UDP %s: %w (change cascade_addr in %s)", cfg.CascadeAddr, err, filepath.Join(cfg.Dir, ConfigFile))
	}
	undo = append(undo, func() { _ = n.casc.close() })
	if n.sfu, err = media.New(media.Config{UDP: udp, TCP: tcp, PublicIPs: cfg.PublicIPs, Logger: log.With("component", "media"),
		TracksChanged: func(room string) { n.meetings.Kick(room) }}); err != nil {
		return nil, fmt.Errorf("node: start the SFU: %w", err)
	}
	undo = append(undo, func() { _ = n.sfu.Close() })

	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	_, port, _ := net.SplitHostPort(n.httpLn.Addr().String())
	n.publicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if n.publicURL == "" {
		n.publicURL = derivePublicURL(cfg, scheme, port)
	}
	n.origins = ownOrigins(cfg, n.publicURL, scheme, port)
	n.casc.advertise(n.publicURL)
	n.metrics = newMetrics(n)
	if err = n.startSignIn(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.meetings, err = n.newMeetings(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	undo = append(undo, func() { _ = n.meetings.Close() })
	if err = n.startFederation(tlsCfg); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	undo = append(undo, func() { _ = n.closeFederation() })
	if repaired != nil {
		n.repair = n.startRepairWatch(repaired)
		undo = append(undo, n.repair.stop)
	}
	if err = n.casc.start(n.key, n.fed.fed, n.sfu); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}

	if n.admin, err = listenAdmin(cfg.Dir, n, log.With("component", "admin")); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	undo = append(undo, func() { _ = n.admin.Close() })

	n.httpSrv = &http.Server{
		Handler:           n.routes(),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: cfg.HTTPHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelDebug),
	}
	ln := n.httpLn
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	n.serveWG.Add(1)
	go func() {
		defer n.serveWG.Done()
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	if cfg.MetricsAddr != MetricsOff {
		if n.metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = n.httpSrv.Close()
			n.serveWG.Wait()
			return nil, fmt.Errorf("node: listen for metrics on %s: %w (change metrics_addr in %s, or set it to \"off\")", cfg.MetricsAddr, err, filepath.Join(cfg.Dir, ConfigFile))
		}
		n.metricsSrv = &http.Server{Handler: n.metricsRoutes(), ReadHeaderTimeout: cfg.HTTPHeaderTimeout,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
			ErrorLog: slog.NewLogLogger(log.With("component", "metrics").Handler(), slog.LevelDebug)}
		n.serveWG.Add(1)
		go func() {
			defer n.serveWG.Done()
			if err := n.metricsSrv.Serve(n.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "err", err)
			}
		}()
	}
	log.Info("node started", "name", cfg.Name, "url", n.publicURL, "http", n.httpLn.Addr().String(),
		"media_udp", udp.LocalAddr().String(), "cascade", n.casc.advertised, "node_id", n.key.ID())
	return n, nil
}

// derivePublicURL builds the base URL from the bound port and the best host we know.
func derivePublicURL(cfg Config, scheme, port string) string {
	host, _, _ := splitHostPort(cfg.HTTPAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
		if len(cfg.PublicIPs) > 0 {
			host = cfg.PublicIPs[0]
		} else if ips := interfaceIPs(); len(ips) > 0 {
			host = ips[0]
		}
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// MetricsURL is the base URL of the node's private metrics listener (URL/metrics), or ""
// when metrics are off.
func (n *Node) MetricsURL() string {
	if n.metricsLn == nil {
		return ""
	}
	return "http://" + n.metricsLn.Addr().String()
}

// URL is the node's base URL, e.g. http://127.0.0.1:41234; room links are URL()/r/<id>.
func (n *Node) URL() string { return n.publicURL }

// Config is the node's configuration with defaults applied.
func (n *Node) Config() Config { return n.cfg }

// NodeID is the short ID of the node key.
func (n *Node) NodeID() string { return n.key.ID() }

// PublicKey is the node's Ed25519 public key, which signs its participants' certificates.
func (n *Node) PublicKey() ed25519.PublicKey { return n.key.PublicKey() }

// HTTPAddr is the address the HTTP server is bound to.
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// CreateRoom makes a room without a lobby; see NewRoom.
func (n *Node) CreateRoom(title string) (Room, error) { return n.NewRoom(RoomOptions{Title: title}) }

// RoomOptionError is a RoomOptions field NewRoom refuses: Field is "title", "guests" or
// "start".
type RoomOptionError struct {
	Field string
	Err   error
}

func (e *RoomOptionError) Error() string { return e.Err.Error() }
func (e *RoomOptionError) Unwrap() error { return e.Err }

// NewRoom makes a room with a fresh random ID owned by this node: the federation signs its
// record (policy included), stores it and announces it to every federated node.
func (n *Node) NewRoom(o RoomOptions) (Room, error) {
	title := strings.TrimSpace(o.Title)
	if err := validTitle(title); err != nil {
		return Room{}, &RoomOptionError{Field: "title", Err: err}
	}
	var orgs []string
	for _, org := range o.Orgs {
		if org = strings.TrimSpace(org); org != "" {
			orgs = append(orgs, org)
		}
	}
	switch o.Guests {
	case federation.GuestsAllowed, federation.GuestsLobby, federation.GuestsNo:
	default:
		return Room{}, &RoomOptionError{Field: "guests", Err: fmt.Errorf("guests %q: say %q (guests wait in the lobby), %q (only people signed in) or nothing (guests join)",
			o.Guests, federation.GuestsLobby, federation.GuestsNo)}
	}
	if !o.Start.IsZero() {
		now := time.Now()
		if o.Start.Before(now.Add(-time.Hour)) || o.Start.After(now.Add(maxScheduleAhead)) {
			return Room{}, &RoomOptionError{Field: "start", Err: fmt.Errorf("a meeting is scheduled from now to two years ahead, not for %s", o.Start.Format(time.RFC3339))}
		}
	}
	r, err := n.fed.fed.CreateRoom(federation.RoomSpec{Title: title, Lobby: o.Lobby, Orgs: orgs, Guests: o.Guests, Start: o.Start})
	if err != nil {
		return Room{}, fmt.Errorf("create the room: %w", err)
	}
	n.log.Info("room created", "room", r.ID, "title", r.Title, "lobby", r.Lobby, "orgs", r.Orgs, "guests", r.Guests)
	return r, nil
}

// DeleteRoom deletes a room this node owns, on every node of the federation: everyone in
// it is sent away, nobody can join it again, and its chat, keys and state are erased from
// every node's store (DESIGN: the room record stays as a tombstone).
func (n *Node) DeleteRoom(id string) (Room, error) {
	r, ok := n.fed.fed.Lookup(id)
	switch {
	case !ok || r.Deleted:
		return Room{}, fmt.Errorf("this node has no room %s (`parley room list` shows its rooms)", id)
	case r.Owner != n.fed.self:
		return Room{}, fmt.Errorf("room %s belongs to another node (%s); only the node that created it can delete it", id, r.Owner)
	}
	r, err := n.fed.fed.DeleteRoom(id)
	if err != nil {
		return Room{}, err
	}
	if err := n.store.dropTranscript(id); err != nil {
		n.log.Warn("erase the deleted room's transcript", "room", id, "err", err)
	}
	n.log.Info("room deleted", "room", r.ID, "title", r.Title)
	return r, nil
}

// Rooms returns the rooms this node owns, oldest first (deleted ones are not listed).
func (n *Node) Rooms() ([]Room, error) {
	var out []Room
	for _, r := range n.fed.fed.Rooms() {
		if r.Owner == n.fed.self && !r.Deleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// Status is what `parley` admin commands learn about a running node.
type Status struct {
	Name         string `json:"name"`
	Organisation string `json:"organisation"`
	URL          string `json:"url"`
	NodeID       string `json:"node_id"`
	Rooms        int    `json:"rooms"`        // stored rooms
	ActiveRooms  int    `json:"active_rooms"` // rooms with participants
	Participants int    `json:"participants"`
	Tracks       int    `json:"tracks"`
	MetricsURL   string `json:"metrics_url,omitempty"` // the private metrics listener
}

// Status reports the node's name, URL and load.
func (n *Node) Status() Status {
	st := n.sfu.Stats()
	return Status{Name: n.cfg.Name, Organisation: n.cfg.Organisation, URL: n.publicURL, NodeID: n.key.ID(),
		Rooms: n.storedRooms(), ActiveRooms: n.meetings.Stats().Rooms, Participants: st.Participants, Tracks: st.Tracks,
		MetricsURL: n.MetricsURL()}
}

// statsSource, for metrics.
func (n *Node) sfuStats() media.Stats   { return n.sfu.Stats() }
func (n *Node) activeRooms() int        { return n.meetings.Stats().Rooms }
func (n *Node) lobbyWaiting() int       { return n.meetings.Stats().Waiting }
func (n *Node) transcribersLinked() int { return n.transcribers.linked() }
func (n *Node) cascadeLinks() []linkMetrics {
	return n.casc.linkStats()
}
func (n *Node) storedRooms() int {
	rs, _ := n.Rooms()
	return len(rs)
}

// Errors of addSession.
var (
	errClosing          = errors.New("the node is shutting down")
	errTooManySessions  = errors.New("too many sessions from one address")
	codeTooManySessions = "too_many_sessions"
)

// addSession registers a signalling session from addr, unless the node is closing or addr
// has MaxSessionsPerAddress open already.
func (n *Node) addSession(s *session) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errClosing
	}
	if n.perAddr[s.addr] >= n.cfg.MaxSessionsPerAddress {
		return errTooManySessions
	}
	n.perAddr[s.addr]++
	n.sessions[s] = struct{}{}
	n.sessWG.Add(1)
	return nil
}

func (n *Node) removeSession(s *session) {
	n.mu.Lock()
	delete(n.sessions, s)
	if n.perAddr[s.addr]--; n.perAddr[s.addr] <= 0 {
		delete(n.perAddr, s.addr)
	}
	n.mu.Unlock()
	n.sessWG.Done()
}

// Close stops the node in order — admin socket, HTTP server, signalling sessions, meetings
// (their last records published), media cascade, SFU, federation, store — and waits for every goroutine it started. Calling it again returns the first
// result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		sessions := make([]*session, 0, len(n.sessions))
		for s := range n.sessions {
			sessions = append(sessions, s)
		}
		n.mu.Unlock()

		var errs []error
		if err := n.admin.Close(); err != nil {
			errs = append(errs, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			_ = n.httpSrv.Close()
		}
		if n.metricsSrv != nil {
			_ = n.metricsSrv.Close()
		}
		cancel()
		n.closeTranscribers()
		n.serveWG.Wait()
		for _, s := range sessions {
			s.kill(websocket.StatusGoingAway, "node is shutting down")
		}
		n.sessWG.Wait()
		if err := n.meetings.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the meetings: %w", err))
		}
		if n.repair != nil {
			n.repair.stop()
		}
		n.audit.close()
		if err := n.casc.close(); err != nil {
			errs = append(errs, fmt.Errorf("close the media cascade: %w", err))
		}
		if err := n.sfu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the SFU: %w", err))
		}
		if err := n.closeFederation(); err != nil {
			errs = append(errs, fmt.Errorf("close federation: %w", err))
		}
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// RoomURLOf is the link to a room on this node.
func (n *Node) RoomURLOf(id string) string { return RoomURL(n.publicURL, id) }

// PublishedTracks are the tracks this node's participants publish in room, and
// ReceivedLayers the simulcast layers of each whose packets have arrived (for tests and
// diagnostics).
func (n *Node) PublishedTracks(room string) []media.PublishedTrack {
	return n.sfu.PublishedTracks(room)
}

// ReceivedLayers: see PublishedTracks.
func (n *Node) ReceivedLayers(room string) map[string]uint8 { return n.sfu.ReceivedLayers(room) }
