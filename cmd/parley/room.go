package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"parley/node"
)

func runRoom(args []string, stdout, stderr io.Writer) error {
	return runGroup("room", "Usage: parley room create --data DIR --title TITLE\n"+
		"       parley room list --data DIR\n"+
		"       parley room delete --data DIR --room ROOM\n\n"+
		"Talks to the node running on DIR over its admin socket.\n\n"+
		"Example:\n  parley room create --data /var/lib/parley --title \"Weekly sync\"\n",
		[]subcommand{{"create", runRoomCreate}, {"list", runRoomList}, {"delete", runRoomDelete}}, args, stdout, stderr)
}

func runRoomCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("room create", "room create --data DIR --title TITLE [--lobby] [--guests lobby|no] [--org ORGANISATION]...",
		"Creates a room on the node running on DIR and prints its link, then its moderator link\n"+
			"(moderators admit people from the lobby and remove participants; keep it to yourself).\n"+
			"Without --org every federated node's participants may join; with it, only those of\n"+
			"nodes of the organisations named (this node's own is always included). With sign-in\n"+
			"enabled, --guests lobby makes people who are not signed in wait in the lobby and\n"+
			"--guests no keeps them out.",
		`parley room create --data /var/lib/parley --title "Weekly sync" --org "Ministère B"`, stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	title := fs.String("title", "", "the room's title (required)")
	lobby := fs.Bool("lobby", false, "joiners wait in a lobby until a moderator admits them")
	guests := fs.String("guests", "", `people not signed in: "lobby" (they wait to be admitted) or "no" (they may not join); default: they join`)
	var orgs stringList
	fs.Var(&orgs, "org", "an organisation whose nodes' participants may join (repeatable; default: all federated)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireFlag(fs, "title", *title); err != nil {
		return err
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	switch *guests {
	case "", "lobby", "no":
	default:
		return usagef(`--guests %q: want "lobby" or "no"`, *guests)
	}
	r, err := c.CreateRoom(node.RoomOptions{Title: *title, Lobby: *lobby, Guests: *guests, Orgs: orgs})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r.URL)
	fmt.Fprintf(stdout, "moderator link: %s\n", r.ModeratorURL)
	return nil
}

func runRoomList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("room list", "room list --data DIR",
		"Lists the rooms of the node running on DIR, oldest first.",
		"parley room list --data /var/lib/parley", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	rooms, err := c.ListRooms()
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		fmt.Fprintf(stdout, "no rooms yet; create one with: parley room create --data %s --title TITLE\n", *dir)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tTITLE\tLOBBY\tGUESTS\tOPEN TO\tURL\tMODERATOR URL")
	for _, r := range rooms {
		lobby := "no"
		if r.Lobby {
			lobby = "yes"
		}
		open := "every federated node"
		if len(r.Orgs) > 0 {
			open = strings.Join(r.Orgs, ", ")
		}
		guests := map[string]string{"": "join", "lobby": "wait", "no": "refused"}[r.Guests]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Created.Local().Format("2006-01-02 15:04"), r.Title, lobby, guests, open, r.URL, r.ModeratorURL)
	}
	return tw.Flush()
}

func runRoomDelete(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("room delete", "room delete --data DIR --room ROOM",
		"Deletes a room of the node running on DIR, on every federated node: everyone in it is\n"+
			"sent away, its link stops working, and its chat and keys are erased from every node's\n"+
			"store. ROOM is the room's ID or its link (as `parley room list` prints them). This\n"+
			"cannot be undone; the deletion is recorded in the audit log.",
		"parley room delete --data /var/lib/parley --room 3f9c0a7e5b1d4c2e8a6f0b9d7c5e3a1f", stderr)
	dir := fs.String("data", "", "data directory of the running node (required)")
	room := fs.String("room", "", "the room's ID or link (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireFlag(fs, "room", *room); err != nil {
		return err
	}
	id := roomIDOf(*room)
	if !node.ValidRoomID(id) {
		return usagef("--room %q is neither a room ID nor a room link", *room)
	}
	c, err := dialAdmin(fs, *dir)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.DeleteRoom(id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted room %s (%q)\n", r.ID, r.Title)
	return nil
}

// roomIDOf is the room ID a room argument names: the argument itself, or the last path
// segment of a room link (https://node.example/r/ID, maybe with a ?query or #key).
func roomIDOf(arg string) string {
	arg, _, _ = strings.Cut(arg, "#")
	arg, _, _ = strings.Cut(arg, "?")
	arg = strings.TrimSuffix(arg, "/")
	return arg[strings.LastIndexByte(arg, '/')+1:]
}

// dialAdmin connects to the admin socket of the node running on dir, the required --data
// flag of fs, explaining what to do if no node runs.
func dialAdmin(fs *flag.FlagSet, dir string) (*node.AdminClient, error) {
	if err := requireFlag(fs, "data", dir); err != nil {
		return nil, err
	}
	c, err := node.DialAdmin(dir)
	if errors.Is(err, node.ErrNodeNotRunning) {
		return nil, fmt.Errorf("%w; start it with `parley serve --data %s` and try again", err, dir)
	}
	return c, err
}
