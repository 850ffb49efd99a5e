// Package media is Parley's selective forwarding unit: it terminates participants' WebRTC
// peer connections, forwards each published track to the room's other participants, picks a
// simulcast layer per subscriber, and repairs loss (NACK from a packet cache, PLI/FIR relayed
// to the publisher). It also holds a headless Go client (media/client) used by tests and bots.
//
// media never imports mesh or federation and never binds sockets itself: the node hands it a
// UDP conn (and optionally a TCP listener) and a send function per participant.
package media

import (
	"errors"
	"log/slog"
	"net"

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
}

// Stats are the SFU's counters, read by the node's /metrics.
type Stats struct {
	Participants     int
	Tracks           int    // published tracks (a simulcast camera counts once)
	ForwardedPackets uint64 // RTP packets written to subscribers
	ForwardedBytes   uint64 // RTP payload+header bytes written to subscribers
	NACKsAnswered    uint64 // packets retransmitted from the cache
	KeyframeRequests uint64 // PLI/FIR sent to publishers
}

// SendFunc delivers a signalling message to a participant's client. The SFU calls it from its
// own goroutines; it must not block and must not call back into the SFU.
type SendFunc func(*signal.Message)
