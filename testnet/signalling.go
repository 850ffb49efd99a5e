package testnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/identity"
	"parley/media/signal"
)

// RawSignal is a bare signalling WebSocket to a node, for tests that send what a well-behaved
// client never would.
type RawSignal struct {
	t    testing.TB
	conn *websocket.Conn
}

// DialSignal opens the signalling WebSocket of roomID on the node at base, with the node's own
// origin (as its web client would have). It fails the test if the handshake fails.
func DialSignal(t testing.TB, base, roomID string) *RawSignal {
	t.Helper()
	s, _, err := dialSignal(base, roomID)
	if err != nil {
		t.Fatalf("dial signalling for room %s: %v", roomID, err)
	}
	return &RawSignal{t: t, conn: s}
}

// dialSignal dials the signalling socket and returns the handshake's HTTP status on failure.
func dialSignal(base, roomID string) (*websocket.Conn, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(strings.TrimSuffix(base, "/"), "http") + "/ws/" + roomID
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {base}},
	})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return nil, status, err
	}
	conn.SetReadLimit(1 << 20)
	return conn, status, nil
}

// Send writes one text message as is.
func (s *RawSignal) Send(data string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, []byte(data))
}

// SendMessage encodes and writes m.
func (s *RawSignal) SendMessage(m *signal.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.Send(string(b))
}

// errClosedByNode is returned by Next when the node closed the socket.
var errClosedByNode = errors.New("the node closed the signalling socket")

// Next returns the next message the node sends that satisfies keep (nil keeps all), skipping
// the others, within timeout. It returns an error wrapping errClosedByNode if the node closes
// the socket first.
func (s *RawSignal) Next(timeout time.Duration, keep func(*signal.Message) bool) (*signal.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 {
				return nil, fmt.Errorf("%w (status %d: %v)", errClosedByNode, st, err)
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no message within %v: %w", timeout, err)
			}
			return nil, fmt.Errorf("%w: %v", errClosedByNode, err)
		}
		m, err := signal.DecodeFromNode(data)
		if err != nil {
			return nil, fmt.Errorf("the node sent a message its clients cannot decode: %w", err)
		}
		if keep == nil || keep(m) {
			return m, nil
		}
	}
}

// JoinMessage is a join for name with freshly made public keys.
func JoinMessage(t testing.TB, name string) *signal.Message {
	t.Helper()
	id, err := identity.GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return &signal.Message{Type: signal.TypeJoin, Name: name, Keys: &signal.Keys{
		SigPub: base64.RawURLEncoding.EncodeToString(id.SigPub()), Age: id.AgeRecipient()}}
}

// Join sends a join and waits for the joined answer.
func (s *RawSignal) Join(name string) *signal.Message {
	s.t.Helper()
	if err := s.SendMessage(JoinMessage(s.t, name)); err != nil {
		s.t.Fatalf("send join: %v", err)
	}
	m, err := s.Next(10*time.Second, nil)
	if err != nil {
		s.t.Fatalf("join as %s: %v", name, err)
	}
	if m.Type != signal.TypeJoined {
		s.t.Fatalf("join as %s: got %+v, want joined", name, m)
	}
	return m
}

// CloseNow drops the connection without a closing handshake, as a client that vanishes would.
func (s *RawSignal) CloseNow() { _ = s.conn.CloseNow() }

// Close closes the connection normally.
func (s *RawSignal) Close() { _ = s.conn.Close(websocket.StatusNormalClosure, "") }

// ChatMessage is a chat message carrying sframe as its (here unencrypted) ciphertext.
func ChatMessage(sframe []byte) *signal.Message {
	return &signal.Message{Type: signal.TypeChat, SFrame: sframe}
}
