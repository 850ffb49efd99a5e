package client

import (
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// pliInterval is how often the client asks for a keyframe on a video track until it gets one.
const pliInterval = 500 * time.Millisecond

// trackCounter accumulates one remote track's TrackStats.
type trackCounter struct {
	mu sync.Mutex
	s  TrackStats
}

func (t *trackCounter) snapshot() TrackStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

func (t *trackCounter) decrypted() {
	t.mu.Lock()
	t.s.Decrypted++
	t.mu.Unlock()
}

func (t *trackCounter) undecryptable(unknownKey bool) {
	t.mu.Lock()
	t.s.Undecryptable++
	if unknownKey {
		t.s.UnknownKey++
	}
	t.mu.Unlock()
}

func (t *trackCounter) kind() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.Kind
}

func (t *trackCounter) id() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.ID
}

// count records one received packet and says whether the track still lacks a keyframe.
func (t *trackCounter) count(pkt *rtp.Packet, now time.Time) (needKeyframe bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &t.s
	if s.Packets == 0 {
		s.FirstPacket = now
	}
	s.Packets++
	s.Bytes += uint64(len(pkt.Payload))
	s.LastPacket = now
	if pkt.Marker {
		s.Frames++
	}
	if s.Kind != KindVideo {
		return false
	}
	if d, err := parseVP8Descriptor(pkt.Payload); err == nil && d.frameStart {
		if key, w, h := vp8FrameInfo(pkt.Payload[d.size:]); key {
			s.Keyframes++
			if w > 0 {
				s.Width, s.Height = w, h
			}
		}
	}
	return s.Keyframes == 0
}

// setupReceive makes the sub peer connection count every track the node forwards.
func (c *Client) setupReceive() {
	pc := c.sub.pc
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		mid := ""
		for _, tr := range pc.GetTransceivers() {
			if tr.Receiver() == recv {
				mid = tr.Mid()
				break
			}
		}
		c.mu.Lock()
		info, ok := c.subTracks[mid]
		id := info.ID
		if !ok || id == "" {
			id = "mid-" + mid // the node's offer did not describe this mid
		}
		kind := info.Kind
		if kind == "" {
			kind = track.Kind().String()
		}
		tc := &trackCounter{s: TrackStats{ID: id, Participant: info.Participant, Kind: kind,
			Source: info.Source, Mid: mid}}
		c.received[id] = tc
		c.mu.Unlock()
		c.log.Debug("receiving track", "track", id, "kind", kind, "source", info.Source, "from", info.Participant)
		c.goroutine(func() { c.receive(track, tc) })
		c.goroutine(func() {
			for {
				if _, _, err := recv.ReadRTCP(); err != nil {
					return
				}
			}
		})
	})
}

// receive reads one remote track until it ends, counting packets, asking for a keyframe
// while none has arrived, and putting frames together to decrypt them.
func (c *Client) receive(track *webrtc.TrackRemote, tc *trackCounter) {
	buf := make([]byte, 1500)
	pkt := &rtp.Packet{}
	hook := c.cfg.OnPacketReceived
	fr := newFrameReader(c, tc, track.Codec().MimeType)
	var lastPLI time.Time
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		now := time.Now()
		if hook != nil {
			hook(PacketEvent{Kind: tc.s.Kind, TrackID: tc.s.ID, Payload: pkt.Payload, Time: now})
		}
		fr.push(pkt)
		if tc.count(pkt, now) && now.Sub(lastPLI) >= pliInterval {
			lastPLI = now
			err := c.sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
			if err != nil {
				c.log.Debug("send PLI", "track", tc.s.ID, "err", err)
			}
		}
	}
}

// handleSubOffer applies the node's offer on pc "sub" and answers it. The offer's tracks map
// says whose track each mid carries; tracks no longer in it stop being reported.
func (c *Client) handleSubOffer(m *signal.Message) error {
	c.mu.Lock()
	c.subTracks = make(map[string]signal.Track, len(m.Tracks))
	live := make(map[string]bool, len(m.Tracks))
	for mid, t := range m.Tracks {
		c.subTracks[mid] = t
		live[t.ID] = true
	}
	for id := range c.received {
		if !live[id] {
			delete(c.received, id)
		}
	}
	c.mu.Unlock()
	if err := c.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return err
	}
	answer, err := c.sub.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("client: answer node's sub offer: %w", err)
	}
	if err := c.sub.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("client: set sub answer: %w", err)
	}
	return c.sub.sendDescription(&signal.Message{Type: signal.TypeAnswer, PC: signal.PCSub,
		SDP: c.sub.pc.LocalDescription().SDP})
}
