package testnet

import (
	"testing"
	"time"
)

// TestBrowserMeeting holds a meeting between two headless Chromiums with fake cameras,
// microphones and screens, through the web client's test contract (data-testid and data-*
// attributes).
func TestBrowserMeeting(t *testing.T) { forEachBrowser(t, testBrowserMeeting) }

func testBrowserMeeting(t *testing.T, kind string) {
	n := StartNode(t, "browsers")
	room := n.CreateRoom("Browser meeting")

	alice := NewBrowserOf(t, kind, "Alice")
	bob := NewBrowserOf(t, kind, "Bob")

	alice.Join(n.URL(), room.ID, "Alice")
	bob.Join(n.URL(), room.ID, "Bob")

	// Each sees the other's camera playing.
	const mediaWait = 30 * time.Second
	bob.WaitVideoPlaying(`video[data-participant-name="Alice"]`, mediaWait)
	alice.WaitVideoPlaying(`video[data-participant-name="Bob"]`, mediaWait)

	// Chat: Alice types and presses Enter; Bob's log shows it with her name.
	const text = "Hello Bob, can you see me?"
	openChat(t, alice)
	alice.Type(`[data-testid=chat-input]`, text+"\n")
	bob.WaitText(`[data-testid=chat-log]`, "Alice: "+text, 10*time.Second)
	alice.WaitText(`[data-testid=chat-log]`, "Alice: "+text, 10*time.Second)

	// Screen share: Alice's screen appears for Bob as an extra video, her camera still plays.
	// Headless Firefox has no fake screen to share; TestBrowserMatrix shows a Chromium's
	// screen in Firefox.
	if kind != Firefox {
		alice.Click(`[data-testid=screen]`)
		bob.WaitVideoPlaying(`video[data-screen-of="Alice"]`, mediaWait)
		bob.WaitVideoPlaying(`video[data-participant-name="Alice"]`, 10*time.Second)
	}

	// Alice leaves: her tiles disappear from Bob's page.
	alice.Click(`[data-testid=leave]`)
	bob.WaitGone(`video[data-participant-name="Alice"]`, 15*time.Second)
	bob.WaitGone(`video[data-screen-of="Alice"]`, 5*time.Second)

	for _, b := range []*Browser{alice, bob} {
		if errs := b.ConsoleErrors(); len(errs) > 0 {
			t.Logf("browser %s console errors: %q", b.name, errs)
		}
	}
}

// openChat makes [data-testid=chat-input] usable: the chat lives in a side panel that the
// [data-testid=chat] button opens, as a user would.
func openChat(t *testing.T, b *Browser) {
	t.Helper()
	visible := `(() => { const e = document.querySelector('[data-testid=chat-input]'); return !!e && e.getClientRects().length > 0 })()`
	if ok, err := Eval[bool](b, visible); err != nil {
		t.Fatalf("browser %s: %v", b.name, err)
	} else if ok {
		return
	}
	b.Click(`[data-testid=chat]`)
	b.WaitVisible(`[data-testid=chat-input]`, 15*time.Second)
}
