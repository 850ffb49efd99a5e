// Package cascade carries media between two Parley nodes' SFUs: one QUIC connection per node
// pair, RTP in QUIC datagrams, control on one QUIC stream.
//
// It owns the transport only: the TLS binding of a connection to the nodes' Ed25519 keys, the
// wire formats, subscriptions to remote tracks and the sending of local ones, loss repair on
// the link (NACK answered from a per-layer retransmission cache, keyframe requests), link
// statistics, a capacity estimate, and reconnection. It never decides which tracks a node
// needs, never fans packets out to participants, never decrypts anything (end-to-end
// encrypted frames cross it untouched: it reads only the RTP version and sequence number),
// and never binds a socket (the caller hands New a net.PacketConn). It imports no other
// Parley package than identity; it learns who may connect and which rooms a peer takes part
// in through Authorizer, and reaches the local SFU's tracks through TrackSource.
//
// # Roles
//
// An Endpoint is one node's cascade: one quic-go Transport on the node's cascade UDP socket,
// accepting and dialing. A Link is the relation with one peer node; Endpoint.Link returns it,
// creating it on first use. Of the two nodes, the one whose public key sorts lower dials
// (and redials after a break, with bounded backoff); the other accepts. Both nodes call
// Endpoint.Link for each other when they come to share a room.
//
// Over a link, each node may subscribe to the other's tracks. The subscribing node
// (downstream) calls Link.Subscribe and receives the packets through a Receiver; the
// publishing node (upstream) is asked by TrackSource.OpenTrack to write the track's packets
// to an Outbound. A subscription names a set of simulcast layers; exactly one copy of each
// subscribed (track, layer) crosses the link, however many participants the downstream node
// fans it out to.
//
// # Loss repair
//
// The downstream side watches the RTP sequence numbers of each video layer it receives and
// asks upstream for the missing ones (NACK, retried each round trip, at most three times);
// the upstream Outbound answers from its own retransmission cache, so the SFU never sees
// these requests. When a packet cannot be repaired, or a subscription (re)starts, or a layer
// is added, the downstream side asks for a keyframe, which reaches the upstream SFU as
// OutboundHandler.Keyframe.
//
// # How the SFU uses it
//
// Downstream, for each remote track some local participant needs, the SFU holds one Inbound
// (Link.Subscribe) whose Receiver plays the part of a publisher's received layers: each
// Receiver.RTP is one packet of a layer, to cache and fan out as if a local participant had
// sent it. It asks for the highest layer any local subscriber needs (Inbound.SetLayers), and
// lower ones when the sum of TrackStats.Bitrate of what it subscribes to exceeds
// Link.Capacity. A local subscriber's PLI becomes Inbound.RequestKeyframe; a NACK the SFU's
// cache cannot answer may become Inbound.Nack.
//
// Upstream, TrackSource.OpenTrack adds the Outbound to the local track as one more
// subscriber: the track's forwarding goroutine calls Outbound.WriteRTP with every packet of
// the layers in Outbound.Layers(), untouched (no munging: the downstream SFU munges for its
// own participants). OutboundHandler.Keyframe becomes a keyframe request to the publisher;
// OutboundHandler.Closed removes the subscriber; Outbound.End tells the peer a track was
// unpublished.
//
// Endpoint.Stats gives, per link, what /metrics exports (RTT, loss, bytes, datagrams,
// retransmissions, tracks and layers).
//
// # Versions
//
// The wire version is carried three times: in the TLS ALPN ("parley-cascade/1"), so nodes of
// different major versions fail the handshake with a no_application_protocol alert; in the
// hello each side sends first on the control stream, so a mismatch closes the connection with
// CodeVersion and a reason; and in the top bits of every datagram, so a packet of another
// version is dropped rather than misread. Optional additions within a version are announced
// by hello feature bits; a node sends a message type only if the peer announced it, so an
// unknown type is a protocol violation.
package cascade
