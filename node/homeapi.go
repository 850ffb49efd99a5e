package node

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"parley/federation"
	"parley/node/auth"
)

// The home page's API (same-origin JSON; the home page is static/home.html):
//
//	GET    /api/me                 {"sign_in":bool,"user":{"name","email","organisation"}|null}
//	GET    /api/meetings           the signed-in person's meetings, newest first
//	POST   /api/meetings           {"title","lobby","guests","start","orgs"} -> the new meeting
//	DELETE /api/meetings/{id}      deletes one of their meetings on every node
//	POST   /auth/logout            ends the session -> {"location": where to go next}
//
// Writes need a session and an Origin header of the node's own pages. An error is
// {"code": one of the api* codes below, "error": English text}.

const meetingBodyLimit = 4 << 10

// apiUser is the signed-in person as the home page shows them.
type apiUser struct {
	Name         string `json:"name"`
	Email        string `json:"email,omitempty"`
	Organisation string `json:"organisation"`
}

// apiMeeting is one meeting on the home page.
type apiMeeting struct {
	ID           string     `json:"id"`
	Title        string     `json:"title"`
	URL          string     `json:"url"`
	ModeratorURL string     `json:"moderator_url"`
	Created      time.Time  `json:"created"`
	Lobby        bool       `json:"lobby"`
	Guests       string     `json:"guests"` // "" (guests join), "lobby" or "no"
	Start        *time.Time `json:"start,omitempty"`
	Orgs         []string   `json:"orgs,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The home API's error codes: the home page shows its own words for each, in the reader's
// language; the English text beside the code is for other clients and logs.
const (
	apiCrossOrigin    = "cross_origin"    // a change not sent from this node's pages
	apiSignIn         = "sign_in"         // the request needs a signed-in person
	apiStorage        = "storage"         // the node could not read or write its store
	apiBadRequest     = "bad_request"     // the body is not what the endpoint takes
	apiNotFound       = "not_found"       // no such meeting of the person's
	apiInvalidTitle   = "invalid_title"   // the title is empty, too long or has control characters
	apiInvalidGuests  = "invalid_guests"  // the guests policy is none of the three
	apiInvalidStart   = "invalid_start"   // the start is in the past or too far ahead
	apiInvalidMeeting = "invalid_meeting" // another field the room record refuses
	apiNotAllowed     = "not_allowed"     // the person may not have that
	apiNoTranscript   = "no_transcript"   // the meeting has no transcript (yet)
)

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "error": msg})
}

// roomOptionCode is the API code of an error from NewRoom.
func roomOptionCode(err error) (int, string) {
	var oe *RoomOptionError
	switch {
	case errors.As(err, &oe):
		return http.StatusBadRequest, map[string]string{"title": apiInvalidTitle, "guests": apiInvalidGuests, "start": apiInvalidStart}[oe.Field]
	case errors.Is(err, federation.ErrInvalidRoom):
		return http.StatusBadRequest, apiInvalidMeeting
	default:
		return http.StatusInternalServerError, apiStorage
	}
}

func (n *Node) serveMe(w http.ResponseWriter, r *http.Request) {
	out := struct {
		SignIn bool     `json:"sign_in"`
		User   *apiUser `json:"user"`
		Node   string   `json:"node"`
		// Organisations are those of the federation's nodes, which a meeting may be opened to.
		Organisations []string `json:"organisations"`
	}{SignIn: n.auth != nil, Node: n.cfg.Name, Organisations: n.organisations()}
	if u, ok := n.signedIn(r); ok {
		out.User = &apiUser{Name: u.Name, Email: u.Email, Organisation: n.cfg.Organisation}
	}
	writeJSON(w, http.StatusOK, out)
}

// organisations are this node's and its federated peers' organisations, sorted.
func (n *Node) organisations() []string {
	orgs := []string{n.cfg.Organisation}
	for _, p := range n.fed.fed.Peers() {
		if p.Record.Org != "" {
			orgs = append(orgs, p.Record.Org)
		}
	}
	slices.Sort(orgs)
	return slices.Compact(orgs)
}

// writer checks a state-changing request: from the node's own pages, by someone signed in.
func (n *Node) writer(w http.ResponseWriter, r *http.Request) (auth.User, bool) {
	if o := r.Header.Get("Origin"); o == "" || !n.originAllowed(o) {
		apiError(w, http.StatusForbidden, apiCrossOrigin, "requests that change something must come from this node's pages")
		return auth.User{}, false
	}
	u, ok := n.signedIn(r)
	if !ok {
		apiError(w, http.StatusUnauthorized, apiSignIn, "sign in first")
	}
	return u, ok
}

func (n *Node) apiMeeting(r Room) apiMeeting {
	m := apiMeeting{ID: r.ID, Title: r.Title, URL: RoomURL(n.publicURL, r.ID), ModeratorURL: n.ModeratorURL(r.ID),
		Created: r.Created, Lobby: r.Lobby, Guests: r.Guests, Orgs: r.Orgs}
	if !r.Start.IsZero() {
		m.Start = &r.Start
	}
	return m
}

func (n *Node) serveMyMeetings(w http.ResponseWriter, r *http.Request) {
	u, ok := n.signedIn(r)
	if !ok {
		apiError(w, http.StatusUnauthorized, apiSignIn, "sign in first")
		return
	}
	ids, err := n.store.ownedRooms(u.ID())
	if err != nil {
		n.log.Error("list meetings", "err", err)
		apiError(w, http.StatusInternalServerError, apiStorage, "the node could not read your meetings")
		return
	}
	out := []apiMeeting{}
	for _, id := range ids {
		if room, err := n.lookupRoom(id); err == nil {
			out = append(out, n.apiMeeting(room))
		}
	}
	slices.SortFunc(out, func(a, b apiMeeting) int { return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID)) })
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) serveCreateMeeting(w http.ResponseWriter, r *http.Request) {
	u, ok := n.writer(w, r)
	if !ok {
		return
	}
	var req struct {
		Title  string    `json:"title"`
		Lobby  bool      `json:"lobby"`
		Guests string    `json:"guests"`
		Start  time.Time `json:"start"`
		Orgs   []string  `json:"orgs"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, apiBadRequest, "the request is not a meeting: "+err.Error())
		return
	}
	room, err := n.NewRoom(RoomOptions{Title: req.Title, Lobby: req.Lobby, Guests: req.Guests, Start: req.Start, Orgs: req.Orgs})
	if err != nil {
		status, code := roomOptionCode(err)
		if status == http.StatusInternalServerError {
			n.log.Error("create a meeting", "err", err)
		}
		apiError(w, status, code, err.Error())
		return
	}
	if err := n.store.putOwner(room.ID, roomOwner{ID: u.ID(), Name: u.Name}); err != nil {
		n.log.Error("record a meeting's owner", "room", room.ID, "err", err)
		_, _ = n.DeleteRoom(room.ID)
		apiError(w, http.StatusInternalServerError, apiStorage, "the node could not store your meeting; try again")
		return
	}
	n.audit.record(AuditEntry{Actor: userActor(u), Action: OpRoomCreate, Room: room.ID, Detail: "home page: " + room.Title})
	writeJSON(w, http.StatusCreated, n.apiMeeting(room))
}

func (n *Node) serveDeleteMeeting(w http.ResponseWriter, r *http.Request) {
	u, ok := n.writer(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if o, ok := n.store.owner(id); !ok || o.ID != u.ID() {
		apiError(w, http.StatusNotFound, apiNotFound, "you have no meeting with this ID")
		return
	}
	room, err := n.DeleteRoom(id)
	if err != nil {
		n.log.Error("delete a meeting", "room", id, "err", err)
		apiError(w, http.StatusInternalServerError, apiStorage, err.Error())
		return
	}
	if err := n.store.dropOwner(id); err != nil {
		n.log.Warn("forget a deleted meeting's owner", "room", id, "err", err)
	}
	n.audit.record(AuditEntry{Actor: userActor(u), Action: OpRoomDelete, Room: id, Detail: "home page: " + room.Title})
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) serveLogout(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !n.originAllowed(o) {
		apiError(w, http.StatusForbidden, apiCrossOrigin, "sign out from this node's pages")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"location": n.auth.Logout(w, r)})
}

// isOwner reports whether the person signed in on r made room on the home page.
func (n *Node) isOwner(r *http.Request, room string) bool {
	u, ok := n.signedIn(r)
	if !ok {
		return false
	}
	o, ok := n.store.owner(room)
	return ok && o.ID == u.ID()
}

func userActor(u auth.User) string {
	if u.Email != "" {
		return "user " + u.Email
	}
	return "user " + u.Subject
}
