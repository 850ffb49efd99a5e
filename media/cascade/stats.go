package cascade

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"sync/atomic"
	"time"
)

// LinkStats describes one link, for logs and the node's /metrics (one series per peer). The
// counters are cumulative over the link's life, across reconnections.
type LinkStats struct {
	Peer      ed25519.PublicKey
	PeerID    string // short printable name of the peer key, as identity.NodeKey.ID spells it
	Addr      string // the address dialed, or the peer's address on the current connection
	Dialer    bool   // this node dials the link
	Connected bool
	Connects  uint64 // connections established
	LastError string // why the last connection or dial attempt ended ("" if none has)

	RTT    time.Duration // smoothed round-trip time of the current connection
	MinRTT time.Duration

	In  DirectionStats // from the peer to this node
	Out DirectionStats // from this node to the peer

	// CapacityIn estimates, in bits/s, what the peer can send this node over the link
	// without loss or queueing. The SFU subscribes to lower layers when the bitrate of what
	// it subscribes to (TrackStats.Bitrate) would exceed it.
	CapacityIn float64

	// Discarded counts datagrams received that were malformed or named no current
	// subscription; RetransmitMisses counts NACKed packets this node no longer had.
	Discarded        uint64
	RetransmitMisses uint64

	Inbound  []TrackStats // remote tracks this node subscribes to
	Outbound []TrackStats // local tracks the peer subscribes to
}

// DirectionStats counts one direction of a link. Datagrams and bytes count media datagrams
// (RTP packet plus the 8-byte cascade header), not QUIC overhead.
type DirectionStats struct {
	Datagrams uint64
	Bytes     uint64
	// Lost datagrams: for In, measured here from link sequence gaps; for Out, as the peer
	// reports in its stats messages.
	Lost uint64
	// Loss is the fraction of datagrams lost over the last stats interval.
	Loss float64
	// Dropped datagrams were never sent: the send queue was full, the link was down, or the
	// packet did not fit the path. For In, as the peer reports.
	Dropped uint64
	// Retransmissions sent in this direction in answer to NACKs.
	Retransmits uint64
	// Requests sent against this direction: NACKed sequence numbers and keyframe requests
	// (for In, those this node sent; for Out, those it received).
	Nacks     uint64
	Keyframes uint64
}

// TrackStats describes one subscription on a link.
type TrackStats struct {
	Room, Track string
	Kind        Kind
	Layers      LayerSet // subscribed layers
	Packets     [MaxLayers]uint64
	Bytes       [MaxLayers]uint64 // RTP bytes
	// Bitrate is each layer's RTP bitrate over the last stats interval, in bits/s.
	Bitrate [MaxLayers]float64
}

// layerCounters are the per-layer counters of a subscription, written by the packet path.
type layerCounters struct {
	packets, bytes [MaxLayers]atomic.Uint64
	bitrate        [MaxLayers]atomic.Uint64 // bits/s over the last interval
	lastBytes      [MaxLayers]uint64        // owned by the stats tick
}

func (c *layerCounters) add(layer int, n int) {
	c.packets[layer].Add(1)
	c.bytes[layer].Add(uint64(n))
}

// tick computes each layer's bitrate over an interval of dt.
func (c *layerCounters) tick(dt time.Duration) {
	if dt <= 0 {
		return
	}
	for l := range MaxLayers {
		b := c.bytes[l].Load()
		c.bitrate[l].Store(uint64(float64(b-c.lastBytes[l]) * 8 / dt.Seconds()))
		c.lastBytes[l] = b
	}
}

func (c *layerCounters) fill(s *TrackStats) {
	for l := range MaxLayers {
		s.Packets[l] = c.packets[l].Load()
		s.Bytes[l] = c.bytes[l].Load()
		s.Bitrate[l] = float64(c.bitrate[l].Load())
	}
}

// linkCounters are a link's cumulative counters.
type linkCounters struct {
	connects                                    atomic.Uint64
	inDatagrams, inBytes, inLost, inDropped     atomic.Uint64
	outDatagrams, outBytes, outLost, outDropped atomic.Uint64
	inRetransmits, outRetransmits               atomic.Uint64
	nacksSent, nacksReceived                    atomic.Uint64
	keyframesSent, keyframesReceived            atomic.Uint64
	inLoss, outLoss, capacity                   atomic.Uint64 // float64 bits
	unknownDatagrams, badDatagrams, rtxMisses   atomic.Uint64
}

// nodeID is the short printable name of a node key: the first 80 bits of the SHA-256 of the
// public key in lowercase base32, the same name identity.NodeKey.ID gives.
func nodeID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:10]))
}
