// Package federation decides who trusts whom among Parley nodes and replicates what rooms
// need across them: federation membership (invites, removal), signed node records, the room
// directory, per-room state (each node's participants) and each room's chat/event log.
//
// It owns:
//   - membership: a persisted set of federated peers, one-time invites redeemed over the
//     inviter's HTTPS API (JoinHandler, Join), AddPeer and Remove;
//   - signed records (wire.go): node records, room records, state records and log entries,
//     each signed by the one node allowed to write it, gossiped on the mesh and stored as
//     received in the node's badger database (store.go);
//   - merging: per (room, node) the state record with the greatest version wins; log entries
//     are keyed by (node, seq) and shown in (time, node, seq) order, identical on every node;
//   - casts (cast.go): signed room messages that are not kept, for what is worthless seconds
//     later (live captions), refused when further than CastFresh from the receiver's clock;
//   - anti-entropy: catch-up over a request/response protocol when a peer connects and
//     periodically while the node takes part in a room (sync.go), so that nodes separated
//     by a partition converge with no coordinator, losing and duplicating nothing.
//
// Every inbound message is size-bounded, strictly decoded, signature-checked, checked for
// membership and for replay before it changes anything, and refusals are counted by Reason
// (apply.go, stats.go).
//
// federation imports only identity and mesh. It must not know about media, participants'
// connections, HTTP routing beyond its own join handler, or the node's own store layout: the
// node hands it a mesh host, a badger database and a key prefix, mounts JoinHandler, and
// reacts to Handlers. It binds no sockets and keeps no package-level mutable state.
package federation
