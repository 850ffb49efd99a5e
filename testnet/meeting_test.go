package testnet

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/media/client"
	"parley/media/signal"
)

// mediaTimeout bounds how long media may take to start flowing on loopback (ICE, DTLS, the
// sub renegotiation and the first keyframe), on a busy two-core machine.
const mediaTimeout = 20 * time.Second

// rising returns a condition that holds once the counter read by get has grown past its value
// at the time rising was called.
func rising(get func() (uint64, error)) func() error {
	start, startErr := get()
	return func() error {
		if startErr != nil {
			start, startErr = get()
			return startErr
		}
		now, err := get()
		if err != nil {
			return err
		}
		if now <= start {
			return fmt.Errorf("still %d", now)
		}
		return nil
	}
}

// packetsFrom reads how many packets c has received of participant's source.
func packetsFrom(c *client.Client, participant, source string) func() (uint64, error) {
	return func() (uint64, error) {
		tr, ok := FindTrack(c, participant, source)
		if !ok {
			return 0, fmt.Errorf("no %s track from %s (%s)", source, participant, DescribeTracks(c))
		}
		return tr.Packets, nil
	}
}

func TestGoClientsThreeParticipants(t *testing.T) {
	n := StartNode(t, "solo")
	room := n.CreateRoom("Three of us")
	av := client.Publish{Audio: true, Video: true}
	names := []string{"Alice", "Bob", "Carol"}
	clients := map[string]*client.Client{}
	for _, name := range names {
		clients[name] = n.Join(t, room.ID, name, av)
	}

	// Everyone sees the two others and receives their audio and video.
	for _, name := range names {
		c := clients[name]
		for _, other := range names {
			if other == name {
				continue
			}
			id := clients[other].ID()
			Eventually(t, mediaTimeout, name+" receives "+other, func() error {
				if !slices.Contains(ParticipantNames(c), other) {
					return fmt.Errorf("%s sees %v", name, ParticipantNames(c))
				}
				return receivingFrom(c, id)
			})
		}
	}
	// And it keeps flowing: packets of every track rise, one second later.
	for _, name := range names {
		c := clients[name]
		for _, other := range names {
			if other == name {
				continue
			}
			id := clients[other].ID()
			for _, src := range []string{signal.SourceMic, signal.SourceCamera} {
				Eventually(t, 5*time.Second, fmt.Sprintf("%s's %s packets from %s rise", name, src, other), rising(packetsFrom(c, id, src)))
			}
		}
	}
	for _, name := range names {
		for _, tr := range clients[name].Tracks() {
			if tr.Kind == client.KindVideo && (tr.Width != 640 || tr.Height != 360) {
				t.Errorf("%s receives video %dx%d from %s, want the published 640x360", name, tr.Width, tr.Height, tr.Participant)
			}
		}
	}

	// Chat from one arrives at the others, with the sender's name, and is echoed to the sender.
	const text = "Good morning, both of you"
	if err := clients["Alice"].SendChat(text); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		c := clients[name]
		Eventually(t, 5*time.Second, name+" gets Alice's chat", func() error {
			if !HasChat(c, "Alice", text) {
				return fmt.Errorf("chat is %+v", c.Chat())
			}
			return nil
		})
	}

	// Carol leaves: the others see her go and her tracks disappear or stop.
	carol := clients["Carol"].ID()
	if err := clients["Carol"].Close(); err != nil {
		t.Fatalf("Carol leaves: %v", err)
	}
	for _, name := range []string{"Alice", "Bob"} {
		c := clients[name]
		Eventually(t, 10*time.Second, name+" sees Carol leave", func() error {
			if slices.Contains(ParticipantNames(c), "Carol") {
				return fmt.Errorf("%s still sees %v", name, ParticipantNames(c))
			}
			return nil
		})
		Eventually(t, 10*time.Second, name+" stops receiving Carol", tracksGoneOrStill(c, carol))
	}
	// Alice and Bob still hear and see each other.
	Eventually(t, 5*time.Second, "Alice still receives Bob", rising(packetsFrom(clients["Alice"], clients["Bob"].ID(), signal.SourceCamera)))
	Eventually(t, 5*time.Second, "Bob still receives Alice", rising(packetsFrom(clients["Bob"], clients["Alice"].ID(), signal.SourceMic)))
}

// tracksGoneOrStill returns a condition that holds once c has no track of participant, or
// none of them has received a packet for a second.
func tracksGoneOrStill(c *client.Client, participant string) func() error {
	return func() error {
		for _, tr := range c.Tracks() {
			if tr.Participant != participant {
				continue
			}
			if since := time.Since(tr.LastPacket); since < time.Second {
				return fmt.Errorf("%s track %s got a packet %v ago", tr.Source, tr.ID, since.Round(time.Millisecond))
			}
		}
		return nil
	}
}
