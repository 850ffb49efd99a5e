package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The admin socket is a Unix socket, DIR/admin.sock, mode 0600 inside the 0700 data
// directory: only the node's owner reaches it. It speaks line-delimited JSON, one request and
// one response per line, any number per connection:
//
//	-> {"op":"room.create","title":"Weekly sync","lobby":true,"orgs":["Ministère B"]}
//	<- {"ok":true,"room":{"id":"…","title":"Weekly sync","created":"…","lobby":true,
//	    "orgs":["Ministère A","Ministère B"],
//	    "url":"https://…/r/…","moderator_url":"https://…/r/…?mod=…"}}
//	-> {"op":"room.list"}
//	<- {"ok":true,"rooms":[{…},…]}
//	-> {"op":"status"}
//	<- {"ok":true,"status":{"name":…,"url":…,…}}
//	-> {"op":"teleport"}
//	<- {"ok":false,"error":"unknown op \"teleport\" (want room.create, room.list or status)"}
//
// A request line is at most MaxAdminRequest bytes; a longer one gets an error and the
// connection is closed.

// Admin operations.
const (
	OpRoomCreate = "room.create"
	OpRoomList   = "room.list"
	OpRoomDelete = "room.delete"
	OpStatus     = "status"

	OpFederationInvite = "federation.invite"
	OpFederationJoin   = "federation.join"
	OpFederationList   = "federation.list"
	OpFederationRemove = "federation.remove"

	OpBackup = "backup"
	OpAudit  = "audit"
)

// Admin socket limits.
const (
	MaxAdminRequest  = 16 << 10
	maxAdminConns    = 16
	adminIdleTimeout = 60 * time.Second
	// maxUnixPath is the longest socket path Linux accepts (sun_path is 108 bytes with the NUL).
	maxUnixPath = 107
)

// AdminRequest is one request on the admin socket.
type AdminRequest struct {
	Op    string `json:"op"`
	Room  string `json:"room,omitempty"`  // room.delete: the room's ID
	Title string `json:"title,omitempty"` // room.create
	Lobby bool   `json:"lobby,omitempty"` // room.create
	// room.create: who may join without signing in: "" (guests join), "lobby" or "no".
	Guests string `json:"guests,omitempty"`
	// room.create: the organisations whose nodes may take part; none opens the room to
	// every federated node.
	Orgs []string `json:"orgs,omitempty"`
	// federation.invite: how long the invite stays valid, e.g. "24h"; "" means 24 hours.
	TTL string `json:"ttl,omitempty"`
	// federation.join: the invite another node printed.
	Invite string `json:"invite,omitempty"`
	// federation.remove: the peer ID of the node to remove.
	Peer string `json:"peer,omitempty"`
	// backup: the absolute path of the new backup file, written by the node.
	Path string `json:"path,omitempty"`
	// audit: how many of the newest entries to return (1 to 1000; 0 means 100).
	Limit int `json:"limit,omitempty"`
}

// AdminRoom is a room as the admin socket reports it, with its link.
type AdminRoom struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
	Lobby   bool      `json:"lobby,omitempty"`
	Guests  string    `json:"guests,omitempty"` // "" (guests join), "lobby" or "no"
	// Orgs are the organisations whose nodes may take part; empty: every federated node.
	Orgs []string `json:"orgs,omitempty"`
	URL  string   `json:"url"`
	// ModeratorURL is the room's link for moderators (who admit from the lobby and remove).
	ModeratorURL string `json:"moderator_url"`
}

// adminResponse is one response line.
type adminResponse struct {
	OK     bool         `json:"ok"`
	Error  string       `json:"error,omitempty"`
	Room   *AdminRoom   `json:"room,omitempty"`
	Rooms  []AdminRoom  `json:"rooms,omitempty"`
	Status *Status      `json:"status,omitempty"`
	Invite string       `json:"invite,omitempty"`
	Peer   *AdminPeer   `json:"peer,omitempty"`
	Peers  []AdminPeer  `json:"peers,omitempty"`
	Audit  []AuditEntry `json:"audit,omitempty"`
}

// DecodeAdminRequest parses and validates one request line (without its newline).
func DecodeAdminRequest(line []byte) (AdminRequest, error) {
	if len(line) > MaxAdminRequest {
		return AdminRequest{}, fmt.Errorf("request is over %d bytes", MaxAdminRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var req AdminRequest
	if err := dec.Decode(&req); err != nil {
		return AdminRequest{}, fmt.Errorf("request is not a valid JSON object: %w", err)
	}
	if dec.More() {
		return AdminRequest{}, errors.New("trailing data after the request")
	}
	if len(req.Orgs) == 0 {
		req.Orgs = nil // "orgs":[] is no organisation named
	}
	switch req.Op {
	case OpRoomCreate:
		if err := validTitle(req.Title); err != nil {
			return AdminRequest{}, fmt.Errorf("room.create: %w", err)
		}
		if req.federationArgs() || req.Room != "" {
			return AdminRequest{}, errors.New("room.create takes only a title, lobby, guests and orgs")
		}
	case OpRoomDelete:
		if !ValidRoomID(req.Room) {
			return AdminRequest{}, fmt.Errorf("room.delete: %q is not a room ID", req.Room)
		}
		if req.Title != "" || req.Lobby || req.Guests != "" || req.Orgs != nil || req.federationArgs() || req.Path != "" || req.Limit != 0 {
			return AdminRequest{}, errors.New("room.delete takes only a room ID")
		}
	case OpRoomList, OpStatus, OpFederationList:
		if req.roomArgs() || req.federationArgs() || req.Path != "" || req.Limit != 0 {
			return AdminRequest{}, fmt.Errorf("%s takes no arguments", req.Op)
		}
	case OpFederationInvite, OpFederationJoin, OpFederationRemove:
		if err := req.validateFederation(); err != nil {
			return AdminRequest{}, fmt.Errorf("%s: %w", req.Op, err)
		}
	case OpAudit:
		if req.roomArgs() || req.federationArgs() || req.Path != "" || req.Limit < 0 || req.Limit > maxAuditList {
			return AdminRequest{}, fmt.Errorf("audit takes only a limit of 1 to %d", maxAuditList)
		}
	case OpBackup:
		if req.roomArgs() || req.federationArgs() || req.Limit != 0 {
			return AdminRequest{}, errors.New("backup takes only a path")
		}
		if !filepath.IsAbs(req.Path) || len(req.Path) > 4096 || strings.ContainsRune(req.Path, 0) {
			return AdminRequest{}, fmt.Errorf("backup: %q is not an absolute file path", req.Path)
		}
	case "":
		return AdminRequest{}, errors.New(`request has no "op"`)
	default:
		return AdminRequest{}, fmt.Errorf("unknown op %q (want %s, %s, %s, %s, %s, %s, %s, %s, %s or %s)", req.Op, OpRoomCreate, OpRoomList,
			OpRoomDelete, OpStatus, OpFederationInvite, OpFederationJoin, OpFederationList, OpFederationRemove, OpBackup, OpAudit)
	}
	return req, nil
}

// roomArgs reports whether req carries any argument of room.create (or room.delete's room).
func (req AdminRequest) roomArgs() bool {
	return req.Title != "" || req.Lobby || req.Guests != "" || req.Orgs != nil || req.Room != ""
}

// federationArgs reports whether req carries any argument of the federation ops.
func (req AdminRequest) federationArgs() bool {
	return req.TTL != "" || req.Invite != "" || req.Peer != ""
}

// adminServer serves the admin socket.
type adminServer struct {
	ln   net.Listener
	path string
	node *Node
	log  *slog.Logger
	sem  chan struct{} // bounds concurrent connections

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // guarded by mu
	closed bool                  // guarded by mu
	wg     sync.WaitGroup
}

// listenAdmin binds DIR/admin.sock, removing a stale socket left by a node that died, but
// refusing if a node still answers on it.
func listenAdmin(dir string, n *Node, log *slog.Logger) (*adminServer, error) {
	path := filepath.Join(dir, AdminSocket)
	if len(path) > maxUnixPath {
		return nil, fmt.Errorf("admin socket path %s is %d bytes, over the %d a Unix socket allows; use a shorter data directory path", path, len(path), maxUnixPath)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; move it away", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("another node is already running on %s (its admin socket answers); stop it first", dir)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("check the existing admin socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale admin socket: %w", err)
		}
		log.Info("removed a stale admin socket", "path", path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on the admin socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("make the admin socket owner-only: %w", err)
	}
	a := &adminServer{ln: ln, path: path, node: n, log: log, sem: make(chan struct{}, maxAdminConns), conns: map[net.Conn]struct{}{}}
	a.wg.Add(1)
	go a.acceptLoop()
	return a, nil
}

func (a *adminServer) acceptLoop() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.log.Error("admin socket accept", "err", err)
			}
			return
		}
		select {
		case a.sem <- struct{}{}:
		default:
			_ = writeAdmin(c, adminResponse{Error: "too many admin connections; try again"})
			c.Close()
			continue
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			<-a.sem
			continue
		}
		a.conns[c] = struct{}{}
		a.wg.Add(1)
		a.mu.Unlock()
		go func() {
			defer a.wg.Done()
			defer func() { <-a.sem }()
			a.serveConn(c)
			a.mu.Lock()
			delete(a.conns, c)
			a.mu.Unlock()
			c.Close()
		}()
	}
}

func (a *adminServer) serveConn(c net.Conn) {
	r := bufio.NewReaderSize(c, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(adminIdleTimeout))
		line, tooLong, err := readLine(r, MaxAdminRequest)
		if err != nil {
			return
		}
		if tooLong {
			_ = writeAdmin(c, adminResponse{Error: fmt.Sprintf("request is over %d bytes", MaxAdminRequest)})
			return
		}
		resp := a.handle(line)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := writeAdmin(c, resp); err != nil {
			return
		}
	}
}

// readLine reads one '\n'-terminated line of at most max bytes (without the newline).
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, true, nil
		}
		line = append(line, chunk...)
		if err == nil {
			return bytes.TrimSuffix(line, []byte{'\n'}), false, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, false, err
		}
	}
}

func (a *adminServer) handle(line []byte) adminResponse {
	req, err := DecodeAdminRequest(line)
	if err != nil {
		return adminResponse{Error: err.Error()}
	}
	resp := a.do(req)
	if resp.OK {
		a.audit(req, resp)
	}
	return resp
}

// audit records an administrative action that changed something, once it succeeded.
func (a *adminServer) audit(req AdminRequest, resp adminResponse) {
	e := AuditEntry{Actor: "admin", Action: req.Op}
	switch req.Op {
	case OpRoomCreate:
		if resp.Room != nil {
			e.Room = resp.Room.ID
		}
		e.Detail = fmt.Sprintf("%q lobby=%v guests=%q orgs=%v", req.Title, req.Lobby, req.Guests, req.Orgs)
	case OpRoomDelete:
		e.Room = req.Room
		if resp.Room != nil {
			e.Detail = fmt.Sprintf("%q", resp.Room.Title)
		}
	case OpFederationInvite:
		e.Detail = "ttl " + req.TTL
	case OpFederationJoin:
		if resp.Peer != nil {
			e.Target = resp.Peer.ID + " (" + resp.Peer.Name + ")"
		}
	case OpFederationRemove:
		e.Target = req.Peer
	case OpBackup:
		e.Detail = req.Path
	default:
		return // reads change nothing
	}
	a.node.audit.record(e)
}

// do carries out a valid request.
func (a *adminServer) do(req AdminRequest) adminResponse {
	n := a.node
	switch req.Op {
	case OpRoomCreate:
		r, err := n.NewRoom(RoomOptions{Title: req.Title, Lobby: req.Lobby, Guests: req.Guests, Orgs: req.Orgs})
		if err != nil {
			a.log.Error("create room", "err", err)
			return adminResponse{Error: "create room: " + err.Error()}
		}
		ar := n.adminRoom(r)
		return adminResponse{OK: true, Room: &ar}
	case OpRoomDelete:
		r, err := n.DeleteRoom(req.Room)
		if err != nil {
			return adminResponse{Error: "delete room: " + err.Error()}
		}
		ar := n.adminRoom(r)
		return adminResponse{OK: true, Room: &ar}
	case OpRoomList:
		rs, err := n.Rooms()
		if err != nil {
			return adminResponse{Error: "list rooms: " + err.Error()}
		}
		out := make([]AdminRoom, 0, len(rs))
		for _, r := range rs {
			out = append(out, n.adminRoom(r))
		}
		return adminResponse{OK: true, Rooms: out}
	case OpFederationInvite, OpFederationJoin, OpFederationList, OpFederationRemove:
		return a.federation(req)
	case OpAudit:
		limit := req.Limit
		if limit == 0 {
			limit = 100
		}
		entries, err := n.store.auditList(limit)
		if err != nil {
			return adminResponse{Error: "read the audit log: " + err.Error()}
		}
		return adminResponse{OK: true, Audit: entries}
	case OpBackup:
		if err := n.Backup(req.Path); err != nil {
			a.log.Error("backup", "err", err)
			return adminResponse{Error: err.Error()}
		}
		return adminResponse{OK: true}
	default: // OpStatus
		st := n.Status()
		return adminResponse{OK: true, Status: &st}
	}
}

func (n *Node) adminRoom(r Room) AdminRoom {
	return AdminRoom{ID: r.ID, Title: r.Title, Created: r.Created, Lobby: r.Lobby, Guests: r.Guests, Orgs: r.Orgs,
		URL: RoomURL(n.publicURL, r.ID), ModeratorURL: n.ModeratorURL(r.ID)}
}

func writeAdmin(c net.Conn, resp adminResponse) error {
	data, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	_, err = c.Write(append(data, '\n'))
	return err
}

// Close stops accepting, closes open admin connections and waits for their goroutines. The
// socket file is removed.
func (a *adminServer) Close() error {
	a.mu.Lock()
	a.closed = true
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	err := a.ln.Close()
	a.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close the admin socket: %w", err)
	}
	return nil
}
