package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/media/signal"
)

// Transcribers on other machines (package media/transcribe/agent's worker, `parley
// transcriber`): each keeps a link open at signal.TranscriberPath, proves it holds a key the
// config trusts (transcribers), and is handed the meetings to transcribe. Its agent joins
// the room like the node's own would, with the one-time agent token the node sends it; the
// sealed transcripts it sends back are kept like the node's own agent's.

// Link timing.
const (
	linkHelloWait = 10 * time.Second
	linkWriteWait = 10 * time.Second
)

// TrustedTranscriber is a transcriber on another machine the node trusts (config field
// "transcribers").
type TrustedTranscriber struct {
	Name string `json:"name,omitempty"`
	// Key is its Ed25519 public key in base64url, as `parley transcriber init` prints it.
	Key string `json:"key"`
}

func (t TrustedTranscriber) publicKey() (ed25519.PublicKey, error) {
	k, err := base64.RawURLEncoding.DecodeString(t.Key)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not an Ed25519 public key in base64url (what `parley transcriber init` printed)", t.Key)
	}
	return k, nil
}

// TranscriberKeyText is how a transcriber's public key is written in the node's config.
func TranscriberKeyText(pub ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub)
}

// transcriberLink is one linked transcriber.
type transcriberLink struct {
	name   string
	engine string
	ws     *websocket.Conn
	wmu    sync.Mutex
}

func (l *transcriberLink) send(m *signal.TranscriberMessage) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), linkWriteWait)
	defer cancel()
	return l.ws.Write(ctx, websocket.MessageText, data)
}

// trusted returns the configured transcriber whose key is pub.
func (n *Node) trustedTranscriber(pub []byte) (TrustedTranscriber, bool) {
	for _, t := range n.cfg.Transcribers {
		if k, err := t.publicKey(); err == nil && k.Equal(ed25519.PublicKey(pub)) {
			return t, true
		}
	}
	return TrustedTranscriber{}, false
}

// serveTranscriberLink accepts a transcriber's link: challenge, hello, welcome, then its
// reports until it goes or the node stops.
func (n *Node) serveTranscriberLink(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		http.Error(w, "transcriber links do not come from browsers", http.StatusForbidden)
		return
	}
	if len(n.cfg.Transcribers) == 0 {
		http.Error(w, "this node trusts no transcriber: add one to transcribers in its config.json", http.StatusNotFound)
		return
	}
	t := &n.transcribers
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		http.Error(w, "the node is shutting down", http.StatusServiceUnavailable)
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(signal.MaxTranscriberMessage)
	l, err := n.linkHello(r.Context(), ws)
	if err != nil {
		n.log.Warn("transcriber link refused", "addr", clientAddr(r), "err", err)
		_ = ws.Close(websocket.StatusPolicyViolation, err.Error())
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, "the node is shutting down")
		return
	}
	if t.links == nil {
		t.links = map[*transcriberLink]bool{}
	}
	t.links[l] = true
	t.mu.Unlock()
	log := n.log.With("component", "transcriber", "transcriber", l.name)
	log.Info("transcriber linked", "addr", clientAddr(r), "engine", l.engine)
	err = n.linkReports(l)
	t.mu.Lock()
	delete(t.links, l)
	var rooms []string
	for room, run := range t.runs {
		if run.link == l {
			delete(t.runs, room)
			rooms = append(rooms, room)
		}
	}
	t.mu.Unlock()
	for _, room := range rooms {
		n.meetings.TellModerators(room, signal.CodeTranscriber, "the transcriber's machine went away")
	}
	log.Info("transcriber link closed", "err", err, "meetings", len(rooms))
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

// linkHello checks a transcriber's answer to the node's challenge.
func (n *Node) linkHello(ctx context.Context, ws *websocket.Conn) (*transcriberLink, error) {
	ctx, cancel := context.WithTimeout(ctx, linkHelloWait)
	defer cancel()
	nonce := make([]byte, signal.TranscriberNonceLen)
	_, _ = rand.Read(nonce)
	l := &transcriberLink{ws: ws}
	if err := l.send(&signal.TranscriberMessage{Type: signal.TLChallenge, Nonce: nonce, NodeKey: n.key.PublicKey()}); err != nil {
		return nil, err
	}
	typ, data, err := ws.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("no hello: %w", err)
	}
	m, err := signal.DecodeTranscriberMessage(data)
	if err != nil || typ != websocket.MessageText || m.Type != signal.TLHello {
		return nil, fmt.Errorf("no hello: %v", err)
	}
	trusted, ok := n.trustedTranscriber(m.Key)
	if !ok {
		return nil, fmt.Errorf("key %s is not among the transcribers this node trusts", TranscriberKeyText(m.Key))
	}
	if !ed25519.Verify(m.Key, signal.TranscriberHelloMessage(nonce, n.key.PublicKey()), m.Sig) {
		return nil, errors.New("the hello's signature does not verify")
	}
	l.name, l.engine = trusted.Name, m.Engine
	if l.name == "" {
		l.name = m.Name
	}
	return l, l.send(&signal.TranscriberMessage{Type: signal.TLWelcome})
}

// linkReports handles what a linked transcriber says about the meetings it was handed,
// until the link fails or the node closes it.
func (n *Node) linkReports(l *transcriberLink) error {
	t := &n.transcribers
	for {
		typ, data, err := l.ws.Read(context.Background())
		if err != nil {
			return err
		}
		m, err := signal.DecodeTranscriberMessage(data)
		if err != nil || typ != websocket.MessageText {
			return fmt.Errorf("bad message from the transcriber: %v", err)
		}
		t.mu.Lock()
		run := t.runs[m.Room]
		ours := run != nil && run.link == l
		if ours && m.Type == signal.TLStopped {
			delete(t.runs, m.Room)
		}
		t.mu.Unlock()
		if !ours {
			n.log.Debug("transcriber report about a meeting it does not transcribe", "transcriber", l.name, "type", m.Type, "room", m.Room)
			continue
		}
		switch m.Type {
		case signal.TLStarted:
			n.log.Info("transcriber started", "transcriber", l.name, "room", m.Room)
		case signal.TLStopped:
			n.log.Info("transcriber stopped", "transcriber", l.name, "room", m.Room)
		case signal.TLError:
			n.meetings.TellModerators(m.Room, signal.CodeTranscriber, m.Message)
		case signal.TLTranscript:
			if err := n.store.putTranscript(m.Room, m.Sealed, time.Now()); err != nil {
				n.log.Error("store the transcript", "room", m.Room, "err", err)
			}
		default:
			n.log.Debug("transcriber message ignored", "transcriber", l.name, "type", m.Type)
		}
	}
}

// remoteLinkLocked is the linked transcriber with the fewest meetings, or nil. t.mu must be
// held.
func (t *transcribers) remoteLinkLocked() *transcriberLink {
	load := map[*transcriberLink]int{}
	for _, run := range t.runs {
		if run.link != nil {
			load[run.link]++
		}
	}
	var best *transcriberLink
	for l := range t.links {
		if best == nil || load[l] < load[best] {
			best = l
		}
	}
	return best
}

// linked is how many transcribers are linked.
func (t *transcribers) linked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.links)
}
