package testnet

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// TestModerationAcrossNodes: a moderator on node A acts on participants of node B through
// the room's log. B's participant is asked to mute and obeys (A's clients see the mute); a
// reaction from B floats for A; lower hands lowers B's raised hand; a participant who is no
// moderator is refused; ending the meeting sends everyone on both nodes away.
func TestModerationAcrossNodes(t *testing.T) {
	env := NewEnv(t, 2, WithNames("Ministère A", "Ministère B"))
	room := env.CreateRoom(0, "Across")
	a := env.Nodes[0]
	mod := a.JoinWith(t, client.Config{Room: room.ID, Name: "Modératrice", Moderator: moderatorToken(t, a, room.ID)})
	ada := a.Join(t, room.ID, "Ada", client.Publish{})
	bo := env.Nodes[1].Join(t, room.ID, "Bo", client.Publish{})
	for _, c := range []*client.Client{mod, ada} {
		Eventually(t, 20*time.Second, "B's participant seen on A", func() error { return sees(c, bo.ID()) })
	}
	Eventually(t, 20*time.Second, "A's moderator seen on B", func() error { return sees(bo, mod.ID()) })

	// Someone who is no moderator cannot.
	if err := ada.Moderate(signal.ActionMute, bo.ID()); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "Ada's mute refused", func() error { return nodeError(ada, signal.CodeNotAllowed) })

	if err := mod.Moderate(signal.ActionMute, bo.ID()); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "Bo asked to mute", func() error { return moderated(bo, signal.ActionMute, "Modératrice") })
	Eventually(t, 20*time.Second, "Bo's mute seen on A", func() error {
		if p, ok := participant(ada, bo.ID()); !ok || !p.MicMuted {
			return fmt.Errorf("Bo is %+v", p)
		}
		return nil
	})
	if len(ada.Moderated()) != 0 {
		t.Fatalf("Ada was told %+v", ada.Moderated())
	}

	if err := bo.React("celebrate"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "Bo's reaction on A", func() error {
		if !slices.Contains(ada.Reactions(), client.Reaction{From: bo.ID(), Reaction: "celebrate"}) {
			return fmt.Errorf("reactions %+v", ada.Reactions())
		}
		return nil
	})

	if err := bo.RaiseHand(true); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "Bo's hand up on A", func() error {
		if p, _ := participant(mod, bo.ID()); !p.Hand {
			return errors.New("not yet")
		}
		return nil
	})
	if err := mod.Moderate(signal.ActionLowerHands, ""); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "Bo's hand lowered", func() error {
		if p, _ := participant(mod, bo.ID()); p.Hand {
			return errors.New("still up on A")
		}
		return moderated(bo, signal.ActionLowerHands, "Modératrice")
	})

	if err := mod.Moderate(signal.ActionEnd, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{bo, ada, mod} {
		Eventually(t, 20*time.Second, "sent away by the end of the meeting", func() error { return nodeError(c, signal.CodeEnded) })
	}
}

// sees reports whether c has participant id in its meeting.
func sees(c *client.Client, id string) error {
	if _, ok := participant(c, id); !ok {
		return fmt.Errorf("no participant %s among %d", id, len(c.Participants()))
	}
	return nil
}

func participant(c *client.Client, id string) (signal.Participant, bool) {
	for _, p := range c.Participants() {
		if p.ID == id {
			return p, true
		}
	}
	return signal.Participant{}, false
}

// moderated reports whether a moderator named by did action to c.
func moderated(c *client.Client, action, by string) error {
	if !slices.Contains(c.Moderated(), client.Moderation{Action: action, By: by}) {
		return fmt.Errorf("moderated %+v", c.Moderated())
	}
	return nil
}

// nodeError reports whether c has received an error with code from its node.
func nodeError(c *client.Client, code string) error {
	for {
		select {
		case err := <-c.Errors():
			var ne *client.NodeError
			if errors.As(err, &ne) && ne.Code == code {
				return nil
			}
		default:
			return fmt.Errorf("no %s error yet", code)
		}
	}
}
