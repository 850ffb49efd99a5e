package testnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"parley/media/cascade"
	"parley/media/client"
	"parley/media/signal"
)

// Meetings across nodes: the nodes' SFUs carry the media between them over the cascade.

// sentCounter counts the RTP packets a client publishes.
type sentCounter struct{ packets atomic.Uint64 }

func (s *sentCounter) hook(client.PacketEvent) { s.packets.Add(1) }

// linkTo returns node n's cascade link with the node holding peer's key.
func linkTo(n *TestNode, peer *TestNode) (cascade.LinkStats, bool) {
	for _, st := range n.Node.CascadeStats() {
		if st.Peer.Equal(peer.Node.PublicKey()) {
			return st, true
		}
	}
	return cascade.LinkStats{}, false
}

// outPackets sums the packets of every subscription a link sends.
func outPackets(st cascade.LinkStats) (packets, datagramBytes uint64) {
	for _, ts := range st.Outbound {
		for l := range cascade.MaxLayers {
			packets += ts.Packets[l]
			datagramBytes += ts.Bytes[l] + 8*ts.Packets[l]
		}
	}
	return packets, datagramBytes
}

// TestMeetingAcrossThreeNodes: three nodes with three Go participants each, in one room. Everyone
// receives everyone's audio and video; each node pair's link carries one copy of each
// subscribed (track, layer), which the far node fans out to its three participants.
func TestMeetingAcrossThreeNodes(t *testing.T) {
	const nodes, per = 3, 3
	env := NewEnv(t, nodes)
	room := env.CreateRoom(0, "Across three nodes")
	type member struct {
		node int
		c    *client.Client
		sent *sentCounter
	}
	var members []member
	for i := range nodes {
		for k := range per {
			sc := &sentCounter{}
			c := env.Nodes[i].JoinWith(t, client.Config{Room: room.ID, Name: fmt.Sprintf("N%d-P%d", i+1, k+1),
				Publish: client.Publish{Audio: true, Video: true}, OnPacketSent: sc.hook})
			members = append(members, member{i, c, sc})
		}
	}
	start := time.Now()
	err := Poll(mediaTimeout, func() error {
		var missing []error
		for _, rx := range members {
			for _, tx := range members {
				if rx.c != tx.c {
					if err := receivingFrom(rx.c, tx.c.ID()); err != nil {
						missing = append(missing, fmt.Errorf("N%d %s from N%d %s: %w", rx.node+1, rx.c.ID(), tx.node+1, tx.c.ID(), err))
					}
				}
			}
		}
		return errors.Join(missing...)
	})
	if err != nil {
		for _, n := range env.Nodes {
			for _, st := range n.Node.CascadeStats() {
				t.Logf("%s: link to %x connected=%v out=%d in=%d tracks", n.Name, st.Peer[:4], st.Connected, len(st.Outbound), len(st.Inbound))
			}
		}
		t.Fatalf("not everyone receives everyone after %v:\n%v", mediaTimeout, err)
	}
	t.Logf("all %d participants receive the %d others' audio and video %v after the last joined", len(members), len(members)-1,
		time.Since(start).Round(time.Millisecond))

	// Every link carries each of the far node's six tracks once, on one layer.
	for i, a := range env.Nodes {
		for j, b := range env.Nodes {
			if i == j {
				continue
			}
			st, ok := linkTo(a, b)
			if !ok || !st.Connected {
				t.Fatalf("%s has no connected link to %s", a.Name, b.Name)
			}
			if len(st.Outbound) != 2*per || len(st.Inbound) != 2*per {
				t.Errorf("%s→%s: %d tracks out, %d in; want %d each way", a.Name, b.Name, len(st.Outbound), len(st.Inbound), 2*per)
			}
			for _, ts := range st.Outbound {
				if ts.Layers != cascade.Layers(0) {
					t.Errorf("%s→%s: track %s on layers %s, want 0", a.Name, b.Name, ts.Track, ts.Layers)
				}
			}
		}
	}

	// Over a window, each link carries what the near node's participants sent, once; the far
	// node forwards each packet to its three participants.
	type snap struct {
		sent     [nodes]uint64
		crossed  [nodes][nodes]uint64
		received [nodes][nodes]uint64 // by receiving node, from sending node: packets at the participants
	}
	take := func() (s snap) {
		for _, m := range members {
			s.sent[m.node] += m.sent.packets.Load()
		}
		for i, a := range env.Nodes {
			for j, b := range env.Nodes {
				if st, ok := linkTo(a, b); ok {
					s.crossed[i][j], _ = outPackets(st)
				}
			}
		}
		for _, rx := range members {
			for _, tx := range members {
				if rx.node == tx.node {
					continue
				}
				for _, src := range []string{signal.SourceMic, signal.SourceCamera} {
					tr, _ := FindTrack(rx.c, tx.c.ID(), src)
					s.received[rx.node][tx.node] += tr.Packets
				}
			}
		}
		return s
	}
	s0 := take()
	time.Sleep(3 * time.Second)
	s1 := take()
	for i, a := range env.Nodes {
		sent := s1.sent[i] - s0.sent[i]
		for j, b := range env.Nodes {
			if i == j {
				continue
			}
			crossed := s1.crossed[i][j] - s0.crossed[i][j]
			received := s1.received[j][i] - s0.received[j][i]
			t.Logf("%s→%s in 3 s: %s's participants sent %d packets, %d crossed, %s's participants received %d (%.2f copies per crossed packet)",
				a.Name, b.Name, a.Name, sent, crossed, b.Name, received, float64(received)/float64(max(crossed, 1)))
			if float64(crossed) > 1.05*float64(sent)+30 || float64(crossed) < 0.95*float64(sent)-30 {
				t.Errorf("%s→%s: %d packets crossed for %d sent, want one copy each", a.Name, b.Name, crossed, sent)
			}
			if float64(received) < float64(per)*0.9*float64(crossed) {
				t.Errorf("%s→%s: %d packets received by %d participants for %d crossed", a.Name, b.Name, received, per, crossed)
			}
		}
	}
	// The link's byte counter is the subscriptions' datagrams (one per packet of a
	// subscribed (track, layer)) and the retransmissions, nothing else.
	for i, a := range env.Nodes {
		for j, b := range env.Nodes {
			if i == j {
				continue
			}
			st, _ := linkTo(a, b)
			_, dgBytes := outPackets(st)
			if st.Out.Retransmits == 0 && (st.Out.Bytes > dgBytes || float64(st.Out.Bytes) < 0.99*float64(dgBytes)-3000) {
				t.Errorf("%s→%s: link sent %d bytes, its subscriptions %d", a.Name, b.Name, st.Out.Bytes, dgBytes)
			}
		}
	}
}

// lossyPair is two nodes whose cascade link goes through a UDPProxy, one Go participant
// publishing audio and video on each.
type lossyPair struct {
	env    *Env
	proxy  *UDPProxy
	ca, cb *client.Client
}

func newLossyPair(t *testing.T, cfg UDPProxyConfig) *lossyPair {
	t.Helper()
	env := NewEnv(t, 2)
	dialer, acceptor := 0, 1
	if bytes.Compare(env.Nodes[0].Node.PublicKey(), env.Nodes[1].Node.PublicKey()) > 0 {
		dialer, acceptor = 1, 0
	}
	target := env.Nodes[acceptor].Node.CascadeAddr().(*net.UDPAddr)
	proxy := NewUDPProxy(t, target, cfg)
	if err := env.Nodes[dialer].Node.RouteCascade(env.PeerID(acceptor).String(), proxy.Addr()); err != nil {
		t.Fatal(err)
	}
	room := env.CreateRoom(0, "Over a lossy link")
	av := client.Publish{Audio: true, Video: true}
	p := &lossyPair{env: env, proxy: proxy,
		ca: env.Nodes[0].Join(t, room.ID, "Ada", av), cb: env.Nodes[1].Join(t, room.ID, "Bo", av)}
	for _, c := range [][2]*client.Client{{p.ca, p.cb}, {p.cb, p.ca}} {
		Eventually(t, mediaTimeout, "media across the lossy link", func() error { return receivingFrom(c[0], c[1].ID()) })
	}
	return p
}

// decodedFrom reads the video frames c decrypted from participant's camera, and the audio
// packets it received from their microphone.
func decodedFrom(c *client.Client, participant string) (video, audio uint64) {
	v, _ := FindTrack(c, participant, signal.SourceCamera)
	a, _ := FindTrack(c, participant, signal.SourceMic)
	return v.Decrypted, a.Packets
}

// TestMeetingOverLossyCascade: with 5% loss and 30 ms delay on the cascade link, video keeps
// decoding at the far side (frames put together and decrypted keep rising); after the link is
// cut for 3 s, media resumes within 2 s of its restoration.
func TestMeetingOverLossyCascade(t *testing.T) {
	p := newLossyPair(t, UDPProxyConfig{Loss: 0.05, Delay: 30 * time.Millisecond, Seed: 5})
	pairs := [][2]*client.Client{{p.ca, p.cb}, {p.cb, p.ca}}
	var before [2]uint64
	for k, c := range pairs {
		before[k], _ = decodedFrom(c[0], c[1].ID())
	}
	for s := range 4 {
		time.Sleep(time.Second)
		for k, c := range pairs {
			v, _ := decodedFrom(c[0], c[1].ID())
			if v < before[k]+5 {
				t.Errorf("second %d: %s decoded %d video frames from the other side, want 5 or more", s+1, c[0].ID(), v-before[k])
			}
			before[k] = v
		}
	}
	for _, n := range p.env.Nodes {
		for _, st := range n.Node.CascadeStats() {
			t.Logf("%s: rtt %v, in loss %.3f, lost %d, nacks sent %d, retransmits in %d, keyframe requests %d",
				n.Name, st.RTT.Round(time.Millisecond), st.In.Loss, st.In.Lost, st.In.Nacks, st.In.Retransmits, st.In.Keyframes)
			if st.In.Lost == 0 || st.In.Retransmits == 0 {
				t.Errorf("%s: no loss measured or repaired on the lossy link: %+v", n.Name, st.In)
			}
		}
	}

	p.proxy.Cut()
	time.Sleep(3 * time.Second) // the outage itself
	var atRestore [2][2]uint64
	for k, c := range pairs {
		atRestore[k][0], atRestore[k][1] = decodedFrom(c[0], c[1].ID())
	}
	p.proxy.Restore()
	restored := time.Now()
	Eventually(t, 10*time.Second, "media resumes after the cut", func() error {
		for k, c := range pairs {
			v, a := decodedFrom(c[0], c[1].ID())
			if v < atRestore[k][0]+3 || a < atRestore[k][1]+10 {
				return fmt.Errorf("%s: %d video frames and %d audio packets since the restore", c[0].ID(), v-atRestore[k][0], a-atRestore[k][1])
			}
		}
		return nil
	})
	resumed := time.Since(restored)
	t.Logf("media resumed %v after the link was restored", resumed.Round(time.Millisecond))
	if resumed > 2*time.Second {
		t.Errorf("media resumed %v after the restore, want within 2 s", resumed)
	}
}
