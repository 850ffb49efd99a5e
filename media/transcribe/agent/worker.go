package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/media/signal"
	"parley/media/transcribe"
)

// A worker is a transcriber on another machine than its node (a GPU box of the
// organisation): it keeps the transcriber link (signal.TranscriberPath) open to the node,
// which hands it the meetings to transcribe, and runs one agent per meeting, each joining the
// room through the node like any participant. It seals each transcript to the moderators
// itself and sends the sealed copy to the node to keep.

// Worker timing.
const (
	workerHelloWait  = 10 * time.Second // for the node's challenge and welcome
	workerWriteWait  = 30 * time.Second // one message to the node (a transcript can be large)
	workerRetryFirst = time.Second
	workerRetryMax   = 30 * time.Second
	// SealEvery is how often a running agent's transcript is sealed and sent again.
	SealEvery = 30 * time.Second
)

// ErrNotTrusted: the node refused the worker's key. Add it to the node's transcribers.
var ErrNotTrusted = errors.New("the node does not trust this transcriber's key: add it to transcribers in the node's config.json")

// WorkerConfig sets up a worker.
type WorkerConfig struct {
	URL       string             // the node's base URL (https, or http on loopback)
	Key       ed25519.PrivateKey // the worker's key, which the node's config trusts
	Name      string             // for the node's logs
	Engine    transcribe.Engine
	Language  string      // of speakers who did not say; "" for the engine's default
	TLSConfig *tls.Config // to trust the node's certificate; nil: the system's roots
	// OnLinked is called each time the node has welcomed the worker (tests, status output).
	OnLinked func()
	Logger   *slog.Logger
}

// Serve keeps the worker linked to its node and transcribes what the node hands it, until
// ctx ends (it returns nil then) or the node refuses the worker's key (ErrNotTrusted). A link
// that fails is dialled again, after 1 s, then up to 30 s.
func Serve(ctx context.Context, cfg WorkerConfig) error {
	if cfg.Engine == nil || cfg.URL == "" || len(cfg.Key) != ed25519.PrivateKeySize {
		return errors.New("agent: worker needs URL, Key and Engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !transcribe.HasOpus {
		return fmt.Errorf("agent: %w", transcribe.ErrNoOpus)
	}
	retry := workerRetryFirst
	for {
		linked, err := serveLink(ctx, cfg)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrNotTrusted):
			return err
		case linked:
			retry = workerRetryFirst
		}
		cfg.Logger.Warn("transcriber link down; dialling the node again", "err", err, "in", retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
		retry = min(2*retry, workerRetryMax)
	}
}

// link is one connection to the node and the agents it runs.
type link struct {
	cfg     WorkerConfig
	ws      *websocket.Conn
	ctx     context.Context // the agents'
	wmu     sync.Mutex      // serialises writes
	mu      sync.Mutex
	jobs    map[string]context.CancelFunc // room → its agent's cancel; guarded by mu
	closing bool                          // no agent starts any more; guarded by mu
	wg      sync.WaitGroup
}

// serveLink runs one link until it fails or ctx ends; linked says the node welcomed it.
// When ctx ends, the agents leave and send their last transcripts before the link closes.
func serveLink(ctx context.Context, cfg WorkerConfig) (linked bool, err error) {
	target := strings.Replace(strings.TrimSuffix(cfg.URL, "/"), "http", "ws", 1) + signal.TranscriberPath
	dctx, cancel := context.WithTimeout(ctx, workerHelloWait)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, target, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLSConfig}},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", target, err)
	}
	ws.SetReadLimit(signal.MaxTranscriberMessage)
	jobs, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	l := &link{cfg: cfg, ws: ws, ctx: jobs, jobs: map[string]context.CancelFunc{}}
	if err := l.hello(dctx); err != nil {
		_ = ws.Close(websocket.StatusNormalClosure, "")
		return false, err
	}
	cfg.Logger.Info("linked to the node", "url", cfg.URL)
	if cfg.OnLinked != nil {
		cfg.OnLinked()
	}
	// The reader does not use ctx: a read whose context ends closes the connection, and the
	// agents still have their transcripts to send.
	readErr := make(chan error, 1)
	go func() { readErr <- l.readLoop() }()
	select {
	case err = <-readErr:
		readErr <- err
	case <-ctx.Done():
	}
	stopJobs()
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.wg.Wait() // every agent has left and sent its transcript
	_ = ws.Close(websocket.StatusNormalClosure, "transcriber stopping")
	return true, <-readErr
}

// readLoop handles the node's messages until the link fails.
func (l *link) readLoop() error {
	for {
		m, err := l.read(context.Background())
		if err != nil {
			return err
		}
		switch m.Type {
		case signal.TLStart:
			l.start(m.Room, m.Token)
		case signal.TLStop:
			l.mu.Lock()
			if cancel := l.jobs[m.Room]; cancel != nil {
				cancel()
			}
			l.mu.Unlock()
		default:
			l.cfg.Logger.Warn("message from the node ignored", "type", m.Type)
		}
	}
}

// hello answers the node's challenge and waits for its welcome.
func (l *link) hello(ctx context.Context) error {
	ch, err := l.read(ctx)
	if err != nil {
		return err
	}
	if ch.Type != signal.TLChallenge {
		return fmt.Errorf("the node sent %q, not a challenge", ch.Type)
	}
	pub := l.cfg.Key.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(l.cfg.Key, signal.TranscriberHelloMessage(ch.Nonce, ch.NodeKey))
	if err := l.send(&signal.TranscriberMessage{Type: signal.TLHello, Key: pub, Sig: sig, Name: l.cfg.Name,
		Engine: l.cfg.Engine.Name()}); err != nil {
		return err
	}
	w, err := l.read(ctx)
	if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
		return fmt.Errorf("%w (%v)", ErrNotTrusted, err)
	}
	if err != nil {
		return err
	}
	if w.Type != signal.TLWelcome {
		return fmt.Errorf("the node sent %q, not a welcome", w.Type)
	}
	return nil
}

func (l *link) read(ctx context.Context) (*signal.TranscriberMessage, error) {
	typ, data, err := l.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, errors.New("binary message from the node")
	}
	return signal.DecodeTranscriberMessage(data)
}

func (l *link) send(m *signal.TranscriberMessage) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), workerWriteWait)
	defer cancel()
	return l.ws.Write(ctx, websocket.MessageText, data)
}

// start runs an agent in room, unless one runs there.
func (l *link) start(room, token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing || l.jobs[room] != nil {
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.jobs[room] = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			delete(l.jobs, room)
			l.mu.Unlock()
			cancel()
		}()
		l.run(ctx, room, token)
	}()
}

// run is one meeting's agent: it joins, sends its transcript every SealEvery and when it
// stops, and says when it started and stopped.
func (l *link) run(ctx context.Context, room, token string) {
	log := l.cfg.Logger.With("room", room)
	tell := func(m *signal.TranscriberMessage) {
		if err := l.send(m); err != nil {
			log.Warn("tell the node", "type", m.Type, "err", err)
		}
	}
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	a, err := Start(jctx, Config{URL: l.cfg.URL, Room: room, Token: token, TLSConfig: l.cfg.TLSConfig,
		Engine: l.cfg.Engine, Language: l.cfg.Language, Logger: log,
		OnError: func(err error) {
			tell(&signal.TranscriberMessage{Type: signal.TLError, Room: room, Message: err.Error()})
		},
	})
	cancel()
	if err != nil {
		log.Warn("the transcriber did not join", "err", err)
		tell(&signal.TranscriberMessage{Type: signal.TLError, Room: room, Message: err.Error()})
		tell(&signal.TranscriberMessage{Type: signal.TLStopped, Room: room})
		return
	}
	log.Info("transcribing", "participant", a.ID())
	tell(&signal.TranscriberMessage{Type: signal.TLStarted, Room: room})
	seal := func() {
		sealed, lines, err := a.SealTranscript()
		switch {
		case lines == 0:
		case err != nil:
			log.Warn("transcript not sealed", "lines", lines, "err", err)
		case len(sealed) > signal.MaxSealedTranscript:
			log.Error("transcript over the size a node keeps", "bytes", len(sealed))
		default:
			tell(&signal.TranscriberMessage{Type: signal.TLTranscript, Room: room, Sealed: sealed})
		}
	}
	tick := time.NewTicker(SealEvery)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-a.Done():
			break loop
		case <-tick.C:
			seal()
		}
	}
	_ = a.Close()
	seal()
	tell(&signal.TranscriberMessage{Type: signal.TLStopped, Room: room})
	log.Info("stopped transcribing", "lines", len(a.Lines()), "frames_dropped", a.Dropped())
}
