package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a client may send. A message over any of them is rejected whole.
const (
	// MaxMessageSize bounds one WebSocket message. Its size is set by the largest message, a
	// key envelope for a full room (~200 bytes per recipient, up to 1000 recipients).
	MaxMessageSize = 256 << 10
	// MaxNodeMessageSize bounds one message from a node: joined carries every participant's
	// certificate and the recent chat history.
	MaxNodeMessageSize = 8 << 20
	MaxSDPSize         = 48 << 10 // bytes of one session description
	MaxNameLen         = 64       // runes of a display name
	MaxTextLen         = 4000     // runes of one chat message
	MaxTracks          = 16       // entries in an offer's Tracks
	MaxIDLen           = 64       // bytes of a track id, mid or participant id
	maxCandidate       = 1024     // bytes of one ICE candidate line
	// MaxChatCiphertext is the size of the SFrame ciphertext of the longest chat text: 4 UTF-8
	// bytes a rune, an SFrame header of at most 17 bytes and the 16-byte tag.
	MaxChatCiphertext = MaxTextLen*4 + 17 + 16
	maxKeyField       = 128 // bytes of a public key field in join
	maxModToken       = 64  // bytes of a moderator token
)

// ErrBadMessage is wrapped by every error Decode and DecodeFromNode return, so a caller can
// tell malformed input (answer with CodeBadMessage, count it, keep serving) from its own failures.
var ErrBadMessage = errors.New("bad signalling message")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))
}

// Decode parses one message a client sent to its node. It rejects messages over
// MaxMessageSize, unknown fields, unknown types, types a client may not send, and any field
// that is missing, out of range or not valid UTF-8 for the message's type.
func Decode(data []byte) (*Message, error) {
	m, err := decodeJSON(data, MaxMessageSize)
	if err != nil {
		return nil, err
	}
	if err := m.validateFromClient(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeFromNode parses one message a node sent to a client. It is the Go client's decoder:
// size-bounded and strict about the JSON, and it checks the fields the client relies on.
func DecodeFromNode(data []byte) (*Message, error) {
	m, err := decodeJSON(data, MaxNodeMessageSize)
	if err != nil {
		return nil, err
	}
	switch m.Type {
	case TypeJoined:
		if m.You == nil || m.Room == nil {
			return nil, bad("joined without you or room")
		}
	case TypeOffer, TypeAnswer:
		if err := m.validateSDP(); err != nil {
			return nil, err
		}
	case TypeCandidate:
		if err := m.validateCandidate(); err != nil {
			return nil, err
		}
	case TypeParticipantJoined, TypeParticipantUpdated:
		if m.Participant == nil {
			return nil, bad("%s without participant", m.Type)
		}
	case TypeParticipantLeft:
		if m.ID == "" {
			return nil, bad("participant_left without id")
		}
	case TypeChat:
		if m.Chat == nil {
			return nil, bad("chat without message")
		}
	case TypeCaption:
		if m.Caption == nil || m.Caption.From == "" || len(m.Caption.SFrame) == 0 {
			return nil, bad("caption without a sealed caption")
		}
	case TypeKey:
		if m.Envelope == nil {
			return nil, bad("key without envelope")
		}
	case TypeWaitingAdd:
		if len(m.Waiting) != 1 {
			return nil, bad("waiting_add with %d people", len(m.Waiting))
		}
	case TypeWaitingRemove:
		if m.ID == "" {
			return nil, bad("waiting_remove without id")
		}
	case TypeModerated:
		if m.Action == "" {
			return nil, bad("moderated without action")
		}
	case TypeReaction:
		if m.ID == "" || !ValidReaction(m.Reaction) {
			return nil, bad("reaction without id or with an unknown reaction")
		}
	case TypeWaiting, TypeLobby, TypeSpeakers, TypeError, TypePong:
	default:
		return nil, bad("unknown type %q", m.Type)
	}
	return m, nil
}

func decodeJSON(data []byte, limit int) (*Message, error) {
	if len(data) > limit {
		return nil, bad("message is %d bytes, limit %d", len(data), limit)
	}
	if !utf8.Valid(data) {
		return nil, bad("message is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, bad("%v", err)
	}
	if dec.More() {
		return nil, bad("trailing data after the message")
	}
	if m.Type == "" {
		return nil, bad("missing type")
	}
	return &m, nil
}

func (m *Message) validateFromClient() error {
	switch m.Type {
	case TypeJoin:
		if m.Keys == nil || m.Keys.SigPub == "" || m.Keys.Age == "" ||
			len(m.Keys.SigPub) > maxKeyField || len(m.Keys.Age) > maxKeyField {
			return bad("join needs keys: sig_pub and age")
		}
		if len(m.Mod) > maxModToken || len(m.Agent) > maxModToken {
			return bad("moderator or agent token too long")
		}
		if m.Lang != "" && !ValidLang(m.Lang) {
			return bad("lang %q is not a language tag such as fr or en-GB", m.Lang)
		}
		return validName(m.Name)
	case TypeLang:
		if !ValidLang(m.Lang) {
			return bad("lang %q is not a language tag such as fr or en-GB", m.Lang)
		}
		return nil
	case TypeKey:
		if m.Envelope == nil || m.Envelope.Body == "" || m.Envelope.Sig == "" {
			return bad("key needs an envelope with body and sig")
		}
		return nil
	case TypeAdmit, TypeRemove:
		if m.ID == "" || len(m.ID) > MaxIDLen {
			return bad("%s needs a participant id", m.Type)
		}
		return nil
	case TypeOffer:
		if m.PC != PCPub {
			return bad("a client offers only on pc %q", PCPub)
		}
		if err := m.validateSDP(); err != nil {
			return err
		}
		if len(m.Tracks) > MaxTracks {
			return bad("offer names %d tracks, limit %d", len(m.Tracks), MaxTracks)
		}
		for mid, t := range m.Tracks {
			if mid == "" || len(mid) > MaxIDLen {
				return bad("bad mid %q", mid)
			}
			if !validSource(t.Source) {
				return bad("mid %q: unknown source %q", mid, t.Source)
			}
		}
		return nil
	case TypeAnswer:
		if m.PC != PCSub {
			return bad("a client answers only on pc %q", PCSub)
		}
		return m.validateSDP()
	case TypeCandidate:
		return m.validateCandidate()
	case TypeChat, TypeCaption:
		if len(m.SFrame) == 0 || len(m.SFrame) > MaxChatCiphertext {
			return bad("%s needs sframe: 1 to %d bytes of ciphertext", m.Type, MaxChatCiphertext)
		}
		return nil
	case TypeHand:
		if m.Raised == nil {
			return bad("hand without raised")
		}
		return nil
	case TypeMute:
		if m.Muted == nil || !validSource(m.Source) {
			return bad("mute needs muted and a source (mic, camera, screen)")
		}
		return nil
	case TypeLayer:
		if m.Track == "" || len(m.Track) > MaxIDLen {
			return bad("layer needs a track id")
		}
		switch m.Quality {
		case QualityLow, QualityMedium, QualityHigh:
			return nil
		}
		return bad("unknown quality %q", m.Quality)
	case TypeModerate:
		switch m.Action {
		case ActionMute, ActionCohost:
			if m.ID == "" || len(m.ID) > MaxIDLen {
				return bad("moderate %s needs a participant id", m.Action)
			}
		case ActionMuteAll, ActionLowerHands, ActionEnd, ActionTranscribe, ActionTranscribeStop:
			if m.ID != "" {
				return bad("moderate %s takes no id", m.Action)
			}
		default:
			return bad("unknown moderator action %q", m.Action)
		}
		return nil
	case TypeReact:
		if !ValidReaction(m.Reaction) {
			return bad("unknown reaction %q", m.Reaction)
		}
		return nil
	case TypeLeave, TypePing:
		return nil
	}
	return bad("a client may not send type %q", m.Type)
}

func (m *Message) validateSDP() error {
	if m.PC != PCPub && m.PC != PCSub {
		return bad("unknown pc %q", m.PC)
	}
	if m.SDP == "" || len(m.SDP) > MaxSDPSize {
		return bad("sdp must be 1 to %d bytes", MaxSDPSize)
	}
	return nil
}

func (m *Message) validateCandidate() error {
	if m.PC != PCPub && m.PC != PCSub {
		return bad("unknown pc %q", m.PC)
	}
	if m.Candidate == nil {
		return bad("candidate message without candidate")
	}
	if len(m.Candidate.Candidate) > maxCandidate {
		return bad("candidate is %d bytes, limit %d", len(m.Candidate.Candidate), maxCandidate)
	}
	if mid := m.Candidate.SDPMid; mid != nil && len(*mid) > MaxIDLen {
		return bad("candidate mid too long")
	}
	if u := m.Candidate.UsernameFragment; u != nil && len(*u) > MaxIDLen*4 {
		return bad("candidate usernameFragment too long")
	}
	return nil
}

// ValidReaction reports whether r is one of Reactions.
func ValidReaction(r string) bool {
	for _, x := range Reactions {
		if r == x {
			return true
		}
	}
	return false
}

func validSource(s string) bool {
	return s == SourceMic || s == SourceCamera || s == SourceScreen
}

func validName(name string) error {
	n := utf8.RuneCountInString(name)
	if strings.TrimSpace(name) == "" || n > MaxNameLen {
		return bad("name must be 1 to %d characters", MaxNameLen)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return bad("name contains a control character")
		}
	}
	return nil
}

// MaxLangLen bounds a language tag.
const MaxLangLen = 16

// ValidLang reports whether s is a plain BCP 47 language tag: a primary language of 2 or 3
// lowercase letters, then optional subtags of 2 to 8 letters or digits after "-" (a region
// such as "fr-BE", a script), at most MaxLangLen bytes.
func ValidLang(s string) bool {
	if len(s) > MaxLangLen {
		return false
	}
	for i, sub := range strings.Split(s, "-") {
		if i == 0 {
			if len(sub) < 2 || len(sub) > 3 || strings.IndexFunc(sub, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
				return false
			}
			continue
		}
		if len(sub) < 2 || len(sub) > 8 || strings.IndexFunc(sub, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
		}) >= 0 {
			return false
		}
	}
	return true
}
