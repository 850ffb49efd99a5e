package meeting

import (
	"time"

	"parley/federation"
	"parley/identity"
	"parley/media/signal"
)

// Conn is one local participant's signalling connection as a meeting sees it (the node's
// signalling session). Its methods never block: they queue.
type Conn interface {
	// Send queues one encoded signalling message for the client. A client whose queue is
	// full ends for its own slowness, and then leaves the meeting like anyone else.
	Send(data []byte)
	// SendMedia is the SFU's way to the client (media.SendFunc).
	SendMedia(m *signal.Message)
	// Admitted tells the connection that it is in the meeting: from then on its messages are
	// a member's. It queues a.Joined, the joined message, before anything the SFU sends it
	// (the SFU may send from the moment the participant joined it, just before).
	Admitted(a Admission)
	// End queues an error with code and text for the client and closes the connection soon
	// after. The meeting has already let the participant go.
	End(code, text string)
}

// Admission is what a connection learns when it enters the meeting.
type Admission struct {
	Tag   uint32       // its sender tag, the high bits of its key IDs
	Media MediaSession // its part in the SFU
	// Joined is the encoded joined message, the client's first message of the meeting.
	Joined []byte
}

// MediaSession is a participant's part in the SFU (a *media.Participant).
type MediaSession interface {
	// Handle applies a signalling message about media (offer, answer, candidate, layer).
	Handle(m *signal.Message) error
	// Connected reports whether one of its peer connections has connected.
	Connected() bool
	// Started reports whether a connection is expected: the participant offered media, or
	// the SFU offered it some.
	Started() bool
	// Close leaves the SFU; it may take a while and runs off the meeting's goroutine.
	Close() error
}

// Media adds participants to the SFU.
type Media interface {
	Join(room, id string, send func(*signal.Message)) (MediaSession, error)
}

// JoinRequest is a client's join, checked by its session.
type JoinRequest struct {
	Conn      Conn
	ID        string // a fresh participant id
	Name      string
	Keys      identity.PublicIdentity
	Moderator bool                 // holds the room's moderator token, or signed in as its owner
	Owner     bool                 // signed in as the person who made the room: makes co-hosts
	Account   *Account             // signed in at this node (Name is the provider's); nil: a guest
	History   []signal.ChatMessage // the room's recent chat, read before joining
	// Agent: the transcriber the node started at a moderator's request. It is let in at
	// once (a moderator asked for it), is no moderator, and is the only one whose captions
	// are relayed.
	Agent bool
	// Lang is the language the participant speaks (a signal.ValidLang tag), "" if unsaid.
	Lang string
}

// Account is a signed-in participant's account at the node's identity provider, which the
// node vouches for in the participant's certificate.
type Account struct{ Issuer, Subject, Email string }

// Key is how the room's record names the account among its co-hosts.
func (a *Account) Key() string {
	if a == nil {
		return ""
	}
	return federation.IdentityKey(a.Issuer, a.Subject)
}

// member is a local participant, waiting in the lobby or admitted. Only the meeting's
// goroutine touches it.
type member struct {
	id        string
	conn      Conn
	keys      identity.PublicIdentity
	moderator bool
	owner     bool
	agent     bool
	account   *Account
	history   []signal.ChatMessage // until admitted
	since     time.Time            // arrived in the lobby, or admitted
	admitted  bool
	info      Info
	infoSize  int // bytes of info encoded, without tracks
	tag       uint32
	media     MediaSession
	connected bool      // media seen connected
	started   time.Time // media seen set up, waiting to connect

	key, hand, mute, offer, chat, moderate, react, caption Bucket
	kids                                                   kidSet // key IDs announced
	refusedFrom                                            time.Time
	refused                                                int
}

// kidSet remembers the last key IDs a sender announced, to drop repeats.
type kidSet struct {
	ring [16]uint64
	n    int
}

// add records kid and reports whether it is new.
func (s *kidSet) add(kid uint64) bool {
	for i := 0; i < min(s.n, len(s.ring)); i++ {
		if s.ring[i] == kid {
			return false
		}
	}
	s.ring[s.n%len(s.ring)] = kid
	s.n++
	return true
}
