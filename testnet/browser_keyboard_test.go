package testnet

import (
	"testing"
	"time"
)

// TestBrowserShortcuts: in a meeting, Alt+Shift+M turns the microphone off and on, Alt+Shift+H
// raises the hand (the other participant sees it), Alt+Shift+C opens the chat with the input
// focused, Enter sends, and Alt+Shift+K lists the shortcuts. The key events are dispatched to
// the page, as the keyboard would.
func TestBrowserShortcuts(t *testing.T) {
	n := StartNode(t, "Ministère du Clavier")
	room := n.CreateRoom("Raccourcis")
	forEachBrowser(t, func(t *testing.T, kind string) {
		a := NewBrowserOf(t, kind, "Ada")
		a.Join(n.URL(), room.ID, "Ada")
		b := NewBrowserOf(t, kind, "Bob")
		b.Join(n.URL(), room.ID, "Bob")
		a.WaitVisible(`.tile[aria-label="Bob"]`, 20*time.Second)
		press := func(key, code string) {
			t.Helper()
			if _, err := Eval[bool](a, `(document.activeElement || document.body).dispatchEvent(new KeyboardEvent('keydown',
				{key: `+jsString(key)+`, code: `+jsString(code)+`, altKey: true, shiftKey: true, bubbles: true}))`); err != nil {
				t.Fatal(err)
			}
		}
		mic := `document.querySelector('[data-testid=mic]').getAttribute('aria-pressed')`
		a.waitJS("the microphone on", mic+` === 'true'`, 10*time.Second)
		press("M", "KeyM")
		a.waitJS("the microphone off by Alt+Shift+M", mic+` === 'false'`, 10*time.Second)
		press("M", "KeyM")
		a.waitJS("the microphone on again", mic+` === 'true'`, 10*time.Second)
		press("H", "KeyH")
		b.WaitVisible(`.tile[aria-label="Ada"].hand-up`, 20*time.Second)
		press("C", "KeyC")
		a.waitJS("the chat input focused", `document.activeElement === document.querySelector('[data-testid=chat-input]')`, 10*time.Second)
		a.Type(`[data-testid=chat-input]`, "par le clavier\n")
		b.WaitText(`[data-testid=chat-log] li:last-child`, "Ada: par le clavier", 20*time.Second)
		press("K", "KeyK")
		a.waitJS("the shortcuts listed", `document.getElementById('shortcuts').open && document.querySelectorAll('#shortcuts-list dt').length === 6`, 10*time.Second)
	})
}
