// Package web holds Parley's web client, embedded into the node binary.
//
// The client is plain HTML, CSS and JavaScript modules under static/: no framework, no build
// step and nothing fetched from elsewhere at run time. The node serves static/index.html at
// /r/<roomID> and the whole static folder under /static/; the client then speaks the signalling
// protocol of package parley/media/signal over the WebSocket at /ws/<roomID>, with two peer
// connections to its home node ("pub" for what it sends, "sub" for what it receives).
//
// Media and chat are end-to-end encrypted in the client (package parley/identity has the
// formats; static/e2ee holds their JavaScript implementation, static/vendor the age library).
// A browser that cannot transform encoded frames, or cannot make the keys, is refused at the
// prejoin screen: the client never sends clear media.
//
// Its DOM is a test contract that browser end-to-end tests depend on:
//
//	[data-testid=join]                    prejoin screen's join button (name prefilled from ?name=;
//	                                      ?mod=TOKEN joins as moderator and is removed from the address)
//	video[data-participant-name="NAME"]   a remote participant's camera
//	video[data-screen-of="NAME"]          a remote participant's screen share
//	[data-testid=mic|camera|screen|hand|leave]  meeting controls
//	[data-testid=chat]                    opens the chat panel
//	[data-testid=chat-input]              chat input, Enter sends
//	[data-testid=chat-log]                chat log, one element per message, text "NAME: message"
//	                                      ("NAME: 🔒 sent before you joined" for one it cannot read)
//	[data-testid=e2ee-status]             encryption status: data-state is "encrypted" once every
//	                                      remote participant's frames decrypt, else "waiting",
//	                                      "not-decrypting" or "not-verified", in every language; in
//	                                      English the text is exactly "encrypted", "waiting for
//	                                      keys", "not decrypting: NAME…" or "not verified: NAME…"
//	[data-testid=undecryptable]           on a remote tile: "Cannot decrypt NAME's media"
//	[data-testid=safety-code]             People panel: the safety code shown for a participant
//	#lobby                                the screen while waiting: "Waiting for a moderator to let you in"
//	#left                                 the screen after the meeting, e.g. "A moderator removed you
//	                                      from the meeting", "A moderator did not let you in"
//	[data-testid=lobby-admit|lobby-deny]  moderators, People panel: one per waiting person, data-id
//	                                      is the person's participant id, the name beside it
//	[data-testid=remove]                  moderators, People panel: one per participant, data-id
//
// Every visible string is in static/i18n (English and French); the selectors above do not
// depend on the language shown, and the texts quoted are the English ones.
//
// This package must not know about rooms, stores or the SFU: it is files only.
package web

import "embed"

// Static is the web client: static/index.html and its assets, served by the node.
//
//go:embed static
var Static embed.FS
