package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"parley/identity"
	"parley/media/client"
)

// getRoom fetches GET /api/rooms/<id> and decodes {"id","title"}.
func getRoom(base, id string) (status int, room struct{ ID, Title string }, err error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(base + "/api/rooms/" + id)
	if err != nil {
		return 0, room, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, room, err
	}
	if resp.StatusCode == http.StatusOK {
		var v struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return resp.StatusCode, room, fmt.Errorf("decode %q: %w", body, err)
		}
		room.ID, room.Title = v.ID, v.Title
	}
	return resp.StatusCode, room, nil
}

func TestRestartKeepsRoomsAndChat(t *testing.T) {
	n := StartNode(t, "restart")
	room := n.CreateRoom("Survives restarts")
	other := n.CreateRoom("Second room")

	a := n.Join(t, room.ID, "Ada", client.Publish{})
	texts := []string{"first message", "second message, with accents: é à ü"}
	for _, text := range texts {
		if err := a.SendChat(text); err != nil {
			t.Fatal(err)
		}
	}
	Eventually(t, 5*time.Second, "the node echoes Ada's chat", func() error {
		for _, text := range texts {
			if !HasChat(a, "Ada", text) {
				return fmt.Errorf("chat is %+v", a.Chat())
			}
		}
		return nil
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	n.Restart()

	for _, r := range []struct{ id, title string }{{room.ID, room.Title}, {other.ID, other.Title}} {
		status, got, err := getRoom(n.URL(), r.id)
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET /api/rooms/%s after restart: status %d, %v", r.id, status, err)
		}
		if got.ID != r.id || got.Title != r.title {
			t.Errorf("room after restart = %+v, want id %s title %q", got, r.id, r.title)
		}
	}
	rooms, err := n.Node.Rooms()
	if err != nil {
		t.Fatal(err)
	}
	if len(rooms) != 2 {
		t.Errorf("Rooms() after restart = %+v, want the two rooms", rooms)
	}
	if status, _, err := getRoom(n.URL(), "aaaaaaaaaaaaaaaaaaaaaaaaaa"); err != nil || status != http.StatusNotFound {
		t.Errorf("GET an unknown room: status %d, %v; want 404", status, err)
	}

	b := n.Join(t, room.ID, "Bea", client.Publish{})
	if got := b.Room(); got.ID != room.ID || got.Title != room.Title {
		t.Errorf("joined room %+v, want %s %q", got, room.ID, room.Title)
	}
	// The history is there, in order, but end-to-end encrypted under Ada's keys of the time,
	// which Bea never held: she sees that messages were sent, not what they said.
	history := b.Chat()
	if len(history) != len(texts) {
		t.Fatalf("history after restart = %+v, want the %d messages", history, len(texts))
	}
	for i := range texts {
		if history[i].Name != "Ada" || history[i].Text != "" || !errors.Is(history[i].Err, identity.ErrUnknownKID) {
			t.Errorf("history[%d] = %+v, want Ada's message, unreadable for want of her old key", i, history[i])
		}
		if i > 0 && history[i].Seq <= history[i-1].Seq {
			t.Errorf("history not in order: %+v", history)
		}
	}
	// New messages continue the sequence.
	if err := b.SendChat("after the restart"); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, "chat after restart", func() error {
		c := b.Chat()
		if len(c) != 3 || c[2].Text != "after the restart" || c[2].Seq <= c[1].Seq {
			return fmt.Errorf("chat is %+v", c)
		}
		return nil
	})
}
