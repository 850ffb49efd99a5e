package identity

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// schedStep is one call on a KeySchedule at start+at: a membership change, or a Tick whose
// Action must announce and switch to the given epochs (-1: none) and say Next = start+next.
type schedStep struct {
	at       time.Duration
	change   bool
	announce int
	switchTo int
	next     time.Duration
}

func tick(at time.Duration, announce, switchTo int, next time.Duration) schedStep {
	return schedStep{at: at, announce: announce, switchTo: switchTo, next: next}
}

func change(at time.Duration) schedStep { return schedStep{at: at, change: true} }

func TestKeySchedule(t *testing.T) {
	const ms, minute = time.Millisecond, time.Minute
	// Every case starts like this: epoch 0 announced at once, used 300 ms later.
	start := []schedStep{tick(0, 0, -1, 300*ms), tick(300*ms, -1, 0, 10*minute)}
	cases := map[string][]schedStep{
		"first epoch": {
			tick(0, 0, -1, 300*ms), tick(299*ms, -1, -1, 300*ms), tick(300*ms, -1, 0, 10*minute),
			tick(time.Second, -1, -1, 10*minute),
		},
		"a change after a quiet while is answered at once, the next ones together": append(start,
			change(1000*ms), change(1100*ms), tick(1100*ms, 1, -1, 1400*ms), change(1199*ms), change(1250*ms),
			tick(1199*ms, -1, -1, 1300*ms), tick(1300*ms, 2, -1, 1400*ms),
			tick(1400*ms, -1, 1, 1600*ms), tick(1600*ms, -1, 2, 1300*ms+10*minute),
			tick(2*time.Second, -1, -1, 1300*ms+10*minute),
		),
		"changes after the window start another epoch": append(start,
			change(1000*ms), tick(1200*ms, 1, -1, 1500*ms), change(1201*ms),
			tick(1201*ms, -1, -1, 1400*ms), tick(1400*ms, 2, -1, 1500*ms),
			tick(1500*ms, -1, 1, 1700*ms), tick(1700*ms, -1, 2, 1400*ms+10*minute),
		),
		"rotation": append(start,
			tick(10*minute-ms, -1, -1, 10*minute), tick(10*minute, 1, -1, 10*minute+300*ms),
			tick(10*minute+300*ms, -1, 1, 20*minute), tick(20*minute, 2, -1, 20*minute+300*ms),
		),
		"membership epoch restarts the rotation clock": append(start,
			change(5*minute), tick(5*minute+200*ms, 1, -1, 5*minute+500*ms), tick(5*minute+500*ms, -1, 1, 15*minute+200*ms),
			tick(10*minute, -1, -1, 15*minute+200*ms), tick(15*minute+200*ms, 2, -1, 15*minute+500*ms),
		),
		"join then leave": append(start,
			change(1000*ms), // join
			tick(1200*ms, 1, -1, 1500*ms),
			change(1250*ms), // leave before epoch 1 is in use
			tick(1250*ms, -1, -1, 1400*ms), tick(1400*ms, 2, -1, 1500*ms),
			tick(1500*ms, -1, 1, 1700*ms), tick(1700*ms, -1, 2, 1400*ms+10*minute),
		),
		"late tick skips a superseded switch": append(start,
			change(1000*ms), tick(1200*ms, 1, -1, 1500*ms), change(1300*ms),
			tick(1600*ms, 2, 1, 1900*ms), tick(1900*ms, -1, 2, 1600*ms+10*minute),
		),
		"late tick switches only to the newest due": append(start,
			change(1000*ms), tick(1200*ms, 1, -1, 1500*ms), change(1250*ms),
			tick(1450*ms, 2, -1, 1500*ms), tick(5*time.Second, -1, 2, 1450*ms+10*minute),
		),
		"change before the first tick": {
			change(0), tick(50*ms, 0, -1, 350*ms), tick(200*ms, -1, -1, 350*ms), tick(350*ms, -1, 0, 50*ms+10*minute),
		},
		"change while a new epoch is due": append(start,
			change(1000*ms), change(1300*ms), tick(1400*ms, 1, -1, 1700*ms), tick(1700*ms, -1, 1, 1400*ms+10*minute),
		),
		"very late tick": append(start,
			tick(time.Hour, 1, -1, time.Hour+300*ms), tick(time.Hour+300*ms, -1, 1, time.Hour+10*minute),
		),
	}
	t0 := time.Unix(1_700_000_000, 0)
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			const tag = 0xabc
			s := NewKeySchedule(tag, ScheduleConfig{}, t0)
			announced := map[uint64][]byte{}
			for i, st := range steps {
				now := t0.Add(st.at)
				if st.change {
					s.MembershipChanged(now)
					continue
				}
				a := s.Tick(now)
				if got := epochOf(t, tag, a.Announce); got != st.announce {
					t.Fatalf("step %d at %v: announced epoch %d, want %d", i, st.at, got, st.announce)
				}
				if a.Announce != nil {
					if len(a.Announce.BaseKey) != BaseKeySize {
						t.Fatalf("step %d: %d-byte key", i, len(a.Announce.BaseKey))
					}
					for kid, k := range announced {
						if bytes.Equal(k, a.Announce.BaseKey) {
							t.Fatalf("step %d: key of KID %#x repeated", i, kid)
						}
					}
					announced[a.Announce.KID] = a.Announce.BaseKey
				}
				if got := epochOf(t, tag, a.Switch); got != st.switchTo {
					t.Fatalf("step %d at %v: switched to epoch %d, want %d", i, st.at, got, st.switchTo)
				}
				if a.Switch != nil && !bytes.Equal(a.Switch.BaseKey, announced[a.Switch.KID]) {
					t.Fatalf("step %d: switched to a key that was not announced", i)
				}
				if got := a.Next.Sub(t0); got != st.next {
					t.Fatalf("step %d at %v: next at %v, want %v", i, st.at, got, st.next)
				}
			}
		})
	}
}

func TestKeyScheduleConfig(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(0, 0)
	s := NewKeySchedule(1, ScheduleConfig{Debounce: 10 * ms, Rotate: time.Second, SwitchDelay: 20 * ms}, t0)
	steps := []struct {
		at   time.Duration
		want string
	}{
		{0, "announce 0 next 20ms"},
		{20 * ms, "switch 0 next 1s"},
		{1000 * ms, "announce 1 next 1.02s"},
	}
	for _, st := range steps {
		if got := describe(s.Tick(t0.Add(st.at)), t0); got != st.want {
			t.Errorf("at %v: %s, want %s", st.at, got, st.want)
		}
	}
	s.MembershipChanged(t0.Add(1030 * ms))
	if got := describe(s.Tick(t0.Add(1040*ms)), t0); got != "announce 2 switch 1 next 1.06s" {
		t.Errorf("debounce of 10ms: %s", got)
	}
}

// TestKeyScheduleEpochWraps: after epoch 65535 comes 0, under the same tag.
func TestKeyScheduleEpochWraps(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := NewKeySchedule(9, ScheduleConfig{}, t0)
	s.Tick(t0)
	s.epoch = 0xfffe
	now := t0
	for _, want := range []uint64{KIDOf(9, 0xffff), KIDOf(9, 0)} {
		now = now.Add(DefaultRotate)
		if a := s.Tick(now); a.Announce == nil || a.Announce.KID != want {
			t.Fatalf("announced %+v, want KID %#x", a.Announce, want)
		}
	}
}

func epochOf(t *testing.T, tag uint32, k *EpochKey) int {
	t.Helper()
	if k == nil {
		return -1
	}
	kt, e := SplitKID(k.KID)
	if kt != tag {
		t.Fatalf("KID %#x has tag %#x, want %#x", k.KID, kt, tag)
	}
	return int(e)
}

func describe(a Action, t0 time.Time) string {
	s := ""
	if a.Announce != nil {
		_, e := SplitKID(a.Announce.KID)
		s += fmt.Sprintf("announce %d ", e)
	}
	if a.Switch != nil {
		_, e := SplitKID(a.Switch.KID)
		s += fmt.Sprintf("switch %d ", e)
	}
	return s + "next " + a.Next.Sub(t0).String()
}
