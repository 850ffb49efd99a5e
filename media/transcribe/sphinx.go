//go:build pocketsphinx

package transcribe

/*
#cgo pkg-config: pocketsphinx
#include <stdlib.h>
#include <pocketsphinx.h>

// parley_ps_init makes a decoder for one model; cmd_ln_init is variadic, which cgo cannot call.
// maxhmmpf and maxwpf bound the search per frame: 1.65 times the streams per core
// (BenchmarkSphinxStream: real-time factor 0.29 to 0.18) for a word error rate of 0.52
// instead of 0.46 on the test sentences, so that live captions keep up.
static ps_decoder_t *parley_ps_init(const char *hmm, const char *lm, const char *dict, cmd_ln_t **cfg) {
	cmd_ln_t *c = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-lm", lm, "-dict", dict,
		"-logfn", "/dev/null", "-maxhmmpf", "3000", "-maxwpf", "5", NULL);
	if (c == NULL) return NULL;
	ps_decoder_t *ps = ps_init(c);
	if (ps == NULL) { cmd_ln_free_r(c); return NULL; }
	*cfg = c;
	return ps;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"
)

// The embedded engine: CMU PocketSphinx (Debian's libpocketsphinx-dev and
// pocketsphinx-en-us), US English only. Each Stream has its own decoder; PocketSphinx's own
// voice activity detection ends utterances. Its frames are 10 ms.

// DefaultSphinxModel is where Debian's pocketsphinx-en-us puts the model.
const DefaultSphinxModel = "/usr/share/pocketsphinx/model/en-us"

// sphinxInterim is how often a Stream offers its guess for speech still going on.
const sphinxInterim = 400 * time.Millisecond

func init() { builtin["pocketsphinx"] = openSphinx }

type sphinx struct {
	hmm, lm, dict string
}

func openSphinx(cfg Config) (Engine, error) {
	dir := cfg.ModelDir
	if dir == "" {
		dir = DefaultSphinxModel
	}
	e := &sphinx{hmm: filepath.Join(dir, "en-us"), lm: filepath.Join(dir, "en-us.lm.bin"), dict: filepath.Join(dir, "cmudict-en-us.dict")}
	for _, p := range []string{e.hmm, e.lm, e.dict} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("pocketsphinx: no model at %s (install Debian's pocketsphinx-en-us or set model_dir): %w", dir, err)
		}
	}
	return e, nil
}

func (e *sphinx) Name() string { return "pocketsphinx" }
func (e *sphinx) Close() error { return nil }

func (e *sphinx) Transcribe(ctx context.Context, pcm []int16, language string) ([]Segment, error) {
	st, err := e.Stream(language)
	if err != nil {
		return nil, err
	}
	var out []Segment
	const chunk = SampleRate / 10
	for i := 0; i < len(pcm); i += chunk {
		if err := ctx.Err(); err != nil {
			_, _ = st.Close()
			return nil, err
		}
		segs, err := st.Write(pcm[i:min(i+chunk, len(pcm))])
		if err != nil {
			_, _ = st.Close()
			return nil, err
		}
		out = appendFinal(out, segs)
	}
	segs, err := st.Close()
	return appendFinal(out, segs), err
}

func appendFinal(out, segs []Segment) []Segment {
	for _, s := range segs {
		if s.Final {
			out = append(out, s)
		}
	}
	return out
}

func (e *sphinx) Stream(language string) (Stream, error) {
	if base, _, _ := strings.Cut(strings.ToLower(language), "-"); base != "" && base != "en" {
		return nil, fmt.Errorf("pocketsphinx: %w: %q (its model is US English)", ErrLanguage, language)
	}
	hmm, lm, dict := C.CString(e.hmm), C.CString(e.lm), C.CString(e.dict)
	defer C.free(unsafe.Pointer(hmm))
	defer C.free(unsafe.Pointer(lm))
	defer C.free(unsafe.Pointer(dict))
	var cfg *C.cmd_ln_t
	ps := C.parley_ps_init(hmm, lm, dict, &cfg)
	if ps == nil {
		return nil, errors.New("pocketsphinx: the decoder did not start (model files unreadable?)")
	}
	s := &sphinxStream{ps: ps, cfg: cfg}
	if C.ps_start_utt(ps) < 0 {
		s.free()
		return nil, errors.New("pocketsphinx: could not start an utterance")
	}
	return s, nil
}

type sphinxStream struct {
	ps       *C.ps_decoder_t
	cfg      *C.cmd_ln_t
	fed      int64 // samples fed since the stream began
	speaking bool
	interim  int64 // fed when the last interim guess was made
	lastHyp  string
}

func (s *sphinxStream) Write(pcm []int16) ([]Segment, error) {
	if s.ps == nil {
		return nil, errors.New("pocketsphinx: stream closed")
	}
	if len(pcm) == 0 {
		return nil, nil
	}
	if C.ps_process_raw(s.ps, (*C.int16)(unsafe.Pointer(&pcm[0])), C.size_t(len(pcm)), 0, 0) < 0 {
		return nil, errors.New("pocketsphinx: decoding failed")
	}
	s.fed += int64(len(pcm))
	inSpeech := C.ps_get_in_speech(s.ps) != 0
	switch {
	case inSpeech && !s.speaking:
		s.speaking, s.interim = true, s.fed
	case !inSpeech && s.speaking:
		seg, ok, err := s.endUtterance()
		if err != nil || !ok {
			return nil, err
		}
		return []Segment{seg}, nil
	case inSpeech && samplesToDuration(s.fed-s.interim) >= sphinxInterim:
		s.interim = s.fed
		if text, start, end := s.hypothesis(); text != "" && text != s.lastHyp {
			s.lastHyp = text
			return []Segment{{Start: start, End: end, Text: text}}, nil
		}
	}
	return nil, nil
}

// endUtterance ends the utterance going on, reads its words and starts the next.
func (s *sphinxStream) endUtterance() (Segment, bool, error) {
	if C.ps_end_utt(s.ps) < 0 {
		return Segment{}, false, errors.New("pocketsphinx: could not end an utterance")
	}
	text, start, end := s.hypothesis()
	s.speaking, s.lastHyp = false, ""
	if C.ps_start_utt(s.ps) < 0 {
		return Segment{}, false, errors.New("pocketsphinx: could not start an utterance")
	}
	if text == "" {
		return Segment{}, false, nil
	}
	return Segment{Start: start, End: end, Text: text, Final: true}, true, nil
}

// hypothesis is the decoder's best guess for the utterance so far: its words (fillers and
// silences left out) and where they start and end in the stream.
func (s *sphinxStream) hypothesis() (string, time.Duration, time.Duration) {
	var words []string
	first, last := -1, -1
	for seg := C.ps_seg_iter(s.ps); seg != nil; seg = C.ps_seg_next(seg) {
		w := C.GoString(C.ps_seg_word(seg))
		if i := strings.IndexByte(w, '('); i > 0 {
			w = w[:i] // an alternative pronunciation: word(2)
		}
		if w == "" || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "+") {
			continue
		}
		var sf, ef C.int
		C.ps_seg_frames(seg, &sf, &ef)
		if first < 0 {
			first = int(sf)
		}
		last = int(ef)
		words = append(words, w)
	}
	if len(words) == 0 {
		return "", 0, 0
	}
	// Frames count from the decoder's first sample, across utterances.
	return strings.Join(words, " "), time.Duration(first) * 10 * time.Millisecond, time.Duration(last+1) * 10 * time.Millisecond
}

func (s *sphinxStream) Close() ([]Segment, error) {
	if s.ps == nil {
		return nil, nil
	}
	defer s.free()
	seg, ok, err := s.endUtterance()
	if err != nil || !ok {
		return nil, err
	}
	return []Segment{seg}, nil
}

func (s *sphinxStream) free() {
	if s.ps != nil {
		C.ps_free(s.ps)
		C.cmd_ln_free_r(s.cfg)
		s.ps, s.cfg = nil, nil
	}
}
