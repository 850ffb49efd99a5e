package testnet

import (
	"strings"
	"testing"
	"time"

	"parley/node/auth/testprovider"
)

// TestBrowserRoles: Camille signs in and starts a meeting; Dominique, signed in too, joins
// at once; a guest waits in the lobby until Camille admits them. Everyone sees who is
// verified and who is a guest. Camille makes Dominique a co-host, who mutes the guest (the
// guest's client turns its microphone off). A reaction floats over Camille's tile for the
// others. Camille ends the meeting for all, and signs out. A forged session cookie and a
// forged sign-in answer are refused with a page that says so.
func TestBrowserRoles(t *testing.T) {
	n, _ := signInNode(t,
		testprovider.Account{Username: "camille", Password: "pw-camille", GivenName: "Camille", Family: "Martin",
			Email: "camille.martin@interieur.gouv.fr"},
		testprovider.Account{Username: "dominique", Password: "pw-dominique", GivenName: "Dominique", Family: "Bernard",
			Email: "dominique.bernard@interieur.gouv.fr"})

	forEachBrowser(t, func(t *testing.T, kind string) {
		camille := NewBrowserOf(t, kind, "Camille")
		signIn(camille, n, "camille", "pw-camille", "Camille Martin")
		camille.Click(`[data-testid=new-meeting]`)
		camille.WaitVisible(`[data-testid=join]`, 20*time.Second)
		path, err := Eval[string](camille, `location.pathname`)
		if err != nil || !strings.HasPrefix(path, "/r/") {
			t.Fatalf("after New meeting Camille is at %q (%v)", path, err)
		}
		waitSignedInName(camille, "Camille Martin")
		camille.Click(`[data-testid=join]`)
		camille.WaitVisible(`.tile[data-pid=self][data-verified=true]`, 20*time.Second)

		dominique := NewBrowserOf(t, kind, "Dominique")
		signIn(dominique, n, "dominique", "pw-dominique", "Dominique Bernard")
		dominique.Open(n.URL() + path)
		waitSignedInName(dominique, "Dominique Bernard")
		dominique.Click(`[data-testid=join]`)
		dominique.WaitVisible(`.tile[data-pid=self][data-verified=true]`, 20*time.Second)

		// The guest waits: the meeting lets guests in through the lobby.
		guest := NewBrowserOf(t, kind, "Guest")
		guest.Open(n.URL() + path + "?name=" + "Visiteur%20Externe")
		guest.Click(`[data-testid=join]`)
		guest.WaitVisible(`[data-testid=lobby-waiting]`, 20*time.Second)
		camille.Click(`#ctl-people`)
		camille.WaitVisible(`[data-testid=lobby-admit]`, 20*time.Second)
		guestID := waitString(t, camille, `document.querySelector('[data-testid=lobby-admit]').dataset.id`)
		camille.Click(`[data-testid=lobby-admit]`)
		guest.WaitVisible(`.tile[data-pid=self][data-guest=true]`, 20*time.Second)
		dominiqueID := waitString(t, camille, tileOf("Dominique Bernard"))
		camilleID := waitString(t, guest, tileOf("Camille Martin"))

		// Everyone sees who is verified (from their certificates) and who is a guest.
		for _, b := range []*Browser{camille, dominique} {
			b.WaitVisible(`.tile[data-pid="`+guestID+`"][data-guest=true]`, 20*time.Second)
		}
		camille.WaitVisible(`.tile[data-pid="`+dominiqueID+`"][data-verified=true]`, 20*time.Second)
		guest.WaitVisible(`.tile[data-pid="`+camilleID+`"][data-verified=true]`, 20*time.Second)
		guest.WaitVisible(`.tile[data-pid="`+dominiqueID+`"][data-verified=true]`, 20*time.Second)

		// Only moderators get moderator controls; the owner makes Dominique a co-host.
		if visible, _ := Eval[bool](dominique, `!document.getElementById('moderator-tools').hidden`); visible {
			t.Fatal("Dominique has moderator tools before being made a co-host")
		}
		peopleSettled(camille, dominiqueID, guestID)
		camille.Click(`[data-testid=make-cohost][data-id="` + dominiqueID + `"]`)
		dominique.Click(`#ctl-people`)
		dominique.WaitVisible(`[data-testid=mute-all]`, 20*time.Second)
		camille.WaitGone(`[data-testid=make-cohost][data-id="`+dominiqueID+`"]`, 20*time.Second)

		// The co-host mutes the guest; the guest's client obeys.
		guest.waitJS("the guest's microphone on", `document.querySelector('[data-testid=mic]').getAttribute('aria-pressed') === 'true'`, 10*time.Second)
		peopleSettled(dominique, camilleID, guestID)
		dominique.Click(`[data-testid=mute][data-id="` + guestID + `"]`)
		guest.waitJS("the guest's microphone muted by the co-host", `document.querySelector('[data-testid=mic]').getAttribute('aria-pressed') === 'false'`, 20*time.Second)
		camille.WaitVisible(`.tile[data-pid="`+guestID+`"] .mic-state`, 20*time.Second)

		// A reaction floats over the sender's tile for the others.
		camille.Click(`[data-testid=react]`)
		camille.Click(`[data-testid=reaction][data-reaction=clap]`)
		guest.WaitVisible(`.tile[data-pid="`+camilleID+`"] [data-testid=reaction-float][data-reaction=clap]`, 10*time.Second)

		// Ending the meeting sends everyone away for good.
		camille.Click(`[data-testid=end-meeting]`)
		camille.Click(`[data-testid=end-confirm]`)
		for _, b := range []*Browser{dominique, guest, camille} {
			b.WaitText(`#left-title`, "The meeting is over", 20*time.Second)
			if rejoin, _ := Eval[bool](b, `!document.getElementById('rejoin').hidden`); rejoin {
				t.Errorf("%s is offered to rejoin an ended meeting", b.name)
			}
		}

		// Sign out.
		camille.Open(n.URL() + "/")
		camille.Click(`[data-testid=sign-out]`)
		camille.WaitVisible(`[data-testid=sign-in]`, 20*time.Second)

		// A forged session cookie is no session; a forged sign-in answer gets a page that says why.
		guest.Open(n.URL() + "/")
		if _, err := Eval[bool](guest, `(document.cookie = 'parley_session=forged-forged-forged-forged-forged-forged; path=/', true)`); err != nil {
			t.Fatal(err)
		}
		guest.Open(n.URL() + "/")
		guest.WaitVisible(`[data-testid=sign-in]`, 20*time.Second)
		guest.Open(n.URL() + "/auth/callback?state=forged-state-forged-state-forged-state-1234&code=forged")
		guest.waitJS("a page refusing the forged sign-in", `/sign-in|sign in/i.test(document.body.innerText) && /expired|unknown|not valid|again/i.test(document.body.innerText)`, 10*time.Second)
	})
}

// peopleSettled waits until b's People panel has stopped changing shape and nothing covers
// it: nobody waits in the lobby, each of ids is marked verified or guest from their
// certificate, every safety code is computed, and no toast (which comes and goes over the
// page's top) is showing. Buttons do not move or hide under the pointer after that.
func peopleSettled(b *Browser, ids ...string) {
	b.t.Helper()
	var checks []string
	for _, id := range ids {
		li := `document.querySelector('#people li[data-pid="` + id + `"]')`
		checks = append(checks, `(`+li+` && `+li+`.querySelector('.ptag.verified, .ptag.guest') && !/…/.test(`+li+`.querySelector('.safety-code').textContent))`)
	}
	b.waitJS("the People panel settled", `document.getElementById('lobby-section').hidden && `+
		`document.querySelectorAll('#toasts .toast').length === 0 && `+strings.Join(checks, " && "), 30*time.Second)
}

// waitSignedInName waits until the prejoin shows the signed-in person's name, read-only.
func waitSignedInName(b *Browser, name string) {
	b.t.Helper()
	b.waitJS("the name filled in from the sign-in", `document.querySelector('#name').value === `+jsString(name)+
		` && document.querySelector('#name').readOnly`, 10*time.Second)
}

// tileOf is a JavaScript expression for the participant id of the remote tile named name.
func tileOf(name string) string {
	return `([...document.querySelectorAll('.tile:not([data-pid=self])')].find((t) => t.getAttribute('aria-label') === ` +
		jsString(name) + `) || {dataset: {}}).dataset.pid`
}

// waitString waits for a JavaScript expression to give a non-empty string.
func waitString(t *testing.T, b *Browser, js string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := Eval[string](b, `(() => { try { return String(`+js+` || ''); } catch (e) { return ''; } })()`)
		if err == nil && s != "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser %s: %s stayed empty (%v)", b.name, js, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
