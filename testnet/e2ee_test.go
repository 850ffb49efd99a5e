package testnet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"parley/identity"
	"parley/media/client"
	"parley/media/signal"
	"parley/node"
)

// moderatorToken is the mod parameter of a room's moderator link.
func moderatorToken(t *testing.T, n *TestNode, roomID string) string {
	t.Helper()
	u, err := url.Parse(n.Node.ModeratorURL(roomID))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("mod")
}

// TestForwardedMediaHoldsNoPlaintext captures, at a subscriber, every payload the SFU
// forwarded and checks that none of what the publisher encoded appears in it beyond the clear
// codec header bytes, while the subscriber decrypts every frame back to exactly what was
// encoded.
func TestForwardedMediaHoldsNoPlaintext(t *testing.T) {
	n := StartNode(t, "e2ee")
	room := n.CreateRoom("Private")

	var mu sync.Mutex
	sent := map[string]bool{}    // plaintext frames Alice encoded
	var forwarded [][]byte       // RTP payloads the SFU forwarded to Bob
	var decrypted, unmatched int // Bob's decrypted frames, and those not among Alice's
	alice := n.JoinWith(t, client.Config{Room: room.ID, Name: "Alice",
		Publish: client.Publish{Audio: true, Video: true},
		OnFrameSent: func(e client.FrameEvent) {
			mu.Lock()
			sent[string(e.Frame)] = true
			mu.Unlock()
		}})
	bob := n.JoinWith(t, client.Config{Room: room.ID, Name: "Bob",
		OnPacketReceived: func(e client.PacketEvent) {
			mu.Lock()
			forwarded = append(forwarded, bytes.Clone(e.Payload))
			mu.Unlock()
		},
		OnFrameReceived: func(e client.FrameEvent) {
			mu.Lock()
			decrypted++
			if !sent[string(e.Frame)] {
				unmatched++
			}
			mu.Unlock()
		}})
	aliceID := alice.ID()
	Eventually(t, 15*time.Second, "Bob decrypts Alice's audio and video", func() error {
		v, okv := FindTrack(bob, aliceID, signal.SourceCamera)
		a, oka := FindTrack(bob, aliceID, signal.SourceMic)
		if !okv || !oka || v.Decrypted < 30 || a.Decrypted < 50 {
			return fmt.Errorf("Bob receives %s", DescribeTracks(bob))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if unmatched != 0 {
		t.Errorf("%d of %d frames Bob decrypted are not frames Alice encoded", unmatched, decrypted)
	}
	// Look for 16-byte pieces of every frame Alice encoded, past its clear prefix, in what the
	// SFU forwarded.
	wire := bytes.Join(forwarded, nil)
	checked := 0
	for f := range sent {
		frame := []byte(f)
		codec := identity.CodecVP8
		if len(frame) < 200 { // Opus frames at 32 kbit/s are ~80 bytes; VP8 ones far larger
			codec = identity.CodecOpus
		}
		start := identity.ClearPrefix(codec, frame)
		for off := start; off+16 <= len(frame); off += max(16, (len(frame)-start)/8) {
			checked++
			if bytes.Contains(wire, frame[off:off+16]) {
				t.Fatalf("plaintext of a %d-byte frame (bytes %d..%d) found in forwarded payloads", len(frame), off, off+16)
			}
		}
	}
	t.Logf("%d frames encoded, %d decrypted by Bob, %d forwarded payloads (%d bytes) searched for %d plaintext pieces",
		len(sent), decrypted, len(forwarded), len(wire), checked)
	if checked < 100 {
		t.Fatalf("only %d plaintext pieces checked", checked)
	}
}

// keyCollector opens, with a participant's identity, every key envelope that participant
// received: what a removed participant keeps when it leaves.
type keyCollector struct {
	me   *identity.UserIdentity
	room string

	mu   sync.Mutex
	envs []identity.SignedObject
	ring *identity.KeyRing
}

func (k *keyCollector) onMessage(m *signal.Message) {
	if m.Type == signal.TypeKey && m.Envelope != nil {
		k.mu.Lock()
		k.envs = append(k.envs, *m.Envelope)
		k.mu.Unlock()
	}
}

// open opens every envelope collected, from senders whose certificates c holds.
func (k *keyCollector) open(t *testing.T, c *client.Client, trusted ed25519.PublicKey) {
	t.Helper()
	certs := map[string]*identity.CertBody{}
	for _, p := range c.Participants() {
		cert, err := identity.VerifyCertificate(*p.Cert, func(n ed25519.PublicKey) bool { return n.Equal(trusted) }, k.room, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		certs[p.ID] = cert
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, env := range k.envs {
		body, err := identity.ParseEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		kid, key, err := identity.OpenKeyEnvelope(env, certs[body.From], k.me, k.room)
		if err != nil {
			t.Fatalf("open an envelope from %s: %v", body.From, err)
		}
		if err := k.ring.Add(kid, key, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemovedParticipantCannotDecryptAfterRekey has a moderator remove Mallory, who keeps
// every key she was given; frames Alice sends after the rekey do not decrypt with them, while
// frames from before did.
func TestRemovedParticipantCannotDecryptAfterRekey(t *testing.T) {
	n := StartNode(t, "e2ee")
	room := n.CreateRoom("Removal")
	mod := moderatorToken(t, n, room.ID)

	var mu sync.Mutex
	var sealedBefore, sealedAfter [][]byte // Alice's frames as Bob received them, encrypted
	var removed bool
	alice := n.JoinWith(t, client.Config{Room: room.ID, Name: "Alice", Moderator: mod,
		Publish: client.Publish{Audio: true}})
	aliceID := alice.ID()
	bob := n.JoinWith(t, client.Config{Room: room.ID, Name: "Bob",
		OnFrameReceived: func(e client.FrameEvent) {
			if e.Participant != aliceID {
				return
			}
			mu.Lock()
			if removed {
				sealedAfter = append(sealedAfter, bytes.Clone(e.Sealed))
			} else {
				sealedBefore = append(sealedBefore, bytes.Clone(e.Sealed))
			}
			mu.Unlock()
		}})
	mallorysKeys, err := identity.GenerateUserIdentity()
	if err != nil {
		t.Fatal(err)
	}
	keys := &keyCollector{me: mallorysKeys, room: room.ID, ring: identity.NewKeyRing(time.Hour)}
	mallory := n.JoinWith(t, client.Config{Room: room.ID, Name: "Mallory", Identity: mallorysKeys,
		OnMessage: keys.onMessage})
	Eventually(t, 15*time.Second, "Mallory decrypts Alice's audio", func() error {
		if a, ok := FindTrack(mallory, aliceID, signal.SourceMic); !ok || a.Decrypted < 20 {
			return fmt.Errorf("Mallory receives %s", DescribeTracks(mallory))
		}
		return nil
	})
	keys.open(t, mallory, n.Node.PublicKey())
	kidBefore, _ := alice.SendingKID()

	malloryID := mallory.ID()
	if err := alice.Remove(malloryID); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, "Alice moves to a new key", func() error {
		if kid, _ := alice.SendingKID(); kid == kidBefore {
			return errors.New("still on the old key")
		}
		return nil
	})
	mu.Lock()
	removed = true
	mu.Unlock()
	Eventually(t, 10*time.Second, "Bob decrypts Alice's frames under the new key", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(sealedAfter) < 20 {
			return fmt.Errorf("%d frames since the rekey", len(sealedAfter))
		}
		return nil
	})
	if slices.ContainsFunc(bob.Participants(), func(p signal.Participant) bool { return p.ID == malloryID }) {
		t.Error("Bob still sees Mallory")
	}

	mallorysView := identity.NewFrameReceiver(keys.ring.Lookup)
	mu.Lock()
	defer mu.Unlock()
	opened := 0
	for _, f := range sealedBefore {
		if _, _, err := mallorysView.DecryptFrame(nil, identity.CodecOpus, f); err == nil {
			opened++
		}
	}
	if opened == 0 {
		t.Fatalf("Mallory's keys open none of %d frames from before her removal: the test proves nothing", len(sealedBefore))
	}
	after := 0
	for _, f := range sealedAfter {
		kid, _, _, _ := identity.ParseSFrameHeader(f[identity.ClearPrefix(identity.CodecOpus, f):])
		if kid == kidBefore {
			continue // a late frame under the old key, sent before Alice switched
		}
		after++
		if _, _, err := mallorysView.DecryptFrame(nil, identity.CodecOpus, f); !errors.Is(err, identity.ErrUnknownKID) {
			t.Fatalf("Mallory's keys on a frame sent after the rekey: %v, want ErrUnknownKID", err)
		}
	}
	t.Logf("Mallory's keys opened %d of %d frames before her removal and 0 of %d after", opened, len(sealedBefore), after)
	if after < 10 {
		t.Fatalf("only %d frames under the new key", after)
	}
}

// TestLobbyGetsNoKeysUntilAdmitted keeps a guest in the lobby while the participants rekey,
// then admits it: it receives no envelope before it is admitted, and afterwards decrypts.
func TestLobbyGetsNoKeysUntilAdmitted(t *testing.T) {
	n := StartNode(t, "e2ee")
	room, err := n.Node.NewRoom(node.RoomOptions{Title: "Lobby", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	mod := moderatorToken(t, n, room.ID)
	alice := n.JoinWith(t, client.Config{Room: room.ID, Name: "Alice", Moderator: mod,
		Publish: client.Publish{Audio: true}})
	aliceID := alice.ID()

	var mu sync.Mutex
	var seen []string // message types the guest got, in order
	joined := make(chan *client.Client, 1)
	go func() {
		c := n.JoinWith(t, client.Config{Room: room.ID, Name: "Guest", OnMessage: func(m *signal.Message) {
			mu.Lock()
			seen = append(seen, m.Type)
			mu.Unlock()
		}})
		joined <- c
	}()
	Eventually(t, 5*time.Second, "the guest waits in the lobby", func() error {
		if w := alice.Waiting(); len(w) != 1 || w[0].Name != "Guest" {
			return fmt.Errorf("Alice sees the lobby as %+v", w)
		}
		return nil
	})
	// Bob comes (by the moderator link) and goes: two rekeys while the guest waits.
	bob := n.JoinWith(t, client.Config{Room: room.ID, Name: "Bob", Moderator: mod, AnnounceKeys: true})
	Eventually(t, 5*time.Second, "Bob decrypts Alice", func() error {
		if a, ok := FindTrack(bob, aliceID, signal.SourceMic); !ok || a.Decrypted < 10 {
			return fmt.Errorf("Bob receives %s", DescribeTracks(bob))
		}
		return nil
	})
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	if err := alice.Admit(alice.Waiting()[0].ID); err != nil {
		t.Fatal(err)
	}
	var guest *client.Client
	select {
	case guest = <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("the guest was not admitted")
	}
	mu.Lock()
	first := slices.Index(seen, signal.TypeJoined)
	early := slices.Contains(seen[:max(first, 0)], signal.TypeKey)
	mu.Unlock()
	if first < 0 || early {
		t.Fatalf("the guest's messages were %v: want joined before any key", seen)
	}
	Eventually(t, 10*time.Second, "the admitted guest decrypts Alice", func() error {
		if a, ok := FindTrack(guest, aliceID, signal.SourceMic); !ok || a.Decrypted < 10 {
			return fmt.Errorf("the guest receives %s", DescribeTracks(guest))
		}
		return nil
	})
}
