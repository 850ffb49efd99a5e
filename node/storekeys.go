package node

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"parley/federation"
)

// keyKind names what a store key holds, for damage reports: the room it concerns ("" for
// none) and what of it. The federation's layout is in federation/store.go.
func keyKind(k []byte) (room, what string) {
	fed := []byte(federation.DefaultPrefix)
	switch {
	case bytes.HasPrefix(k, fed):
		rest := string(k[len(fed):])
		kind, rest, _ := strings.Cut(rest, "/")
		switch kind {
		case "log":
			room, _, _ := strings.Cut(rest, "/")
			return room, "log entry"
		case "logt":
			room, _, _ := strings.Cut(rest, "/")
			return room, "log index row"
		case "room":
			return rest, "room record"
		case "state":
			room, _, _ := strings.Cut(rest, "/")
			return room, "participant state record"
		case "peer", "removed", "self":
			return "", "federation peer record"
		case "invite":
			return "", "federation invite"
		}
		return "", "federation record"
	case bytes.HasPrefix(k, auditPrefix):
		return "", "audit entry"
	case bytes.HasPrefix(k, transcriptPrefix):
		return string(k[len(transcriptPrefix):]), "sealed transcript"
	case bytes.HasPrefix(k, ownerPrefix):
		return string(k[len(ownerPrefix):]), "meeting owner"
	case bytes.HasPrefix(k, []byte("meta/")):
		return "", "store metadata"
	case bytes.HasPrefix(k, legacyRoomPrefix):
		return string(k[len(legacyRoomPrefix):]), "room of the old room table"
	}
	return "", "other record"
}

// summarizeKeys says what keys hold: "room ID: 12 log entries, 1 room record; 2 audit
// entries".
func summarizeKeys(keys [][]byte) string {
	if len(keys) == 0 {
		return "nothing that can be named"
	}
	type count map[string]int
	byRoom := map[string]count{}
	for _, k := range keys {
		room, what := keyKind(k)
		if byRoom[room] == nil {
			byRoom[room] = count{}
		}
		byRoom[room][what]++
	}
	rooms := make([]string, 0, len(byRoom))
	for r := range byRoom {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	say := func(c count) string {
		whats := make([]string, 0, len(c))
		for w := range c {
			whats = append(whats, w)
		}
		slices.Sort(whats)
		var items []string
		for _, w := range whats {
			items = append(items, plural(c[w], w))
		}
		return strings.Join(items, ", ")
	}
	var parts []string
	more, rest := 0, count{}
	for _, r := range rooms {
		switch {
		case r == "":
			continue
		case len(parts) < maxNamedRooms:
			parts = append(parts, "room "+r+": "+say(byRoom[r]))
		default:
			more++
			for w, n := range byRoom[r] {
				rest[w] += n
			}
		}
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d more rooms: %s", more, say(rest)))
	}
	if c := byRoom[""]; len(c) > 0 {
		parts = append(parts, say(c))
	}
	return strings.Join(parts, "; ")
}

// maxNamedRooms bounds the rooms a damage report names one by one.
const maxNamedRooms = 5

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}
