package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAdminSocketRoundTrip(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	st, err := os.Stat(filepath.Join(dir, AdminSocket))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket mode %v, want an owner-only socket", st.Mode())
	}
	c, err := DialAdmin(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.CreateRoom(RoomOptions{Title: "Weekly sync"})
	if err != nil {
		t.Fatal(err)
	}
	if !ValidRoomID(r.ID) || r.Title != "Weekly sync" || r.URL != n.URL()+"/r/"+r.ID {
		t.Fatalf("created %+v", r)
	}
	if _, err := c.CreateRoom(RoomOptions{Title: "   "}); err == nil || !strings.Contains(err.Error(), "title") {
		t.Errorf("empty title: %v, want an error about the title", err)
	}
	rooms, err := c.ListRooms()
	if err != nil || len(rooms) != 1 || rooms[0].ID != r.ID {
		t.Fatalf("list = %+v, %v", rooms, err)
	}
	status, err := c.Status()
	if err != nil || status.Name != "test node" || status.URL != n.URL() || status.Rooms != 1 {
		t.Fatalf("status = %+v, %v", status, err)
	}
	if nr, err := n.Rooms(); err != nil || len(nr) != 1 {
		t.Fatalf("node sees %v, %v", nr, err)
	}
}

func TestAdminSocketBadRequests(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir)
	conn, err := net.Dial("unix", filepath.Join(dir, AdminSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	ask := func(line string) adminResponse {
		t.Helper()
		if _, err := conn.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %q: %v", line, err)
		}
		var ar adminResponse
		if err := json.Unmarshal(resp, &ar); err != nil {
			t.Fatal(err)
		}
		return ar
	}
	for line, want := range map[string]string{
		`{"op":"teleport"}`:               "unknown op",
		`{"op":"room.list","title":"x"}`:  "takes no arguments",
		`{"op":"status","extra":1}`:       "unknown field",
		`not json`:                        "not a valid JSON",
		`{}`:                              `no "op"`,
		`{"op":"room.create","title":""}`: "title",
	} {
		if ar := ask(line); ar.OK || !strings.Contains(ar.Error, want) {
			t.Errorf("%s: %+v, want an error containing %q", line, ar, want)
		}
	}
	// The connection still works after errors.
	if ar := ask(`{"op":"status"}`); !ar.OK || ar.Status == nil {
		t.Fatalf("status after errors: %+v", ar)
	}
	// An over-long line gets an error and the connection is closed.
	if ar := ask(`{"op":"room.create","title":"` + strings.Repeat("x", MaxAdminRequest) + `"}`); ar.OK || !strings.Contains(ar.Error, "over") {
		t.Errorf("huge request: %+v", ar)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("connection still open after an over-long request")
	}
}

func TestDialAdminWithoutNode(t *testing.T) {
	_, err := DialAdmin(t.TempDir())
	if !errors.Is(err, ErrNodeNotRunning) {
		t.Fatalf("err %v, want ErrNodeNotRunning", err)
	}
}

func TestAdminStaleSocketAndLiveSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AdminSocket)
	// A stale socket: bound, then its listener gone without unlinking.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	startNode(t, dir) // removes it and binds its own
	if _, err := DialAdmin(dir); err != nil {
		t.Fatalf("dial after stale-socket cleanup: %v", err)
	}
	// While the node runs, a second admin listener on the same directory is refused.
	if _, err := listenAdmin(dir, nil, testLogger(t)); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second listener: %v, want a refusal", err)
	}
	// A non-socket in the way is left alone.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, AdminSocket), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenAdmin(other, nil, testLogger(t)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file in the way: %v", err)
	}
}

func FuzzDecodeAdminRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"room.create","title":"Weekly sync"}`, `{"op":"room.list"}`, `{"op":"status"}`,
		`{"op":"room.create","title":"\u0000"}`, `{"op":"x"}`, `{"op":"status"} {}`, `[]`, `{"op":1}`,
		`{"op":"room.create","title":"T","lobby":true,"orgs":["Ministère B",""]}`, `{"op":"room.list","orgs":[]}`,
		`{"op":"federation.join","invite":"parley-invite-v1.x","orgs":["A"]}`, `{"op":"federation.invite","ttl":"1h"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeAdminRequest(data)
		if err != nil {
			return
		}
		switch req.Op {
		case OpRoomCreate:
			if validTitle(req.Title) != nil {
				t.Fatalf("accepted invalid title %q", req.Title)
			}
		case OpRoomList, OpStatus, OpFederationList:
			if req.roomArgs() || req.federationArgs() {
				t.Fatalf("accepted arguments on %s", req.Op)
			}
		case OpFederationInvite, OpFederationJoin, OpFederationRemove:
			if req.roomArgs() {
				t.Fatalf("accepted room arguments on %s", req.Op)
			}
		default:
			t.Fatalf("accepted op %q", req.Op)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		req2, err := DecodeAdminRequest(again)
		if err != nil || !reflect.DeepEqual(req2, req) {
			t.Fatalf("round trip of %q: %+v, %v", again, req2, err)
		}
	})
}
