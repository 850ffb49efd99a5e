// Package media is Parley's selective forwarding unit: it terminates participants' WebRTC
// peer connections, forwards each published track to the room's other participants, picks a
// simulcast layer per subscriber, and repairs loss (NACK from a packet cache, PLI/FIR relayed
// to the publisher). It also holds a headless Go client (media/client) used by tests and bots.
//
// media never imports mesh or federation and never binds sockets itself: the node hands it a
// UDP conn (and optionally a TCP listener) and a send function per participant.
//
// # Meetings across nodes
//
// A room may span nodes: each participant connects only to its own node, and the nodes' SFUs
// carry the media between them over the cascade (package media/cascade, whose Endpoint the
// node runs). The SFU is the cascade's TrackSource: another node subscribing to a local track
// becomes one more subscriber of it, sent the packets untouched (export.go). Downstream, the
// node tells the SFU which tracks other nodes' participants publish (SetRemoteTracks); the SFU
// subscribes once per track and fans it out to its own participants as if a local participant
// had published it, choosing the simulcast layer that crosses the link (remote.go). The node
// decides which nodes share which rooms; media only follows what it is told.
//
// # How a packet travels
//
// Each received RTP stream (one per simulcast layer) has one goroutine (upLayer.run) that
// reads a packet, parses it in place, stores video in the layer's packetCache, and hands it
// to every subscriber's downTrack from a copy-on-write slice. A downTrack decides, under its
// own short lock, whether the packet is for it (munger: the simulcast layer it forwards,
// switching only on keyframes) and with which sequence number, timestamp and VP8 picture
// id; it then writes outside the lock. Nothing on that path allocates.
//
// Each subscriber's RTCP is read by one goroutine per downTrack: NACKs are answered from the
// cache (a seqRing maps the subscriber's sequence numbers back to cached packets), PLI and
// FIR become rate-limited keyframe requests that the track's RTCP goroutine sends to the
// publisher. Sender reports go out once a second per subscriber connection.
//
// # Negotiation
//
// A participant's "pub" connection answers the client's offers; a track appears in the room
// when its first packet arrives and disappears when an offer stops sending it. The "sub"
// connection is offered by the SFU: one goroutine per participant (negotiationLoop) brings
// it up to date with the room, one offer at a time, holding changes back while an offer is
// outstanding or the connection is still being established.
package media

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// ErrBadSDP is wrapped by Participant.Handle errors caused by an SDP or ICE candidate the
// client sent; the node answers them with signal.CodeBadSDP.
var ErrBadSDP = errors.New("bad sdp")

// ErrClosed is returned by calls on a closed SFU or participant.
var ErrClosed = errors.New("media: closed")

// Config configures an SFU. Zero values mean the documented defaults.
type Config struct {
	// UDP carries every participant's ICE and media (one port for all). Required.
	UDP net.PacketConn
	// TCP, if set, accepts ICE-TCP from clients that cannot use UDP.
	TCP net.Listener
	// PublicIPs, if set, are advertised as host candidates instead of the local addresses
	// (a 1:1 NAT in front of the node).
	PublicIPs []string
	// Logger receives the SFU's logs. Default: discard.
	Logger *slog.Logger
	// TracksChanged, if set, is called when the tracks local participants publish in a room
	// change (see PublishedTracks), so that the node can tell the other nodes. It is called
	// from the SFU's goroutines: it must not block and must not call back into the SFU.
	TracksChanged func(room string)
}

// Stats are the SFU's counters, read by the node's /metrics.
type Stats struct {
	Participants     int
	Tracks           int    // published tracks (a simulcast camera counts once)
	RemoteTracks     int    // tracks of other nodes' participants forwarded here over the cascade
	ForwardedPackets uint64 // RTP packets written to subscribers
	ForwardedBytes   uint64 // RTP payload+header bytes written to subscribers
	NACKsAnswered    uint64 // packets retransmitted from the cache
	KeyframeRequests uint64 // PLI/FIR sent to publishers
}

// SendFunc delivers a signalling message to a participant's client. The SFU calls it from its
// own goroutines; it must not block and must not call back into the SFU.
type SendFunc func(*signal.Message)

// SFU is a selective forwarding unit: rooms of participants whose published tracks it
// forwards to each other. It is safe for concurrent use.
type SFU struct {
	cfg    Config
	log    *slog.Logger
	api    *webrtc.API
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
	epoch  time.Time

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool

	wg       sync.WaitGroup // room goroutines
	trackSeq atomic.Uint64

	// remote is what the node said other nodes publish: room -> peer node key -> tracks.
	remoteMu sync.Mutex
	remote   map[string]map[string]remoteNode

	participants     atomic.Int64
	tracks           atomic.Int64
	remoteTracks     atomic.Int64
	forwardedPackets atomic.Uint64
	forwardedBytes   atomic.Uint64
	nacksAnswered    atomic.Uint64
	keyframeRequests atomic.Uint64
}

// New starts an SFU on cfg.UDP (and cfg.TCP, if set). The SFU takes ownership of both: Close
// closes them.
func New(cfg Config) (*SFU, error) {
	if cfg.UDP == nil {
		return nil, errors.New("media: Config.UDP is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &SFU{cfg: cfg, log: log, epoch: time.Now(), rooms: map[string]*room{},
		remote: map[string]map[string]remoteNode{}}
	api, udpMux, tcpMux, err := newAPI(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("media: build webrtc api: %w", err)
	}
	s.api, s.udpMux, s.tcpMux = api, udpMux, tcpMux
	return s, nil
}

// now is the SFU's monotonic clock in nanoseconds; never 0 once running.
func (s *SFU) now() int64 { return int64(time.Since(s.epoch)) + 1 }

// Join adds a participant to a room (created on first join). send receives every message
// the SFU has for the participant's client. The participant stays until Close.
func (s *SFU) Join(roomID, participantID string, send SendFunc) (*Participant, error) {
	if roomID == "" || participantID == "" || send == nil {
		return nil, errors.New("media: join needs a room id, a participant id and a send function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r := s.rooms[roomID]
	if r == nil {
		r = newRoom(s, roomID)
		s.rooms[roomID] = r
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			r.speakersLoop()
		}()
		go func() {
			defer s.wg.Done()
			r.remoteLoop()
		}()
	}
	p := newParticipant(s, r, participantID, send)
	if err := r.add(p); err != nil {
		return nil, err
	}
	s.participants.Add(1)
	p.start()
	return p, nil
}

// roomEmpty removes r if nobody is left in it.
func (s *SFU) roomEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.empty() && s.rooms[r.id] == r {
		delete(s.rooms, r.id)
		r.stop()
	}
}

// Stats returns the SFU's counters.
func (s *SFU) Stats() Stats {
	return Stats{
		Participants:     int(s.participants.Load()),
		Tracks:           int(s.tracks.Load()),
		RemoteTracks:     int(s.remoteTracks.Load()),
		ForwardedPackets: s.forwardedPackets.Load(),
		ForwardedBytes:   s.forwardedBytes.Load(),
		NACKsAnswered:    s.nacksAnswered.Load(),
		KeyframeRequests: s.keyframeRequests.Load(),
	}
}

// Close closes every participant, stops every goroutine of the SFU, waits for them, and
// closes the UDP conn and TCP listener.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var ps []*Participant
	for _, r := range s.rooms {
		ps = append(ps, r.list()...)
	}
	s.mu.Unlock()
	for _, p := range ps {
		_ = p.Close()
	}
	s.mu.Lock()
	for id, r := range s.rooms {
		r.stop()
		delete(s.rooms, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
	err := s.udpMux.Close()
	if s.tcpMux != nil {
		if e := s.tcpMux.Close(); err == nil {
			err = e
		}
	}
	return err
}

// tracksChanged tells the node that the local tracks of room changed.
func (s *SFU) tracksChanged(room string) {
	if f := s.cfg.TracksChanged; f != nil {
		f(room)
	}
}

// room returns the room with this id, if it has participants.
func (s *SFU) room(id string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
