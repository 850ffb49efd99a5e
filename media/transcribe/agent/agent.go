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
	frameQueue  = 512 // audio frames waiting (10 s), for the agent and for each speaker
)

// Config sets up an agent.
type Config struct {
	URL       string      // the node's base URL
	Room      string      // the room to transcribe
	Token     string      // the agent token the node gave
	TLSConfig *tls.Config // to trust the node's certificate
	Engine    transcribe.Engine
	// Language is the language of speakers who did not say which they speak; "" for the
	// engine's default. Each participant's own (signal.Participant.Lang) comes first.
	Language string
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

	mu        sync.Mutex
	lines     []transcribe.Line // final lines, in the order they were heard; guarded by mu
	dropped   uint64            // frames dropped because the engine fell behind; guarded by mu
	lastErr   string            // the last failure told; guarded by mu
	lastErrAt time.Time         // guarded by mu
	told      map[string]string // speaker → the language they were told has no model; guarded by mu
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
	a := &Agent{cfg: cfg, frames: make(chan frame, frameQueue), stop: make(chan struct{}), done: make(chan struct{}),
		told: map[string]string{}}
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

// Dropped is how many audio frames the agent let go because the engine fell behind.
func (a *Agent) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
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

// speaker is one participant's audio on its way to text, on its own goroutine: speakers
// are decoded and recognised in parallel.
type speaker struct {
	id     string
	lang   string // the language listened for
	frames chan []byte
	done   chan struct{}
}

// run is the agent's goroutine: it hands each frame to its speaker's goroutine, starting one
// when someone speaks and ending it when they have been quiet for Idle or say they speak
// another language.
func (a *Agent) run() {
	defer close(a.done)
	speakers := map[string]*speaker{}
	last := map[string]time.Time{}
	defer func() {
		for _, sp := range speakers {
			close(sp.frames)
			<-sp.done
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-a.c.Done():
			return
		case f := <-a.frames:
			sp := speakers[f.from]
			if sp == nil {
				sp = &speaker{id: f.from, lang: a.langOf(f.from), frames: make(chan []byte, frameQueue), done: make(chan struct{})}
				speakers[f.from] = sp
				go a.listen(sp)
			}
			last[f.from] = time.Now()
			select {
			case sp.frames <- f.data:
			default:
				a.mu.Lock()
				a.dropped++
				a.mu.Unlock()
			}
		case now := <-tick.C:
			for id, sp := range speakers {
				if now.Sub(last[id]) >= a.cfg.Idle || a.langOf(id) != sp.lang {
					close(sp.frames) // ends the utterance in progress
					delete(speakers, id)
					delete(last, id)
				}
			}
		}
	}
}

// listen is one speaker's goroutine: decoder and stream until the frames stop.
func (a *Agent) listen(sp *speaker) {
	defer close(sp.done)
	dec, err := transcribe.NewOpusDecoder()
	if err != nil {
		a.fail(err)
		return
	}
	defer dec.Close()
	st, err := a.cfg.Engine.Stream(sp.lang)
	if err != nil {
		if errors.Is(err, transcribe.ErrLanguage) {
			a.unavailable(sp)
		} else {
			a.fail(err)
		}
		for range sp.frames {
		}
		return
	}
	u := utterances{a: a, id: sp.id, name: a.nameOf(sp.id), origin: time.Since(a.start)}
	var g gate
	for data := range sp.frames {
		pcm, err := dec.Decode(data)
		if err != nil {
			continue // a damaged frame: the next one decodes
		}
		pcm = g.admit(pcm)
		if len(pcm) == 0 {
			continue
		}
		segs, err := st.Write(pcm)
		if err != nil {
			a.fail(err)
		}
		u.emit(segs, g.real)
	}
	segs, err := st.Close()
	if err != nil {
		a.fail(err)
	}
	u.emit(segs, g.real)
}

// fail reports an engine failure: logged, and told (each distinct one at most once a minute).
func (a *Agent) fail(err error) {
	a.cfg.Logger.Warn("transcription failed", "err", err)
	a.mu.Lock()
	tell := err.Error() != a.lastErr || time.Since(a.lastErrAt) > time.Minute
	if tell {
		a.lastErr, a.lastErrAt = err.Error(), time.Now()
	}
	a.mu.Unlock()
	if tell && a.cfg.OnError != nil {
		a.cfg.OnError(err)
	}
}

// utterances numbers one speaker's captions and places them in the meeting's time.
type utterances struct {
	a        *Agent
	id, name string
	origin   time.Duration // when the stream began, since the agent joined
	seq      uint64        // utterance number of the next caption
}

// emit sends segments as captions and keeps the final ones; real turns the engine's times
// (of the audio it was fed) into the speaker's.
func (u *utterances) emit(segs []transcribe.Segment, real func(time.Duration) time.Duration) {
	a := u.a
	for _, s := range segs {
		s.Start, s.End = real(s.Start), real(s.End)
		if s.Final {
			u.name = a.nameOf(u.id) // a name may change while someone speaks
		}
		ct := signal.CaptionText{Speaker: u.id, Name: u.name, Text: s.Text, Final: s.Final, Seq: u.seq,
			StartMS: (u.origin + s.Start).Milliseconds(), EndMS: (u.origin + s.End).Milliseconds()}
		if s.Final {
			u.seq++
			a.mu.Lock()
			a.lines = append(a.lines, transcribe.Line{At: u.origin + s.Start, Speaker: u.name, Text: s.Text})
			a.mu.Unlock()
		}
		if err := a.c.SendCaption(ct); err != nil {
			a.cfg.Logger.Warn("send a caption", "err", err)
		}
	}
}

// unavailable tells everyone, once per speaker and language, that the engine has no model
// for the language sp speaks: their words get no captions rather than wrong ones.
func (a *Agent) unavailable(sp *speaker) {
	a.mu.Lock()
	told := a.told[sp.id] == sp.lang
	a.told[sp.id] = sp.lang
	a.mu.Unlock()
	if told {
		return
	}
	a.cfg.Logger.Info("no speech model for a speaker's language", "speaker", sp.id, "lang", sp.lang)
	if err := a.c.SendCaption(signal.CaptionText{Speaker: sp.id, Name: a.nameOf(sp.id), Unavailable: sp.lang}); err != nil {
		a.cfg.Logger.Warn("send a caption", "err", err)
	}
}

// langOf is the language participant id speaks: theirs if they said, else Config.Language.
func (a *Agent) langOf(id string) string {
	for _, p := range a.c.Participants() {
		if p.ID == id && p.Lang != "" {
			return p.Lang
		}
	}
	return a.cfg.Language
}

func (a *Agent) nameOf(id string) string {
	for _, p := range a.c.Participants() {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}
