package testnet

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"parley/node"
)

// TestBrowserFederation: two federated nodes, a room created on A, a Chromium joining it
// through A and another through B (with B's own link to the room). Each sees the other in
// the People panel with the organisation of their home node and a verified certificate,
// both show the same safety code, and end-to-end encrypted chat crosses both ways. Media
// across nodes is TestBrowserCascade's.
func TestBrowserFederation(t *testing.T) { forEachBrowser(t, testBrowserFederation) }

func testBrowserFederation(t *testing.T, kind string) {
	e := NewEnv(t, 2, WithNames("Ministère A", "Ministère B"))
	a, b := e.Nodes[0], e.Nodes[1]
	room := e.CreateRoom(0, "Across two nodes")

	alice := NewBrowserOf(t, kind, "Alice")
	bob := NewBrowserOf(t, kind, "Bob")
	alice.Join(a.URL(), room.ID, "Alice")
	bob.Open(node.RoomURL(b.URL(), room.ID) + "?name=" + url.QueryEscape("Bob"))
	bob.Click(`[data-testid=join]`)

	// A participant's organisation is its home node's name (identity/doc.go). Alice greets
	// Bob the moment she sees him: the message must reach him readable.
	waitPerson(t, alice, "Bob", b.Name, 20*time.Second)
	openChat(t, alice)
	alice.Type(`[data-testid=chat-input]`, "Bienvenue Bob\n")
	waitPerson(t, bob, "Alice", a.Name, 20*time.Second)
	if ac, bc := shownSafetyCode(t, alice, "Bob"), shownSafetyCode(t, bob, "Alice"); ac != bc {
		t.Errorf("safety codes differ across nodes: Alice sees %q for Bob, Bob sees %q for Alice", ac, bc)
	}

	openChat(t, alice)
	openChat(t, bob)
	bob.WaitText(`[data-testid=chat-log]`, "Alice: Bienvenue Bob", 10*time.Second)
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

// browserChatReaches sends text from one browser and waits until the other shows it
// decrypted. The first chat after the other joined must be readable: the sender seals it under
// the key it announces for the newcomer, and the reader waits for a key on its way.
func browserChatReaches(t *testing.T, from, to *Browser, text string) {
	t.Helper()
	from.Type(`[data-testid=chat-input]`, text+"\n")
	want := from.name + ": " + text
	to.WaitText(`[data-testid=chat-log]`, want, 10*time.Second)
	from.WaitText(`[data-testid=chat-log]`, want, 5*time.Second)
}
