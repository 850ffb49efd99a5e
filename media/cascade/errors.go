package cascade

import (
	"errors"
	"fmt"

	"github.com/quic-go/quic-go"
)

// Errors a caller may test with errors.Is.
var (
	// ErrClosed: the endpoint, link or subscription was closed.
	ErrClosed = errors.New("cascade: closed")
	// ErrRoomNotShared: the peer refused a subscribe because, by its Authorizer, this node
	// takes no part in the room.
	ErrRoomNotShared = errors.New("cascade: room not shared with this node")
	// ErrNoTrack: the peer has no such track in the room (or no TrackSource).
	ErrNoTrack = errors.New("cascade: no such track")
	// ErrTrackEnded: the publisher's node ended the subscription (track unpublished).
	ErrTrackEnded = errors.New("cascade: track ended")
	// ErrLimit: the link carries as many subscriptions as the peer allows.
	ErrLimit = errors.New("cascade: too many subscriptions on the link")
	// ErrDuplicate: the track is already subscribed on this link.
	ErrDuplicate = errors.New("cascade: track already subscribed on this link")
	// ErrVersion: the peer speaks another wire version.
	ErrVersion = errors.New("cascade: wire version mismatch")
	// ErrNotAuthorized: the Authorizer does not admit the peer node.
	ErrNotAuthorized = errors.New("cascade: node not authorized")
)

// Application error codes a link closes its QUIC connection with; the peer sees them, with a
// reason, as a *quic.ApplicationError.
const (
	CodeClosed       quic.ApplicationErrorCode = 0x0 // the node closed the link
	CodeVersion      quic.ApplicationErrorCode = 0x1 // the hello named an unsupported version
	CodeProtocol     quic.ApplicationErrorCode = 0x2 // a malformed or unexpected control frame
	CodeReplaced     quic.ApplicationErrorCode = 0x3 // a newer connection took this one's place
	CodeUnresponsive quic.ApplicationErrorCode = 0x4 // nothing heard from the peer for too long
	CodeOverload     quic.ApplicationErrorCode = 0x5 // the peer does not read its control stream
)

// closeError describes how the peer closed a connection, for logs and LinkStats.LastError.
func closeError(err error) error {
	var app *quic.ApplicationError
	if errors.As(err, &app) && app.Remote {
		switch app.ErrorCode {
		case CodeVersion:
			return fmt.Errorf("%w: peer closed: %s", ErrVersion, app.ErrorMessage)
		}
	}
	return err
}
