package testnet

import (
	"strings"
	"testing"
	"time"

	"parley/node"
	"parley/node/auth/testprovider"
)

// TestBrowserHomeLanguage: the home page speaks the browser's language (English here), the
// language switch shows it in French (the choice stays for the next visit), and a node whose
// operator set French as its default language still follows a browser's own choice.
func TestBrowserHomeLanguage(t *testing.T) {
	n := StartNodeWith(t, "Ministère des Langues", func(c *node.Config) { c.DefaultLanguage = "fr" })
	forEachBrowser(t, func(t *testing.T, kind string) {
		b := NewBrowserOf(t, kind, "Reader")
		b.Open(n.URL() + "/")
		b.WaitText(`#join-title`, "Join with a link or code", 15*time.Second)
		if l, _ := Eval[string](b, `document.documentElement.lang`); l != "en" {
			t.Fatalf("html lang %q, want en", l)
		}
		if _, err := Eval[bool](b, `(() => { const s = document.querySelector('[data-testid=language]');
			s.value = 'fr'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		b.WaitText(`#join-title`, "Rejoindre avec un lien ou un code", 15*time.Second)
		if l, _ := Eval[string](b, `document.documentElement.lang`); l != "fr" {
			t.Fatalf("html lang %q after the switch, want fr", l)
		}
		b.Open(n.URL() + "/")
		b.WaitText(`#join-title`, "Rejoindre avec un lien ou un code", 15*time.Second)
		for _, e := range b.ConsoleErrors() {
			if strings.Contains(e, "parley i18n") {
				t.Errorf("console: %s", e)
			}
		}
	})
}

// TestBrowserMeetingInFrench: with French chosen on the prejoin's switch, the prejoin, the
// lobby and the meeting speak French (<html lang="fr">), encryption reaches its "encrypted"
// state (data-state, the same in every language), the moderator admits from a French People
// panel, and no message is missing from the catalogue.
func TestBrowserMeetingInFrench(t *testing.T) {
	n := StartNode(t, "Ministère des Armées")
	room, err := n.Node.NewRoom(node.RoomOptions{Title: "Point hebdomadaire", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	forEachBrowser(t, func(t *testing.T, kind string) {
		mod := NewBrowserOf(t, kind, "Mod")
		mod.Open(n.Node.ModeratorURL(room.ID) + "&name=Claire")
		if _, err := Eval[bool](mod, `(() => { const s = document.querySelector('[data-testid=language]');
			s.value = 'fr'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		mod.WaitText(`[data-testid=join]`, "Participer", 15*time.Second)
		if l, _ := Eval[string](mod, `document.documentElement.lang`); l != "fr" {
			t.Fatalf("html lang %q, want fr", l)
		}
		mod.Click(`[data-testid=join]`)
		mod.WaitText(`#ctl-leave .lbl`, "Quitter", 20*time.Second)

		guest := NewBrowserOf(t, kind, "Guest")
		guest.Open(n.URL() + "/r/" + room.ID + "?name=Paul")
		if _, err := Eval[bool](guest, `(localStorage.setItem('parley.language', 'fr'), true)`); err != nil {
			t.Fatal(err)
		}
		guest.Open(n.URL() + "/r/" + room.ID + "?name=Paul")
		guest.Click(`[data-testid=join]`)
		guest.WaitText(`[data-testid=lobby-waiting]`, "En attente qu’un modérateur vous fasse entrer", 20*time.Second)
		mod.Click(`#ctl-people`)
		mod.WaitText(`[data-testid=lobby-admit]`, "Faire entrer", 20*time.Second)
		mod.Click(`[data-testid=lobby-admit]`)
		for _, b := range []*Browser{mod, guest} {
			b.waitJS("encryption in its encrypted state", `document.querySelector('[data-testid=e2ee-status]').dataset.state === 'encrypted'`, 30*time.Second)
			b.WaitText(`[data-testid=e2ee-status]`, "chiffré", 5*time.Second)
			b.WaitText(`#count`, "2 personnes", 10*time.Second)
			for _, e := range b.ConsoleErrors() {
				if strings.Contains(e, "parley i18n") {
					t.Errorf("%s console: %s", b.name, e)
				}
			}
		}
	})
}

// TestBrowserSignedInFrench: a signed-in person who chose French gets the home page's
// refusals and the node's sign-in refusal pages in French.
func TestBrowserSignedInFrench(t *testing.T) {
	n, _ := signInNode(t, testprovider.Account{Username: "lea", Password: "pw-lea", GivenName: "Léa",
		Family: "Bernard", Email: "lea.bernard@interieur.gouv.fr"})
	forEachBrowser(t, func(t *testing.T, kind string) {
		b := NewBrowserOf(t, kind, "Léa")
		signIn(b, n, "lea", "pw-lea", "Léa Bernard")
		if _, err := Eval[bool](b, `(() => { const s = document.querySelector('[data-testid=language]');
			s.value = 'fr'; s.dispatchEvent(new Event('change')); return true; })()`); err != nil {
			t.Fatal(err)
		}
		b.WaitText(`[data-testid=new-meeting]`, "Nouvelle réunion", 15*time.Second)

		// A meeting scheduled for yesterday is refused in French.
		b.Click(`[data-testid=schedule-meeting]`)
		b.Type(`#schedule-title`, "Réunion d’hier")
		yesterday := time.Now().Add(-48 * time.Hour).Format("2006-01-02T15:04")
		if _, err := Eval[bool](b, `(document.querySelector('#schedule-start').value = `+jsString(yesterday)+`, true)`); err != nil {
			t.Fatal(err)
		}
		b.Click(`[data-testid=schedule-create]`)
		b.WaitText(`#home-error`, "Choisissez une date et une heure situées dans les deux prochaines années.", 15*time.Second)

		// A forged sign-in answer gets the node's page in French.
		b.Open(n.URL() + "/auth/callback?state=forged-state-forged-state-forged-state-1234&code=forged")
		b.WaitText(`h1`, "Connexion non reconnue", 15*time.Second)
		if l, _ := Eval[string](b, `document.documentElement.lang`); l != "fr" {
			t.Errorf("the refusal page's lang is %q, want fr", l)
		}
	})
}
