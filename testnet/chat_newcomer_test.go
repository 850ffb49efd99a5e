package testnet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/media/client"
)

// TestChatReachesNewcomer: the moment a participant sees someone join, it greets them; the
// newcomer reads the greeting. The sender seals chat under the epoch it announces for the
// newcomer (waiting out the key schedule's debounce when that epoch is still due), not under
// the key from before the join, which the newcomer never gets.
func TestChatReachesNewcomer(t *testing.T) {
	n := StartNode(t, "greetings")
	room := n.CreateRoom("Greetings")
	host := n.Join(t, room.ID, "Host", client.Publish{Audio: true})
	if err := host.SendChat("alone for now"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		name := fmt.Sprintf("Guest%d", i+1)
		guest := n.Join(t, room.ID, name, client.Publish{})
		Eventually(t, 10*time.Second, "Host sees "+name, func() error {
			if !slices.Contains(ParticipantNames(host), name) {
				return fmt.Errorf("Host sees %v", ParticipantNames(host))
			}
			return nil
		})
		text := "welcome " + name
		if err := host.SendChat(text); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 10*time.Second, name+" reads the greeting", func() error {
			if HasChat(guest, "Host", text) {
				return nil
			}
			return fmt.Errorf("chat is %+v", guest.Chat())
		})
	}
}
