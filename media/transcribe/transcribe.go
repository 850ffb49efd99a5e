// Package transcribe turns speech into text: the engines that recognise it (embedded
// PocketSphinx behind the pocketsphinx build tag, any OpenAI-compatible transcription
// endpoint), the audio they take (16 kHz mono PCM, read from WAV files), the word error rate
// that scores them, and the summaries made from a transcript.
//
// Nothing here knows about meetings: the transcriber agent (a participant of its own) feeds
// each speaker's decoded microphone to a Stream and seals what comes out.
package transcribe

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SampleRate is the rate of the audio every engine takes: 16 kHz, mono, signed 16-bit.
const SampleRate = 16000

// Segment is a stretch of recognised speech. Start and End are offsets from the start of
// the audio given to the engine. An interim segment (Final false) is the engine's guess so
// far for speech still going on; the next segment replaces it.
type Segment struct {
	Start, End time.Duration
	Text       string
	Final      bool
}

// Engine recognises speech in one language at a time. Engines are safe for concurrent use:
// each Stream is independent.
type Engine interface {
	// Name is the engine's name in config and on the command line.
	Name() string
	// Transcribe recognises a whole recording of pcm (SampleRate, mono) in language (a BCP
	// 47 tag such as "en" or "fr"; "" for the engine's default) and returns its final
	// segments in order.
	Transcribe(ctx context.Context, pcm []int16, language string) ([]Segment, error)
	// Stream starts recognising live audio of one speaker.
	Stream(language string) (Stream, error)
	// Close releases what the engine holds.
	Close() error
}

// Stream recognises one speaker's live audio, fed in order. A Stream is used by one
// goroutine.
type Stream interface {
	// Write feeds samples (SampleRate, mono) and returns the segments they produced:
	// interim guesses while speech goes on, a final segment when it ends.
	Write(pcm []int16) ([]Segment, error)
	// Close ends the speech in progress and returns its final segment, if any.
	Close() ([]Segment, error)
}

// Errors callers may test with errors.Is.
var (
	// ErrUnknownEngine: no engine of that name is built into this binary or configured.
	ErrUnknownEngine = errors.New("unknown transcription engine")
	// ErrLanguage: the engine has no model for the language asked for.
	ErrLanguage = errors.New("language not supported by this engine")
	// ErrNoOpus: this binary was built without libopus, so it cannot decode Opus.
	ErrNoOpus = errors.New("this binary does not decode Opus: build it with -tags libopus (Debian's libopus-dev)")
)

// Config chooses and sets up an engine.
type Config struct {
	// Engine is "pocketsphinx" (embedded, English; in binaries built with the pocketsphinx
	// tag) or "openai" (an OpenAI-compatible endpoint). Default: pocketsphinx when built in,
	// else openai when URL is set.
	Engine string `json:"engine,omitempty"`
	// URL is the OpenAI-compatible server's base URL (the one that serves
	// /v1/audio/transcriptions), on the organisation's own network.
	URL string `json:"url,omitempty"`
	// Model is the model name sent to the endpoint. Default "whisper-1".
	Model string `json:"model,omitempty"`
	// APIKeyFile holds the endpoint's bearer token, if it wants one.
	APIKeyFile string `json:"api_key_file,omitempty"`
	// ModelDir is PocketSphinx's model directory. Default: Debian's pocketsphinx-en-us.
	ModelDir string `json:"model_dir,omitempty"`
	// Timeout bounds one request to an endpoint. Default 60 s.
	Timeout time.Duration `json:"-"`
}

// opener makes an engine from a config.
type opener func(Config) (Engine, error)

// builtin is set by the files that build an engine in (see sphinx.go); it is written only
// by init functions, before main.
var builtin = map[string]opener{
	"openai": openOpenAI,
}

// Engines lists the engines this binary can open, sorted.
func Engines() []string {
	var out []string
	for name := range builtin {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Open makes the engine cfg names.
func Open(cfg Config) (Engine, error) {
	name := cfg.Engine
	if name == "" {
		switch {
		case builtin["pocketsphinx"] != nil:
			name = "pocketsphinx"
		case cfg.URL != "":
			name = "openai"
		default:
			return nil, fmt.Errorf("%w: this binary has no embedded engine (build it with -tags pocketsphinx) and no endpoint is configured (url)", ErrUnknownEngine)
		}
	}
	open := builtin[name]
	if open == nil {
		return nil, fmt.Errorf("%w %q: this binary has %s", ErrUnknownEngine, name, strings.Join(Engines(), ", "))
	}
	return open(cfg)
}
