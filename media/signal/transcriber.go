package signal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The transcriber link: a transcriber on another machine of the organisation (a GPU box)
// keeps a WebSocket open to its node at TranscriberPath, and the node hands it the meetings
// to transcribe. It proves who it is with an Ed25519 key the node's configuration trusts
// (transcribers): the node sends a challenge, the transcriber signs it.
//
//	node → transcriber  {"type":"challenge","nonce":"…","node_key":"…"}
//	transcriber → node  {"type":"hello","key":"…","sig":"…","name":"gpu-1","engine":"openai"}
//	node → transcriber  {"type":"welcome"}
//	node → transcriber  {"type":"start","room":"…","token":"…"}     join room as its agent
//	node → transcriber  {"type":"stop","room":"…"}
//	transcriber → node  {"type":"started","room":"…"} / {"type":"stopped","room":"…"}
//	transcriber → node  {"type":"error","room":"…","message":"…"}  the engine failed (for the moderators)
//	transcriber → node  {"type":"transcript","room":"…","sealed":"…"} the transcript, sealed to the moderators
//
// The agent itself joins the room like any participant, with the one-time agent token of
// "start"; the link carries no media and nothing the node could read of the meeting.

// TranscriberPath is where a node accepts transcriber links.
const TranscriberPath = "/api/transcriber"

// Transcriber link message types.
const (
	TLChallenge  = "challenge"
	TLHello      = "hello"
	TLWelcome    = "welcome"
	TLStart      = "start"
	TLStop       = "stop"
	TLStarted    = "started"
	TLStopped    = "stopped"
	TLError      = "error"
	TLTranscript = "transcript"
)

// Limits of the transcriber link.
const (
	TranscriberNonceLen = 32
	// MaxSealedTranscript bounds a sealed transcript: some 30 hours of speech.
	MaxSealedTranscript = 16 << 20
	// MaxTranscriberMessage bounds one message of the link (a transcript in base64).
	MaxTranscriberMessage = MaxSealedTranscript*4/3 + 4<<10
	maxTLText             = 1000 // bytes of a name, an engine or an error message
	maxTLToken            = 128
)

// TranscriberHelloContext prefixes what a transcriber signs: the context, the nonce, then
// the node's public key, so that a signature for one node is no use at another.
const TranscriberHelloContext = "parley-transcriber-hello-v1\n"

// TranscriberHelloMessage is what a transcriber signs to answer nonce from the node whose
// key is nodeKey.
func TranscriberHelloMessage(nonce []byte, nodeKey ed25519.PublicKey) []byte {
	m := append([]byte(TranscriberHelloContext), nonce...)
	return append(m, nodeKey...)
}

// TranscriberMessage is one message of the transcriber link.
type TranscriberMessage struct {
	Type    string `json:"type"`
	Nonce   []byte `json:"nonce,omitempty"`    // challenge
	NodeKey []byte `json:"node_key,omitempty"` // challenge: the node's Ed25519 key
	Key     []byte `json:"key,omitempty"`      // hello: the transcriber's Ed25519 key
	Sig     []byte `json:"sig,omitempty"`      // hello: its signature of TranscriberHelloMessage
	Name    string `json:"name,omitempty"`     // hello: the transcriber's name, for logs
	Engine  string `json:"engine,omitempty"`   // hello: its speech engine
	Room    string `json:"room,omitempty"`
	Token   string `json:"token,omitempty"`   // start: the agent token to join with
	Message string `json:"message,omitempty"` // error
	Sealed  []byte `json:"sealed,omitempty"`  // transcript
}

// DecodeTranscriberMessage reads one message of the transcriber link strictly: known fields
// only, the fields its type needs, bounded.
func DecodeTranscriberMessage(data []byte) (*TranscriberMessage, error) {
	if len(data) > MaxTranscriberMessage {
		return nil, bad("message is %d bytes, limit %d", len(data), MaxTranscriberMessage)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m TranscriberMessage
	if err := dec.Decode(&m); err != nil {
		return nil, bad("%v", err)
	}
	if dec.More() {
		return nil, bad("trailing data after the message")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *TranscriberMessage) validate() error {
	for what, s := range map[string]string{"name": m.Name, "engine": m.Engine, "message": m.Message} {
		if len(s) > maxTLText || !utf8.ValidString(s) {
			return bad("%s: at most %d bytes of UTF-8", what, maxTLText)
		}
	}
	if len(m.Room) > MaxIDLen || len(m.Token) > maxTLToken {
		return bad("room or token too long")
	}
	needRoom := func() error {
		if m.Room == "" {
			return bad("%s without a room", m.Type)
		}
		return nil
	}
	switch m.Type {
	case TLChallenge:
		if len(m.Nonce) != TranscriberNonceLen || len(m.NodeKey) != ed25519.PublicKeySize {
			return bad("challenge needs a %d-byte nonce and the node's key", TranscriberNonceLen)
		}
	case TLHello:
		if len(m.Key) != ed25519.PublicKeySize || len(m.Sig) != ed25519.SignatureSize {
			return bad("hello needs an Ed25519 key and signature")
		}
	case TLWelcome:
	case TLStart:
		if m.Token == "" {
			return bad("start without a token")
		}
		return needRoom()
	case TLStop, TLStarted, TLStopped:
		return needRoom()
	case TLError:
		if m.Message == "" {
			return bad("error without a message")
		}
		return needRoom()
	case TLTranscript:
		if len(m.Sealed) == 0 || len(m.Sealed) > MaxSealedTranscript {
			return bad("transcript of %d bytes, want 1 to %d", len(m.Sealed), MaxSealedTranscript)
		}
		return needRoom()
	default:
		return bad("unknown type %q", m.Type)
	}
	return nil
}

// String names the message for logs, without its secrets.
func (m *TranscriberMessage) String() string { return fmt.Sprintf("%s %s", m.Type, m.Room) }
