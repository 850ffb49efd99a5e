package identity

import (
	"crypto/rand"
	"time"
)

// Defaults of ScheduleConfig, from the key schedule of the package documentation.
const (
	DefaultDebounce    = 200 * time.Millisecond
	DefaultRotate      = 10 * time.Minute
	DefaultSwitchDelay = 300 * time.Millisecond
)

// ScheduleConfig tunes a KeySchedule. Zero (or negative) fields take their defaults.
type ScheduleConfig struct {
	// Debounce: a membership change at least this long after the last new epoch is
	// answered by a new epoch at once; changes sooner after it are taken as one, answered
	// when this long has passed since it. Default 200 ms.
	Debounce time.Duration
	// Rotate: a new epoch at least this often. Default 10 minutes.
	Rotate time.Duration
	// SwitchDelay: the sender starts encrypting with a new key this long after announcing
	// it, so that receivers hold it before its first frame. Default 300 ms.
	SwitchDelay time.Duration
}

func (c ScheduleConfig) withDefaults() ScheduleConfig {
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.Rotate <= 0 {
		c.Rotate = DefaultRotate
	}
	if c.SwitchDelay <= 0 {
		c.SwitchDelay = DefaultSwitchDelay
	}
	return c
}

// EpochKey is one epoch's key of a sender: a fresh random 16-byte base key and its KID.
type EpochKey struct {
	KID     uint64
	BaseKey []byte
}

// Action is what a KeySchedule asks its owner to do now.
type Action struct {
	// Announce, if not nil, is a new epoch's key to send now in one envelope to every
	// participant admitted now.
	Announce *EpochKey
	// Switch, if not nil, is the key to encrypt with from now on.
	Switch *EpochKey
	// Next is when to call Tick again if nothing else happens first.
	Next time.Time
}

// KeySchedule decides when a sender moves to a new epoch: on a membership change among
// admitted participants (changes close together are taken as one) and every Rotate; and
// when it starts encrypting with an announced key. It is a state machine with no goroutines
// and no clock of its own: the owner reports membership changes and calls Tick at the
// Action's Next (or sooner), passing the time. It is not safe for concurrent use.
//
//	MembershipChanged(t) ─▶ new epoch due at max(t, last new epoch + Debounce)
//	last new epoch + Rotate ─▶ new epoch due
//	Tick, a new epoch due ─▶ Announce epoch e+1; Switch to it at now+SwitchDelay
//
// The first Tick announces epoch 0. Epochs count modulo 2^16, so a KID is reused only
// after 65536 epochs, long after receivers have erased it.
type KeySchedule struct {
	tag uint32
	cfg ScheduleConfig

	started  bool      // epoch has been announced
	epoch    uint16    // the newest announced epoch
	lastAt   time.Time // when it was announced
	rotateAt time.Time // when a new epoch is due without a membership change
	changeAt time.Time // when a new epoch is due for a membership change; zero if none
	pending  []pendingSwitch
}

// pendingSwitch is an announced key not yet switched to; KeySchedule.pending is oldest first.
type pendingSwitch struct {
	key *EpochKey
	at  time.Time
}

// NewKeySchedule makes the schedule of sender tag; its first epoch is due at now.
func NewKeySchedule(tag uint32, cfg ScheduleConfig, now time.Time) *KeySchedule {
	return &KeySchedule{tag: tag, cfg: cfg.withDefaults(), rotateAt: now}
}

// MembershipChanged reports that someone was admitted, left or was removed at now.
func (s *KeySchedule) MembershipChanged(now time.Time) {
	if s.changeAt.IsZero() {
		s.changeAt = now
		if s.started {
			s.changeAt = laterOf(now, s.lastAt.Add(s.cfg.Debounce))
		}
	}
}

// ChangeDue is when the new epoch for reported membership changes is due, zero if none is.
func (s *KeySchedule) ChangeDue() time.Time { return s.changeAt }

// Tick returns what to do at now. A new epoch's key covers every membership change reported
// before the Tick that announces it.
func (s *KeySchedule) Tick(now time.Time) (a Action) {
	if !now.Before(s.rotateAt) || (!s.changeAt.IsZero() && !now.Before(s.changeAt)) {
		if s.started {
			s.epoch++
		}
		s.started = true
		key := make([]byte, BaseKeySize)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		a.Announce = &EpochKey{KID: KIDOf(s.tag, s.epoch), BaseKey: key}
		s.rotateAt = now.Add(s.cfg.Rotate)
		s.changeAt = time.Time{}
		s.lastAt = now
		s.pending = append(s.pending, pendingSwitch{key: a.Announce, at: now.Add(s.cfg.SwitchDelay)})
	}
	due := 0
	for due < len(s.pending) && !now.Before(s.pending[due].at) {
		due++
	}
	if due > 0 {
		a.Switch = s.pending[due-1].key // the newest due; older due ones are skipped
		s.pending = s.pending[due:]
	}
	a.Next = s.rotateAt
	if !s.changeAt.IsZero() && s.changeAt.Before(a.Next) {
		a.Next = s.changeAt
	}
	if len(s.pending) > 0 && s.pending[0].at.Before(a.Next) {
		a.Next = s.pending[0].at
	}
	return a
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
