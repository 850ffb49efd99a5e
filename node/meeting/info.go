package meeting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// Info is what a participant looks like to others: the opaque blob its home node signs into
// its state record of the room (federation.Participant.Info). Only this package reads or
// writes it; federation bounds its size and carries it:
//
//	{"name":"Ada","org":"Ministère A","mod":true,"cert":{"body":"…","sig":"…"},
//	 "hand":true,"mic_muted":false,"camera_muted":true,"screen":false,
//	 "tracks":[{"id":"t12","kind":"video","source":"camera","layers":7},
//	           {"id":"t13","kind":"audio","source":"mic","level":1}]}
//
// A track's id is its id on the publishing node's SFU, what the cascade subscribes to;
// layers the simulcast layers the publisher sends (bit i: layer i; 0 means layer 0 only);
// level the id of the audio level header extension in an audio track's packets (0: none).
type Info struct {
	Name        string                 `json:"name"`
	Org         string                 `json:"org,omitempty"`
	Moderator   bool                   `json:"mod,omitempty"`
	Owner       bool                   `json:"owner,omitempty"`    // made the room (shown from its owner node only)
	Verified    bool                   `json:"verified,omitempty"` // signed in at its home node
	Cert        *identity.SignedObject `json:"cert,omitempty"`
	Hand        bool                   `json:"hand,omitempty"`
	MicMuted    bool                   `json:"mic_muted,omitempty"`
	CameraMuted bool                   `json:"camera_muted,omitempty"`
	Screen      bool                   `json:"screen,omitempty"`
	Tracks      []Track                `json:"tracks,omitempty"`
	Agent       bool                   `json:"agent,omitempty"` // the transcriber its node started
	Lang        string                 `json:"lang,omitempty"`  // the language they speak (BCP 47)
}

// Track is one published track in an Info.
type Track struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Source string `json:"source,omitempty"`
	Layers uint8  `json:"layers,omitempty"`
	Level  uint8  `json:"level,omitempty"`
}

// Limits of an Info, within federation.MaxInfoSize.
const (
	MaxTracks      = 16      // tracks of one participant
	maxCertBytes   = 2 << 10 // bytes of a certificate's body and signature together
	maxTrackID     = 64      // bytes of a track id
	trackReserve   = 512     // bytes a participant's tracks may add to its info when published
	maxOrgRunes    = federation.MaxOrgLen
	maxNameRunes   = signal.MaxNameLen
	maxInfoUnknown = federation.MaxInfoSize
)

// errInfo is wrapped by DecodeInfo's errors.
var errInfo = errors.New("participant info")

// EncodeInfo encodes info for a state record.
func EncodeInfo(info Info) (json.RawMessage, error) {
	data, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode participant info: %w", err)
	}
	if len(data) > federation.MaxInfoSize {
		return nil, fmt.Errorf("participant info of %d bytes, at most %d", len(data), federation.MaxInfoSize)
	}
	return data, nil
}

// DecodeInfo reads another node's participant info strictly: bounded, no unknown fields,
// nothing after the object, valid text, known track kinds and sources. Certificates are
// verified by whoever relies on them.
func DecodeInfo(data []byte) (Info, error) {
	var info Info
	if len(data) > maxInfoUnknown {
		return info, fmt.Errorf("%w: %d bytes", errInfo, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		return Info{}, fmt.Errorf("%w: %v", errInfo, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Info{}, fmt.Errorf("%w: data after the object", errInfo)
	}
	if err := info.validate(); err != nil {
		return Info{}, fmt.Errorf("%w: %v", errInfo, err)
	}
	return info, nil
}

func (info Info) validate() error {
	if err := validText(info.Name, maxNameRunes); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	if err := validText(info.Org, maxOrgRunes); err != nil {
		return fmt.Errorf("organisation: %w", err)
	}
	if info.Lang != "" && !signal.ValidLang(info.Lang) {
		return fmt.Errorf("language %q", info.Lang)
	}
	if c := info.Cert; c != nil && len(c.Body)+len(c.Sig) > maxCertBytes {
		return fmt.Errorf("certificate of %d bytes", len(c.Body)+len(c.Sig))
	}
	if len(info.Tracks) > MaxTracks {
		return fmt.Errorf("%d tracks, at most %d", len(info.Tracks), MaxTracks)
	}
	for _, t := range info.Tracks {
		if t.ID == "" || len(t.ID) > maxTrackID || !utf8.ValidString(t.ID) {
			return fmt.Errorf("track id %q", t.ID)
		}
		if t.Kind != "audio" && t.Kind != "video" {
			return fmt.Errorf("track %s: kind %q", t.ID, t.Kind)
		}
		switch t.Source {
		case "", signal.SourceMic, signal.SourceCamera, signal.SourceScreen:
		default:
			return fmt.Errorf("track %s: source %q", t.ID, t.Source)
		}
	}
	return nil
}

// validText checks a display text: valid UTF-8, at most max runes, no control characters.
func validText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%d characters, at most %d", n, max)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return errors.New("control characters")
	}
	return nil
}

// participant is info as clients see it (signal.Participant), with id.
func (info Info) participant(id string) signal.Participant {
	return signal.Participant{ID: id, Name: info.Name, Org: info.Org, Moderator: info.Moderator, Owner: info.Owner, Verified: info.Verified, Cert: info.Cert,
		Hand: info.Hand, MicMuted: info.MicMuted, CameraMuted: info.CameraMuted, Screen: info.Screen, Lang: info.Lang}
}

// sameView reports whether clients would see a and b alike (tracks are not shown).
func sameView(a, b Info) bool {
	return a.Name == b.Name && a.Org == b.Org && a.Moderator == b.Moderator && a.Owner == b.Owner && a.Verified == b.Verified && a.Hand == b.Hand &&
		a.MicMuted == b.MicMuted && a.CameraMuted == b.CameraMuted && a.Screen == b.Screen && a.Lang == b.Lang && a.Agent == b.Agent &&
		(a.Cert == nil) == (b.Cert == nil) && (a.Cert == nil || *a.Cert == *b.Cert)
}
