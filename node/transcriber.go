package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/media/signal"
	"parley/media/transcribe"
	"parley/media/transcribe/agent"
	"parley/node/meeting"
)

// The meeting's transcriber: at a moderator's word (moderate transcribe), the node starts an
// agent (package media/transcribe/agent) that joins the room through the node's own HTTP
// listener with a one-time agent token, like any participant, and is let in at once. Its
// certificate names it: issuer signal.AgentIssuer. A moderator stops it (transcribe_stop) or
// removes it; it stops with the meeting and with the node. While a transcriber of another
// machine is linked (transcriberlink.go), the meeting is handed to it instead.

// agentJoinTimeout bounds the agent's join.
const agentJoinTimeout = 30 * time.Second

// transcribers are the node's running agents, by room.
type transcribers struct {
	mu     sync.Mutex
	closed bool
	runs   map[string]*transcriberRun // guarded by mu
	links  map[*transcriberLink]bool  // transcribers on other machines; guarded by mu
	wg     sync.WaitGroup
}

// transcriberRun is a meeting's agent: on this machine (cancel stops it), or handed to a
// linked transcriber (link).
type transcriberRun struct {
	token  string
	cancel context.CancelFunc
	link   *transcriberLink
}

// agentAccount is the account the agent's certificate names.
var agentAccount = meeting.Account{Issuer: signal.AgentIssuer, Subject: "transcriber"}

// transcribe starts or stops room's agent; it does not wait.
func (n *Node) transcribe(room string, on bool) error {
	t := &n.transcribers
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errors.New("the node is shutting down")
	}
	if t.runs == nil {
		t.runs = map[string]*transcriberRun{}
	}
	run := t.runs[room]
	switch {
	case !on && run != nil && run.link != nil:
		go n.tellLink(run.link, &signal.TranscriberMessage{Type: signal.TLStop, Room: room})
		return nil
	case !on && run != nil:
		run.cancel()
		return nil
	case !on:
		return nil
	case run != nil:
		return nil // already transcribing
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	if l := t.remoteLinkLocked(); l != nil {
		t.runs[room] = &transcriberRun{token: token, link: l}
		go n.tellLink(l, &signal.TranscriberMessage{Type: signal.TLStart, Room: room, Token: token})
		return nil
	}
	cfg := TranscriptionConfig(n.cfg)
	engine, err := transcribe.Open(cfg)
	if err != nil {
		return fmt.Errorf("this node cannot transcribe: %w", err)
	}
	if !transcribe.HasOpus {
		_ = engine.Close()
		return fmt.Errorf("this node cannot transcribe: %w", transcribe.ErrNoOpus)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run = &transcriberRun{token: token, cancel: cancel}
	t.runs[room] = run
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer engine.Close()
		defer func() {
			t.mu.Lock()
			if t.runs[room] == run {
				delete(t.runs, room)
			}
			t.mu.Unlock()
			cancel()
		}()
		n.runTranscriber(ctx, room, run.token, engine, cfg)
	}()
	return nil
}

// runTranscriber runs room's agent until ctx ends or its session does.
func (n *Node) runTranscriber(ctx context.Context, room, token string, engine transcribe.Engine, cfg transcribe.Config) {
	log := n.log.With("component", "transcriber", "room", room)
	joinCtx, cancel := context.WithTimeout(ctx, agentJoinTimeout)
	a, err := agent.Start(joinCtx, agent.Config{
		URL: n.localURL(), Room: room, Token: token, TLSConfig: n.selfTLS(), Engine: engine,
		Logger: log,
		OnError: func(err error) {
			n.meetings.TellModerators(room, signal.CodeTranscriber, err.Error())
		},
	})
	cancel()
	if err != nil {
		log.Warn("the transcriber did not start", "err", err)
		return
	}
	log.Info("transcriber started", "participant", a.ID(), "engine", engine.Name())
	n.keepTranscripts(ctx, room, a)
	_ = a.Close()
	n.keepTranscript(room, a)
	log.Info("transcriber stopped", "lines", len(a.Lines()), "frames_dropped", a.Dropped())
}

// agentToken reports whether token is the one the node gave room's agent.
func (n *Node) agentToken(room, token string) bool {
	t := &n.transcribers
	t.mu.Lock()
	defer t.mu.Unlock()
	run := t.runs[room]
	return run != nil && token != "" && subtle.ConstantTimeCompare([]byte(run.token), []byte(token)) == 1
}

// closeTranscribers stops every agent and waits for them.
func (n *Node) closeTranscribers() {
	t := &n.transcribers
	t.mu.Lock()
	t.closed = true
	for _, run := range t.runs {
		if run.cancel != nil {
			run.cancel()
		}
	}
	for l := range t.links {
		_ = l.ws.Close(websocket.StatusGoingAway, "the node is shutting down")
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// tellLink sends m to a linked transcriber; if that fails, the link is closed (its
// reader then forgets its meetings).
func (n *Node) tellLink(l *transcriberLink, m *signal.TranscriberMessage) {
	if err := l.send(m); err != nil {
		n.log.Warn("tell a transcriber", "transcriber", l.name, "type", m.Type, "room", m.Room, "err", err)
		_ = l.ws.Close(websocket.StatusInternalError, "write failed")
	}
}

// localURL is the node's HTTP listener as this machine reaches it.
func (n *Node) localURL() string {
	scheme := "http"
	if n.cfg.TLS() {
		scheme = "https"
	}
	return scheme + "://" + n.httpLn.Addr().String()
}

// selfTLS trusts exactly the node's own certificate, for its agent's connection.
func (n *Node) selfTLS() *tls.Config {
	if n.httpSrv.TLSConfig == nil || len(n.httpSrv.TLSConfig.Certificates) == 0 {
		return nil
	}
	own := n.httpSrv.TLSConfig.Certificates[0].Certificate[0]
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The listener's address is no name the certificate holds: the agent checks that the
		// certificate is the node's own instead.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], own) {
				return errors.New("not this node's certificate")
			}
			return nil
		},
	}
}
