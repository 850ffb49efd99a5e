package testnet

import (
	"fmt"
	"testing"
	"time"

	"parley/media/signal"
)

// The browser matrix: Firefox with Chromium and with Firefox, on one node and across two
// nodes through the cascade, end-to-end encrypted. Every participant sees every other's
// camera playing and hears them, the SFU receives all three simulcast layers of each camera,
// both read "encrypted" and exchange chat, and a screen shared from Chromium plays in
// Firefox.

// TestBrowserMatrix runs each pair of browsers through one meeting.
func TestBrowserMatrix(t *testing.T) {
	for _, c := range []struct {
		name   string
		kinds  [2]string
		across bool // Bob on another node, through the cascade
	}{
		{"firefox-chromium", [2]string{Firefox, Chromium}, false},
		{"firefox-firefox", [2]string{Firefox, Firefox}, false},
		{"firefox-chromium-across-nodes", [2]string{Firefox, Chromium}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			RequireBrowser(t, c.kinds[0])
			RequireBrowser(t, c.kinds[1])
			meetInBrowsers(t, c.kinds, c.across)
		})
	}
}

func meetInBrowsers(t *testing.T, kinds [2]string, across bool) {
	var na, nb *TestNode
	var room string
	if across {
		env := NewEnv(t, 2, WithNames("Ministère A", "Ministère B"))
		na, nb = env.Nodes[0], env.Nodes[1]
		room = env.CreateRoom(0, "Matrix").ID
	} else {
		na = StartNode(t, "a")
		nb = na
		room = na.CreateRoom("Matrix").ID
	}
	alice := NewBrowserOf(t, kinds[0], "Alice")
	bob := NewBrowserOf(t, kinds[1], "Bob")
	start := time.Now()
	alice.Join(na.URL(), room, "Alice")
	bob.Join(nb.URL(), room, "Bob")

	bob.WaitVideoPlaying(`video[data-participant-name="Alice"]`, e2eeMediaWait)
	alice.WaitVideoPlaying(`video[data-participant-name="Bob"]`, e2eeMediaWait)
	t.Logf("%s and %s see each other %v after joining", kinds[0], kinds[1], time.Since(start).Round(time.Millisecond))
	waitAudioHeard(t, bob, "Alice", e2eeMediaWait)
	waitAudioHeard(t, alice, "Bob", e2eeMediaWait)
	waitE2EEStatus(t, alice, "encrypted", e2eeStatusWait)
	waitE2EEStatus(t, bob, "encrypted", e2eeStatusWait)
	for _, n := range uniqueNodes(na, nb) {
		waitAllLayers(t, n, room)
	}

	const hello, back = "Bonjour Bob", "Bonjour Alice"
	openChat(t, alice)
	alice.Type(`[data-testid=chat-input]`, hello+"\n")
	bob.WaitText(`[data-testid=chat-log]`, "Alice: "+hello, 15*time.Second)
	openChat(t, bob)
	bob.Type(`[data-testid=chat-input]`, back+"\n")
	alice.WaitText(`[data-testid=chat-log]`, "Bob: "+back, 15*time.Second)

	if kinds[1] == Chromium {
		bob.Click(`[data-testid=screen]`)
		alice.WaitVideoPlaying(`video[data-screen-of="Bob"]`, e2eeMediaWait)
	}
	noUndecryptableTiles(t, alice)
	noUndecryptableTiles(t, bob)
}

// uniqueNodes lists a and b once each.
func uniqueNodes(a, b *TestNode) []*TestNode {
	if a == b {
		return []*TestNode{a}
	}
	return []*TestNode{a, b}
}

// waitAllLayers waits until the SFU of n receives all three simulcast layers of every camera
// its participants publish in room.
func waitAllLayers(t *testing.T, n *TestNode, roomID string) {
	t.Helper()
	Eventually(t, e2eeMediaWait, "every camera's three layers at node "+n.Name, func() error {
		got := n.Node.ReceivedLayers(roomID)
		cameras := 0
		for _, tr := range n.Node.PublishedTracks(roomID) {
			if tr.Source != signal.SourceCamera {
				continue
			}
			cameras++
			if got[tr.ID] != 7 {
				return fmt.Errorf("camera %s of %s: layers %03b received", tr.ID, tr.Participant, got[tr.ID])
			}
		}
		if cameras == 0 {
			return fmt.Errorf("no camera published at node %s", n.Name)
		}
		return nil
	})
}
