package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parley/federation"
	"parley/media/transcribe/agent"
)

// A meeting's transcript, as the transcriber seals it for the moderators (see package
// media/transcribe/agent): an age file only they can open. The node keeps the latest for each
// room (key "transcript/<room>", with the time it was sealed), hands it to a moderator who
// asks, and erases it with the room.

var transcriptPrefix = []byte("transcript/")

// transcriptEvery is how often a running transcriber's transcript is sealed again.
const transcriptEvery = 30 * time.Second

// maxTranscript bounds a sealed transcript: some 30 hours of speech.
const maxTranscript = 16 << 20

func (s *store) putTranscript(room string, sealed []byte, at time.Time) error {
	v := strconv.AppendInt(nil, at.UnixMilli(), 10)
	v = append(append(v, '\n'), sealed...)
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(append(transcriptPrefix, room...), v) })
}

// transcript returns room's sealed transcript and when it was sealed.
func (s *store) transcript(room string) ([]byte, time.Time, error) {
	var sealed []byte
	var at time.Time
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(append(transcriptPrefix, room...))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		for i, c := range v {
			if c == '\n' {
				ms, err := strconv.ParseInt(string(v[:i]), 10, 64)
				if err != nil {
					return fmt.Errorf("stored transcript of room %s: %w", room, err)
				}
				sealed, at = v[i+1:], time.UnixMilli(ms)
				return nil
			}
		}
		return fmt.Errorf("stored transcript of room %s has no time", room)
	})
	return sealed, at, err
}

func (s *store) dropTranscript(room string) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(append(transcriptPrefix, room...)) })
}

// keepTranscript seals a's transcript and stores it, if it has lines and someone to seal
// them to.
func (n *Node) keepTranscript(room string, a *agent.Agent) {
	sealed, lines, err := a.SealTranscript()
	switch {
	case lines == 0:
		return
	case errors.Is(err, agent.ErrNoModerator):
		n.log.Warn("transcript not kept: no moderator with a verified certificate is in the meeting", "room", room, "lines", lines)
		return
	case err != nil:
		n.log.Error("seal the transcript", "room", room, "err", err)
		return
	case len(sealed) > maxTranscript:
		n.log.Error("transcript over the size kept", "room", room, "bytes", len(sealed))
		return
	}
	if err := n.store.putTranscript(room, sealed, time.Now()); err != nil {
		n.log.Error("store the transcript", "room", room, "err", err)
	}
}

// keepTranscripts seals a's transcript every transcriptEvery until ctx ends.
func (n *Node) keepTranscripts(ctx context.Context, room string, a *agent.Agent) {
	tick := time.NewTicker(transcriptEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.Done():
			return
		case <-tick.C:
			n.keepTranscript(room, a)
		}
	}
}

// serveTranscript hands a room's sealed transcript to a moderator: one holding the room's
// moderator token (?mod=), or signed in as its owner or one of its co-hosts. The node cannot
// open it; the moderator's browser does.
func (n *Node) serveTranscript(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	room, ok := n.fed.fed.Lookup(id)
	if ok && room.Deleted {
		_ = n.store.dropTranscript(id) // the owner deleted the room on its node: its transcript goes too
	}
	if !ok || room.Deleted {
		apiError(w, http.StatusNotFound, apiNotFound, "no such room")
		return
	}
	allowed := n.isModerator(id, r.URL.Query().Get("mod")) || n.isOwner(r, id)
	if u, ok := n.signedIn(r); ok && room.IsCohost(federation.IdentityKey(u.Issuer, u.Subject)) {
		allowed = true
	}
	if !allowed {
		apiError(w, http.StatusForbidden, apiNotAllowed, "only the meeting's moderators get its transcript")
		return
	}
	sealed, at, err := n.store.transcript(id)
	if errors.Is(err, badger.ErrKeyNotFound) {
		apiError(w, http.StatusNotFound, apiNoTranscript, "this meeting has no transcript")
		return
	}
	if err != nil {
		n.log.Error("read a transcript", "room", id, "err", err)
		apiError(w, http.StatusInternalServerError, apiStorage, "the node could not read the transcript")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Parley-Sealed-At", at.UTC().Format(time.RFC3339))
	_, _ = w.Write(sealed)
}
