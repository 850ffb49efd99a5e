// Package web holds Parley's web client, embedded into the node binary.
//
// The client is plain HTML, CSS and JavaScript modules under static/: no framework, no build
// step and nothing fetched from elsewhere at run time. The node serves static/index.html at
// /r/<roomID> and the whole static folder under /static/; the client then speaks the signalling
// protocol of package parley/media/signal over the WebSocket at /ws/<roomID>, with two peer
// connections to its home node ("pub" for what it sends, "sub" for what it receives).
//
// Its DOM is a test contract that browser end-to-end tests depend on:
//
//	[data-testid=join]                    prejoin screen's join button (name prefilled from ?name=)
//	video[data-participant-name="NAME"]   a remote participant's camera
//	video[data-screen-of="NAME"]          a remote participant's screen share
//	[data-testid=mic|camera|screen|hand|leave]  meeting controls
//	[data-testid=chat-input]              chat input, Enter sends
//	[data-testid=chat-log]                chat log, one element per message, text "NAME: message"
//
// This package must not know about rooms, stores or the SFU: it is files only.
package web

import "embed"

// Static is the web client: static/index.html and its assets, served by the node.
//
//go:embed static
var Static embed.FS
