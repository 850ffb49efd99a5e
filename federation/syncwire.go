package federation

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Catch-up runs over the request/response protocol SyncProtocol. A request asks either for
// the directory or for one room:
//
//	directory:  {"v":1,"dir":true,"after":"<room id>","digest":"<hex SHA-256>"}
//	room:       {"v":1,"room":"<room id>","record":{…room record envelope…},
//	             "have":{"12D3KooW…":17,…},"states":{"12D3KooW…":1767225600123,…}}
//
// "after" (optional) pages through the directory in room ID order. "digest" is the SHA-256
// of the asker's directory (every "<room id> <ver>\n" in room ID order); an answerer whose
// directory has the same digest sends no room records. "record" is the room's signed record,
// so that an answerer that missed it learns it (it is checked like gossip). "have" gives, per node,
// the seq up to which the asker holds that node's entries of the room without a gap;
// "states" the version of each node's state record it holds. Nodes it holds nothing of are
// left out. The answer carries signed envelopes exactly as their origins signed them:
//
//	{"v":1,"node":{…envelope…},"peers":[{…},…],"rooms":[{…},…],"states":[{…},…],
//	 "entries":[{…},…],"more":true}
//
// A directory answer holds the answering node's own node record, on its first page
// (no "after") the node records it holds of its other federated peers, newest first
// (syncpeers.go), and room records; a room
// answer holds the state records newer than the asker's and the entries past its "have"
// (in (node, seq) order). "more" says the answer was cut at its limits and the asker should
// ask again. Empty fields are left out. Each envelope is checked like a gossip message.

// SyncProtocol is the request/response protocol of catch-up.
const SyncProtocol = "/parley/catchup/1"

// Limits of catch-up.
const (
	maxSyncRequest  = 128 << 10
	maxSyncResponse = 4 << 20
	maxSyncNodes    = 1024 // nodes named in one request's have or states
	maxSyncItems    = 1024 // envelopes of one kind in one answer
)

type syncRequest struct {
	V      int               `json:"v"`
	Dir    bool              `json:"dir,omitempty"`
	After  string            `json:"after,omitempty"`
	Digest string            `json:"digest,omitempty"`
	Room   string            `json:"room,omitempty"`
	Record json.RawMessage   `json:"record,omitempty"`
	Have   map[string]uint64 `json:"have,omitempty"`   // peer ID -> seq
	States map[string]uint64 `json:"states,omitempty"` // peer ID -> version
}

type syncResponse struct {
	V       int               `json:"v"`
	Node    json.RawMessage   `json:"node,omitempty"`
	Peers   []json.RawMessage `json:"peers,omitempty"`
	Rooms   []json.RawMessage `json:"rooms,omitempty"`
	States  []json.RawMessage `json:"states,omitempty"`
	Entries []json.RawMessage `json:"entries,omitempty"`
	More    bool              `json:"more,omitempty"`
}

func decodeSyncRequest(data []byte) (syncRequest, error) {
	var r syncRequest
	if len(data) > maxSyncRequest {
		return r, reject(ReasonOversize, "catch-up request of %d bytes", len(data))
	}
	if err := decodeStrict(data, &r); err != nil {
		return r, reject(ReasonMalformed, "catch-up request: %v", err)
	}
	if err := r.validate(); err != nil {
		return r, reject(ReasonMalformed, "catch-up request: %v", err)
	}
	return r, nil
}

func (r syncRequest) validate() error {
	if r.V != wireVersion {
		return errVersion
	}
	if r.Dir {
		if r.Room != "" || r.Record != nil || r.Have != nil || r.States != nil {
			return errors.New("a directory request names no room")
		}
		if r.After != "" && !ValidRoomID(r.After) {
			return fmt.Errorf("after %q is not a room ID", r.After)
		}
		if r.Digest != "" && !validDigest(r.Digest) {
			return errors.New("digest is not a lowercase hex SHA-256")
		}
		return nil
	}
	if !ValidRoomID(r.Room) {
		return fmt.Errorf("room %q is not a room ID", r.Room)
	}
	if r.After != "" || r.Digest != "" {
		return errors.New("a room request has no after or digest")
	}
	if len(r.Record) > maxRoomBody+envelopeExtra {
		return errors.New("room record too large")
	}
	if len(r.Have) > maxSyncNodes || len(r.States) > maxSyncNodes {
		return fmt.Errorf("more than %d nodes", maxSyncNodes)
	}
	for _, m := range []map[string]uint64{r.Have, r.States} {
		for id, v := range m {
			if _, _, err := parsePeerID(id); err != nil {
				return err
			}
			if v == 0 {
				return fmt.Errorf("0 for %s", id)
			}
		}
	}
	return nil
}

func decodeSyncResponse(data []byte) (syncResponse, error) {
	var r syncResponse
	if len(data) > maxSyncResponse {
		return r, reject(ReasonOversize, "catch-up answer of %d bytes", len(data))
	}
	if err := decodeStrict(data, &r); err != nil {
		return r, reject(ReasonMalformed, "catch-up answer: %v", err)
	}
	if r.V != wireVersion {
		return r, reject(ReasonMalformed, "catch-up answer: %v", errVersion)
	}
	if len(r.Peers) > maxSyncItems || len(r.Rooms) > maxSyncItems || len(r.States) > maxSyncItems || len(r.Entries) > maxSyncItems {
		return r, reject(ReasonOversize, "catch-up answer with more than %d items of a kind", maxSyncItems)
	}
	return r, nil
}

func validDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
