// Package meeting runs a node's live meetings: for each live room, ONE goroutine (Room.run)
// owns its meeting — this node's participants, its lobby, the participants of other nodes
// as their state records show them, and the room's policy — and nothing else touches them.
// No lock guards meeting state; a Room's mutex guards only its mailbox.
//
// Who talks to a room, and how:
//
//   - signalling sessions call Room.Join, Leave, Admit, Remove, Moderate, React, Change,
//     Allow and Key;
//     each posts a message to the mailbox and waits for the answer, so a flooding client
//     slows only its own read loop, and is refused (rate_limited) and at last sent away;
//   - the federation's events (state records changed, chat, key and event entries of the
//     room's log, nodes out of reach and back) reach the Registry, which posts to the live
//     room without waiting;
//   - the meeting answers clients through Conn, whose Send only queues: a slow client never
//     holds a meeting up, and is disconnected for its own slowness by its session.
//
// Moderation and reactions are in moderation.go: what a moderator here does to members here
// happens at once; what must reach other nodes is an Event handed to Config.Forward, and
// another node's Event is applied only if that node shows its author as a moderator.
//
// The meeting does no I/O. This node's state record of the room is built from snapshots
// that the room hands to the publisher's goroutine, which writes the latest one of each room
// at most once per Config.PublishInterval. Closing a participant's media runs on a goroutine
// of its own. Which cascade links a room wants is LinkWishes, a pure function of the room's
// records.
//
// What a participant looks like to others travels as an opaque Info blob inside the state
// record (see Info); this package alone encodes and decodes it.
//
// It must not bind sockets, read the store or import the node: the node hands it functions
// (Config).
package meeting
