package meeting

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := Bucket{Rate: 5, Burst: 10}
	now := time.Unix(1_700_000_000, 0)
	allowed := 0
	for range 20 {
		if b.Allow(now) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("burst allowed %d, want 10", allowed)
	}
	if !b.Allow(now.Add(200 * time.Millisecond)) { // one token back
		t.Error("no token after 200ms")
	}
	if b.Allow(now.Add(200 * time.Millisecond)) {
		t.Error("two tokens after 200ms")
	}
}

func TestLimitsDefaults(t *testing.T) {
	l, err := Limits{MaxParticipants: 7}.withDefaults()
	if err != nil || l.MaxParticipants != 7 || l.MaxLobby != DefaultLimits.MaxLobby || l.KeyRate != DefaultLimits.KeyRate {
		t.Fatalf("withDefaults: %+v, %v", l, err)
	}
	if _, err := (Limits{MaxParticipants: MaxRoomParticipants + 1}).withDefaults(); err == nil {
		t.Error("a room over the largest size was accepted")
	}
	if _, err := (Limits{LobbyWait: -time.Second}).withDefaults(); err == nil {
		t.Error("a negative lobby wait was accepted")
	}
}
