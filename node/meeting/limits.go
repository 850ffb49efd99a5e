package meeting

import (
	"fmt"
	"time"
)

// Limits bound what one room and one participant may do. The zero value of a field means
// its default (DefaultLimits).
type Limits struct {
	// MaxParticipants counts everyone admitted to the room, on every node.
	MaxParticipants int
	// MaxLobby is how many people may wait in the room's lobby on this node.
	MaxLobby int
	// LobbyWait is how long someone may wait in the lobby before they are sent away.
	LobbyWait time.Duration
	// MediaDeadline is how long an admitted participant's media may take to connect.
	MediaDeadline time.Duration

	// Per participant: sustained messages a second and burst.
	KeyRate, KeyBurst           float64 // key envelopes
	HandRate, HandBurst         float64 // raise and lower hand
	MuteRate, MuteBurst         float64 // mute and unmute (microphone, camera)
	OfferRate, OfferBurst       float64 // offers on the pub connection (screen share on and off)
	ChatRate, ChatBurst         float64 // chat messages
	ModerateRate, ModerateBurst float64 // moderator actions
	ReactRate, ReactBurst       float64 // reactions
	CaptionRate, CaptionBurst   float64 // captions of the transcriber agent (every speaker's)

	// FloodRefusals refused messages within FloodWindow disconnect the sender.
	FloodRefusals int
	FloodWindow   time.Duration
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{
	MaxParticipants: 100,
	MaxLobby:        100,
	LobbyWait:       15 * time.Minute,
	MediaDeadline:   30 * time.Second,
	KeyRate:         5, KeyBurst: 20,
	HandRate: 2, HandBurst: 6,
	MuteRate: 5, MuteBurst: 12,
	OfferRate: 5, OfferBurst: 20,
	ChatRate: 5, ChatBurst: 10,
	ModerateRate: 2, ModerateBurst: 10,
	ReactRate: 2, ReactBurst: 6,
	CaptionRate: 30, CaptionBurst: 60,
	FloodRefusals: 100,
	FloodWindow:   10 * time.Second,
}

// MaxRoomParticipants is the largest MaxParticipants: every key envelope names every
// recipient, and a node's state record holds at most federation.MaxParticipants.
const MaxRoomParticipants = 1000

// withDefaults fills zero fields from DefaultLimits and checks the rest.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setRate := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&l.MaxParticipants, d.MaxParticipants)
	setInt(&l.MaxLobby, d.MaxLobby)
	setDur(&l.LobbyWait, d.LobbyWait)
	setDur(&l.MediaDeadline, d.MediaDeadline)
	setRate(&l.KeyRate, d.KeyRate)
	setRate(&l.KeyBurst, d.KeyBurst)
	setRate(&l.HandRate, d.HandRate)
	setRate(&l.HandBurst, d.HandBurst)
	setRate(&l.MuteRate, d.MuteRate)
	setRate(&l.MuteBurst, d.MuteBurst)
	setRate(&l.OfferRate, d.OfferRate)
	setRate(&l.OfferBurst, d.OfferBurst)
	setRate(&l.ChatRate, d.ChatRate)
	setRate(&l.ChatBurst, d.ChatBurst)
	setRate(&l.ModerateRate, d.ModerateRate)
	setRate(&l.ModerateBurst, d.ModerateBurst)
	setRate(&l.ReactRate, d.ReactRate)
	setRate(&l.ReactBurst, d.ReactBurst)
	setRate(&l.CaptionRate, d.CaptionRate)
	setRate(&l.CaptionBurst, d.CaptionBurst)
	setInt(&l.FloodRefusals, d.FloodRefusals)
	setDur(&l.FloodWindow, d.FloodWindow)
	if l.MaxParticipants < 1 || l.MaxParticipants > MaxRoomParticipants {
		return l, fmt.Errorf("meeting: MaxParticipants %d: want 1 to %d", l.MaxParticipants, MaxRoomParticipants)
	}
	if l.MaxLobby < 0 || l.LobbyWait < 0 || l.MediaDeadline < 0 || l.FloodRefusals < 0 || l.FloodWindow < 0 {
		return l, fmt.Errorf("meeting: negative limit in %+v", l)
	}
	return l, nil
}

// Bucket is a token-bucket rate limiter: Rate tokens a second, at most Burst saved up. The
// zero time starts it full. It is a plain value: its owner serialises calls.
type Bucket struct {
	Rate, Burst float64
	tokens      float64
	last        time.Time
}

// Allow takes a token at now, if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.Burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(b.Burst, b.tokens+d*b.Rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
