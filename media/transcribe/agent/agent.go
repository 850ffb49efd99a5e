// Package agent is the meeting's transcriber: a participant of its own that a node starts
// when a moderator asks for captions. It joins like anyone (its certificate names it an
// agent), receives every speaker's microphone end-to-end encrypted like anyone admitted,
// decodes each one apart (so the speaker is known exactly, from the track), runs it through
// a speech engine, and sends what it hears as captions sealed with its own chat key. The node
// relays captions it cannot read. Removing the agent, or stopping it, rekeys it out like
// anyone who leaves.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"parley/media/client"
	"parley/media/signal"
	"parley/media/transcribe"
)

// Name is the agent's display name; clients show it in their own language.
const Name = "Transcriber"

// Defaults of Config fields left zero.
const (
	DefaultIdle = 1200 * time.Millisecond
	frameQueue  = 512 // audio frames waiting for the engine, all speakers
)

// Config sets up an agent.
type Config struct {
	URL       string      // the node's base URL
	Room      string      // the room to transcribe
	Token     string      // the agent token the node gave
	TLSConfig *tls.Config // to trust the node's certificate
	Engine    transcribe.Engine
	Language  string // of the speech; "" for the engine's default
	// Idle ends a speaker's utterance when their audio stops this long. Default DefaultIdle.
	Idle time.Duration
	// OnError is told what goes wrong with the engine (each distinct failure once a
	// minute), for the moderators; nil logs only.
	OnError func(error)
	Logger  *slog.Logger
}

// Agent is a running transcriber. Close stops it.
type Agent struct {
	cfg    Config
	c      *client.Client
	start  time.Time
	frames chan frame
	stop   chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	lines   []transcribe.Line // final lines, in the order they were heard; guarded by mu
	dropped uint64            // frames dropped because the engine fell behind; guarded by mu
}

type frame struct {
	from string
	data []byte
}

// Start joins the room and starts transcribing.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Engine == nil || cfg.URL == "" || cfg.Room == "" || cfg.Token == "" {
		return nil, errors.New("agent: URL, Room, Token and Engine are required")
	}
	if cfg.Idle == 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The engine must decode before anyone is let down: fail now, not at the first word.
	if dec, err := transcribe.NewOpusDecoder(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	} else {
		dec.Close()
	}
	a := &Agent{cfg: cfg, frames: make(chan frame, frameQueue), stop: make(chan struct{}), done: make(chan struct{})}
	c, err := client.Join(ctx, client.Config{
		URL: cfg.URL, Room: cfg.Room, Name: Name, Agent: cfg.Token, TLSConfig: cfg.TLSConfig,
		AnnounceKeys: true, Logger: cfg.Logger,
		OnFrameReceived: func(ev client.FrameEvent) {
			if ev.Kind != client.KindAudio || ev.Participant == "" {
				return
			}
			select {
			case a.frames <- frame{from: ev.Participant, data: append([]byte(nil), ev.Frame...)}:
			default:
				a.mu.Lock()
				a.dropped++
				a.mu.Unlock()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: join: %w", err)
	}
	a.c, a.start = c, time.Now()
	go a.run()
	return a, nil
}

// ID is the agent's participant id.
func (a *Agent) ID() string { return a.c.ID() }

// Done is closed when the agent has stopped (Close, or its session ended).
func (a *Agent) Done() <-chan struct{} { return a.done }

// Lines returns the transcript so far: every speaker's final lines, in the order heard.
func (a *Agent) Lines() []transcribe.Line {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]transcribe.Line(nil), a.lines...)
}

// Close ends every utterance in progress, leaves the room and waits for the agent.
func (a *Agent) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	return a.c.Close()
}

// speaker is one participant's audio on its way to text.
type speaker struct {
	id, name string
	dec      *transcribe.OpusDecoder
	stream   transcribe.Stream
	origin   time.Duration // when the stream began, since the agent joined
	last     time.Time     // last frame
	seq      uint64        // utterance number of the next caption
}

// run is the agent's goroutine: it owns the speakers, their decoders and streams.
func (a *Agent) run() {
	defer close(a.done)
	speakers := map[string]*speaker{}
	defer func() {
		for _, sp := range speakers {
			a.end(sp)
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastErr string
	var lastErrAt time.Time
	fail := func(err error) {
		a.cfg.Logger.Warn("transcription failed", "err", err)
		if a.cfg.OnError != nil && (err.Error() != lastErr || time.Since(lastErrAt) > time.Minute) {
			lastErr, lastErrAt = err.Error(), time.Now()
			a.cfg.OnError(err)
		}
	}
	for {
		select {
		case <-a.stop:
			return
		case <-a.c.Done():
			return
		case f := <-a.frames:
			sp := speakers[f.from]
			if sp == nil {
				var err error
				if sp, err = a.newSpeaker(f.from); err != nil {
					fail(err)
					continue
				}
				speakers[f.from] = sp
			}
			sp.last = time.Now()
			pcm, err := sp.dec.Decode(f.data)
			if err != nil {
				continue // a damaged frame: the next one decodes
			}
			segs, err := sp.stream.Write(pcm)
			if err != nil {
				fail(err)
			}
			a.emit(sp, segs)
		case now := <-tick.C:
			for id, sp := range speakers {
				if now.Sub(sp.last) >= a.cfg.Idle {
					a.end(sp)
					delete(speakers, id)
				}
			}
		}
	}
}

func (a *Agent) newSpeaker(id string) (*speaker, error) {
	dec, err := transcribe.NewOpusDecoder()
	if err != nil {
		return nil, err
	}
	st, err := a.cfg.Engine.Stream(a.cfg.Language)
	if err != nil {
		dec.Close()
		return nil, err
	}
	return &speaker{id: id, name: a.nameOf(id), dec: dec, stream: st, origin: time.Since(a.start)}, nil
}

// end finishes a speaker's utterance in progress and frees their stream.
func (a *Agent) end(sp *speaker) {
	segs, err := sp.stream.Close()
	if err != nil {
		a.cfg.Logger.Warn("end an utterance", "speaker", sp.id, "err", err)
	}
	a.emit(sp, segs)
	sp.dec.Close()
}

// emit sends segments as captions and keeps the final ones.
func (a *Agent) emit(sp *speaker, segs []transcribe.Segment) {
	for _, s := range segs {
		if s.Final {
			sp.name = a.nameOf(sp.id) // a name may change while someone speaks
		}
		ct := signal.CaptionText{Speaker: sp.id, Name: sp.name, Text: s.Text, Final: s.Final, Seq: sp.seq,
			StartMS: (sp.origin + s.Start).Milliseconds(), EndMS: (sp.origin + s.End).Milliseconds()}
		if s.Final {
			sp.seq++
			a.mu.Lock()
			a.lines = append(a.lines, transcribe.Line{At: sp.origin + s.Start, Speaker: sp.name, Text: s.Text})
			a.mu.Unlock()
		}
		if err := a.c.SendCaption(ct); err != nil {
			a.cfg.Logger.Warn("send a caption", "err", err)
		}
	}
}

func (a *Agent) nameOf(id string) string {
	for _, p := range a.c.Participants() {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}
