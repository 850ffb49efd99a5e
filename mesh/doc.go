// Package mesh is the libp2p layer of a Parley node: one host per node, keyed by the node's
// identity key, that talks only to the nodes it has been told to trust.
//
// mesh owns the libp2p host and its transports (QUIC, and TCP with Noise and yamux), the
// resource manager and its explicit limits, the connection gater, peer discovery (the
// addresses the caller configures, and mDNS on a LAN when enabled), gossipsub topics and a
// request/response stream protocol. It imports only identity.
//
// mesh does not decide whom to trust, which topics exist, or what messages mean: federation
// tells it (Trust, AllowTopic, Handle) and reads what arrives. It never runs a DHT, never dials
// public bootstrap peers, never uses relays, NAT port mapping or hole punching, and never
// learns or advertises addresses that peers say they observed.
//
// # Admission
//
// A peer is admitted when it is trusted and not blocked. The connection gater refuses
// everything else: outbound dials before they start (InterceptPeerDial, InterceptAddrDial),
// inbound connections right after the security handshake has authenticated the remote key and
// before any protocol runs (InterceptSecured), and again once upgraded (InterceptUpgraded), so
// that a peer untrusted while its handshake was in flight is still refused. Gossip and request
// handlers check admission once more on every stream and message.
//
// # Request/response wire format
//
// One request per stream. The requester writes a frame and closes its write side; the
// responder answers with one response frame and closes. Integers are big-endian.
//
//	request:
//	+----------------------+---------------------+
//	| length (uint32)      | request (length B)  |   length <= the handler's maxRequest
//	+----------------------+---------------------+
//
//	response:
//	+--------------+----------------------+--------------------+
//	| status (u8)  | length (uint32)      | body (length B)    |
//	+--------------+----------------------+--------------------+
//	status 0: body is the response, length <= the requester's maxResponse
//	status 1: body is an error message (UTF-8), length <= 1024
//
// Anything after the frame, an unknown status, or a length over the bound is an error; the
// reader never allocates more than the bound.
//
// # Gossip
//
// Gossipsub runs under its own protocol ID (/parley/gossipsub/1.2.0) so that it never meets a
// public libp2p network. Messages are signed by their author's node key and unsigned ones are
// dropped (strict signing); messages whose author is not trusted here are dropped too, even
// when a trusted peer relays them. Payloads are capped (Config.MaxMessageSize) on publish and
// on receipt. The author publishes straight to every subscribed peer (flood publishing), so in
// a fully federated set delivery is one hop. Messages are validated concurrently: Next does
// not return them in publication order. See score.go for peer scoring, pubsub.go for the
// subscription filter, gossipwatch.go for how mesh repairs gossip state gossipsub loses.
package mesh
