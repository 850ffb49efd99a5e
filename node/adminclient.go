package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNodeNotRunning is returned by DialAdmin when no node is serving the data directory.
var ErrNodeNotRunning = errors.New("no node is running on this data directory")

// maxAdminResponse bounds one response line the client reads.
const maxAdminResponse = 16 << 20

// adminCallTimeout bounds one admin request and its response.
const adminCallTimeout = 45 * time.Second // above federation.join's own bound

// AdminClient talks to a running node over its admin socket (see admin.go for the wire
// format). It is not safe for concurrent use.
type AdminClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// DialAdmin connects to the admin socket of the node running on data directory dir. If no
// node runs there, the error wraps ErrNodeNotRunning.
func DialAdmin(dir string) (*AdminClient, error) {
	path := filepath.Join(dir, AdminSocket)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (%s does not answer)", ErrNodeNotRunning, path)
		}
		return nil, fmt.Errorf("connect to the node's admin socket %s: %w", path, err)
	}
	return &AdminClient{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close closes the connection.
func (c *AdminClient) Close() error { return c.conn.Close() }

// CreateRoom creates a room and returns it with its URLs.
func (c *AdminClient) CreateRoom(o RoomOptions) (AdminRoom, error) {
	resp, err := c.call(AdminRequest{Op: OpRoomCreate, Title: o.Title, Lobby: o.Lobby, Guests: o.Guests, Orgs: o.Orgs})
	if err != nil {
		return AdminRoom{}, err
	}
	if resp.Room == nil {
		return AdminRoom{}, errors.New("admin: room.create answered without a room")
	}
	return *resp.Room, nil
}

// DeleteRoom deletes one of the node's rooms (id) and returns what it was.
func (c *AdminClient) DeleteRoom(id string) (AdminRoom, error) {
	resp, err := c.call(AdminRequest{Op: OpRoomDelete, Room: id})
	if err != nil {
		return AdminRoom{}, err
	}
	if resp.Room == nil {
		return AdminRoom{}, errors.New("admin: room.delete answered without a room")
	}
	return *resp.Room, nil
}

// ListRooms returns the node's rooms, oldest first.
func (c *AdminClient) ListRooms() ([]AdminRoom, error) {
	resp, err := c.call(AdminRequest{Op: OpRoomList})
	if err != nil {
		return nil, err
	}
	return resp.Rooms, nil
}

// Status returns the node's name, URL and load.
func (c *AdminClient) Status() (Status, error) {
	resp, err := c.call(AdminRequest{Op: OpStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, errors.New("admin: status answered without a status")
	}
	return *resp.Status, nil
}

// Backup has the running node write a backup of its data directory to the new file path
// (absolute).
func (c *AdminClient) Backup(path string) error {
	_, err := c.callWithin(AdminRequest{Op: OpBackup, Path: path}, backupTimeout)
	return err
}

// Audit returns the newest limit entries of the audit log (0: 100), oldest first.
func (c *AdminClient) Audit(limit int) ([]AuditEntry, error) {
	resp, err := c.call(AdminRequest{Op: OpAudit, Limit: limit})
	if err != nil {
		return nil, err
	}
	return resp.Audit, nil
}

// backupTimeout bounds a backup over the admin socket (the node copies its whole store).
const backupTimeout = 2 * time.Hour

func (c *AdminClient) call(req AdminRequest) (adminResponse, error) {
	return c.callWithin(req, adminCallTimeout)
}

func (c *AdminClient) callWithin(req AdminRequest, timeout time.Duration) (adminResponse, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return adminResponse{}, err
	}
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := c.conn.Write(append(data, '\n')); err != nil {
		return adminResponse{}, fmt.Errorf("admin %s: send: %w", req.Op, err)
	}
	line, tooLong, err := readLine(c.r, maxAdminResponse)
	if err != nil {
		return adminResponse{}, fmt.Errorf("admin %s: read the answer: %w", req.Op, err)
	}
	if tooLong {
		return adminResponse{}, fmt.Errorf("admin %s: answer is over %d bytes", req.Op, maxAdminResponse)
	}
	var resp adminResponse
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return adminResponse{}, fmt.Errorf("admin %s: malformed answer: %w", req.Op, err)
	}
	if !resp.OK {
		if resp.Error == "" {
			resp.Error = "the node refused without a reason"
		}
		return adminResponse{}, fmt.Errorf("admin %s: %s", req.Op, resp.Error)
	}
	return resp, nil
}

// FederationInvite makes a one-time invite valid for ttl (zero: 24 hours).
func (c *AdminClient) FederationInvite(ttl time.Duration) (string, error) {
	req := AdminRequest{Op: OpFederationInvite}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	resp, err := c.call(req)
	if err != nil {
		return "", err
	}
	return resp.Invite, nil
}

// FederationJoin redeems another node's invite; the two nodes then trust each other.
func (c *AdminClient) FederationJoin(invite string) (AdminPeer, error) {
	resp, err := c.call(AdminRequest{Op: OpFederationJoin, Invite: invite})
	if err != nil {
		return AdminPeer{}, err
	}
	if resp.Peer == nil {
		return AdminPeer{}, errors.New("admin: federation.join answered without a peer")
	}
	return *resp.Peer, nil
}

// FederationList returns the federated nodes.
func (c *AdminClient) FederationList() ([]AdminPeer, error) {
	resp, err := c.call(AdminRequest{Op: OpFederationList})
	if err != nil {
		return nil, err
	}
	return resp.Peers, nil
}

// FederationRemove ends the trust with the node whose peer ID is peer.
func (c *AdminClient) FederationRemove(peer string) error {
	_, err := c.call(AdminRequest{Op: OpFederationRemove, Peer: peer})
	return err
}
