package testnet

import (
	"testing"
	"time"

	"parley/node"
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

// TestBrowserKeyboardOnly: Ada uses the keyboard only (Tab, Space, Enter, Escape: real key
// events, no pointer): she joins a meeting with a lobby, is let in, mutes her microphone,
// raises her hand, chats and leaves. Every control she passes shows a visible focus. Bob, the
// moderator, hears each step through the page's live regions: her knock, her arrival, her
// hand, her message and her leaving.
func TestBrowserKeyboardOnly(t *testing.T) {
	n := StartNode(t, "Ministère du Clavier")
	room, err := n.Node.NewRoom(node.RoomOptions{Title: "Au clavier", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	forEachBrowser(t, func(t *testing.T, kind string) {
		bob := NewBrowserOf(t, kind, "Bob")
		bob.Open(n.Node.ModeratorURL(room.ID) + "&name=Bob")
		bob.Click(`[data-testid=join]`)
		bob.WaitVisible(`[data-testid=leave]`, 20*time.Second)
		recordAnnouncements(t, bob)

		ada := NewBrowserOf(t, kind, "Ada")
		ada.Open(n.URL() + "/r/" + room.ID + "?name=Ada")
		ada.WaitVisible(`[data-testid=join]`, 20*time.Second)
		tabTo(t, ada, `[data-testid=join]`)
		ada.Press("Enter")
		ada.WaitVisible(`[data-testid=lobby-waiting]`, 20*time.Second)
		waitAnnounced(t, bob, "Ada is waiting to join")
		bob.Click(`#ctl-people`)
		bob.Click(`[data-testid=lobby-admit]`)
		ada.WaitVisible(`[data-testid=leave]`, 20*time.Second)
		waitAnnounced(t, bob, "Ada joined")

		mic := `document.querySelector('[data-testid=mic]').getAttribute('aria-pressed')`
		ada.waitJS("the microphone on", mic+` === 'true'`, 10*time.Second)
		tabTo(t, ada, `[data-testid=mic]`)
		ada.Press("Space")
		ada.waitJS("the microphone off", mic+` === 'false'`, 10*time.Second)
		bob.WaitVisible(`.tile[aria-label="Ada"] .mic-state`, 20*time.Second)

		tabTo(t, ada, `[data-testid=hand]`)
		ada.Press("Space")
		bob.WaitVisible(`.tile[aria-label="Ada"].hand-up`, 20*time.Second)
		waitAnnounced(t, bob, "Ada raised their hand")

		tabTo(t, ada, `[data-testid=chat]`)
		ada.Press("Enter")
		ada.waitJS("the chat input focused", `document.activeElement === document.querySelector('[data-testid=chat-input]')`, 10*time.Second)
		ada.Keys("Bonjour à tous\n")
		waitAnnounced(t, bob, "Ada: Bonjour à tous")
		ada.Press("Escape")
		ada.waitJS("the chat closed", `document.getElementById('panel').hidden`, 10*time.Second)

		tabTo(t, ada, `[data-testid=leave]`)
		ada.Press("Enter")
		ada.WaitVisible(`#left`, 20*time.Second)
		waitAnnounced(t, bob, "Ada left")
	})
}

// tabTo presses Tab until the element matching sel has the focus (at most 60 times), and
// checks that every element the focus passes on the way shows it (an outline).
func tabTo(t *testing.T, b *Browser, sel string) {
	t.Helper()
	for range 60 {
		b.Press("Tab")
		st, err := Eval[struct {
			Here    bool
			What    string
			Outline string
		}](b, `(() => {
			const el = document.activeElement;
			if (!el || el === document.body) return {Here: false, What: 'body', Outline: 'n/a'};
			const cs = getComputedStyle(el);
			const what = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '');
			return {Here: el.matches(`+jsString(sel)+`), What: what, Outline: cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) < 2 ? '' : cs.outlineStyle + ' ' + cs.outlineWidth};
		})()`)
		if err != nil {
			t.Fatalf("browser %s: read the focus: %v", b.name, err)
		}
		if st.What != "body" && st.Outline == "" {
			t.Errorf("browser %s: %s has the focus and shows no outline", b.name, st.What)
		}
		if st.Here {
			return
		}
	}
	t.Fatalf("browser %s: 60 presses of Tab never reached %s", b.name, sel)
}

// recordAnnouncements makes b's page remember every text that appears in a live region
// (aria-live, or role status, alert or log) that is not hidden: what a screen reader says.
func recordAnnouncements(t *testing.T, b *Browser) {
	t.Helper()
	if _, err := Eval[bool](b, `(() => {
		window.parleySaid = [];
		new MutationObserver((ms) => {
			for (const m of ms) for (const n of m.addedNodes) {
				const el = n.nodeType === 1 ? n : n.parentElement;
				const live = el && el.closest('[aria-live]:not([aria-live=off]), [role=status], [role=alert], [role=log]');
				if (live && !live.closest('[hidden]') && getComputedStyle(live).display !== 'none') window.parleySaid.push((n.textContent || '').trim());
			}
		}).observe(document.body, { childList: true, subtree: true });
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
}

// waitAnnounced waits until b's page has announced text (see recordAnnouncements).
func waitAnnounced(t *testing.T, b *Browser, text string) {
	t.Helper()
	b.waitJS("the announcement "+jsString(text), `window.parleySaid.some((s) => s.includes(`+jsString(text)+`))`, 20*time.Second)
}
