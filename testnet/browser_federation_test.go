package testnet

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"parley/node"
)

// TestBrowserFederation: two federated nodes, a room created on A, a Chromium joining it
// through A and another through B (with B's own link to the room). Each sees the other in
// the People panel with the organisation of their home node and a verified certificate,
// both show the same safety code, and end-to-end encrypted chat crosses both ways. Media
// across nodes is TestBrowserCascade's.
func TestBrowserFederation(t *testing.T) {
	RequireChromium(t)
	e := NewEnv(t, 2, WithNames("Ministère A", "Ministère B"))
	a, b := e.Nodes[0], e.Nodes[1]
	room := e.CreateRoom(0, "Across two nodes")

	alice := NewBrowser(t, "Alice")
	bob := NewBrowser(t, "Bob")
	alice.Join(a.URL(), room.ID, "Alice")
	bob.Open(node.RoomURL(b.URL(), room.ID) + "?name=" + url.QueryEscape("Bob"))
	bob.Click(`[data-testid=join]`)

	// A participant's organisation is its home node's name (identity/doc.go).
	waitPerson(t, alice, "Bob", b.Name, 20*time.Second)
	waitPerson(t, bob, "Alice", a.Name, 20*time.Second)
	if ac, bc := shownSafetyCode(t, alice, "Bob"), shownSafetyCode(t, bob, "Alice"); ac != bc {
		t.Errorf("safety codes differ across nodes: Alice sees %q for Bob, Bob sees %q for Alice", ac, bc)
	}

	openChat(t, alice)
	openChat(t, bob)
	browserChatReaches(t, alice, bob, "Bonjour de A")
	browserChatReaches(t, bob, alice, "Hello from B")

	for _, br := range []*Browser{alice, bob} {
		if errs := br.ConsoleErrors(); len(errs) > 0 {
			t.Logf("browser %s console errors: %q", br.name, errs)
		}
	}
}

// waitPerson waits until b's People panel lists name with org, and a certificate b verified.
func waitPerson(t *testing.T, b *Browser, name, org string, timeout time.Duration) {
	t.Helper()
	openPeoplePanel(t, b)
	js := `(() => {
		for (const li of document.querySelectorAll('#people li')) {
			const n = li.querySelector('.pname'), o = li.querySelector('.porg');
			if (n && n.textContent === ` + jsString(name) + `) {
				return {found: true, org: o ? o.textContent : '', unverified: li.classList.contains('unverified')};
			}
		}
		return {found: false};
	})()`
	type person struct {
		Found      bool   `json:"found"`
		Org        string `json:"org"`
		Unverified bool   `json:"unverified"`
	}
	Eventually(t, timeout, fmt.Sprintf("%s in %s's People panel", name, b.name), func() error {
		p, err := Eval[person](b, js)
		switch {
		case err != nil:
			return err
		case !p.Found:
			return fmt.Errorf("not listed")
		case p.Org != org:
			return fmt.Errorf("organisation %q, want %q", p.Org, org)
		case p.Unverified:
			return fmt.Errorf("certificate not verified")
		}
		return nil
	})
}

// browserChatReaches sends text from one browser until the other shows it decrypted. A
// message sent just after the other joined may be under a key the other never received (it
// shows locked), so the sender tries again, numbering its attempts.
func browserChatReaches(t *testing.T, from, to *Browser, text string) {
	t.Helper()
	const attemptWait = 3 * time.Second
	deadline := time.Now().Add(30 * time.Second)
	for k := 1; ; k++ {
		line := fmt.Sprintf("%s (%d)", text, k)
		from.Type(`[data-testid=chat-input]`, line+"\n")
		want := from.name + ": " + line
		err := Poll(attemptWait, func() error {
			got, err := to.Text(`[data-testid=chat-log]`)
			if err == nil && !strings.Contains(got, want) {
				err = fmt.Errorf("its chat log is %q", got)
			}
			return err
		})
		if err == nil {
			if k > 1 {
				t.Logf("browser %s read %s's message at attempt %d", to.name, from.name, k)
			}
			from.WaitText(`[data-testid=chat-log]`, want, 5*time.Second)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser %s never read %q from %s: %v", to.name, line, from.name, err)
		}
	}
}
