package testnet

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"parley/media/client"
	"parley/node"
)

// axeViolation is one rule axe-core found broken on a page.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeCheck runs axe-core's WCAG 2.1 A and AA rules on b's page as it is now and fails the
// test on any serious or critical violation.
func axeCheck(t *testing.T, b *Browser, screen string) {
	t.Helper()
	src, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	// A fade in progress blends colours: judge the page once its finite animations are done.
	b.waitJS("animations settled", `document.getAnimations().every((a) => a.playState !== 'running' || a.effect.getTiming().iterations === Infinity)`, 10*time.Second)
	if _, err := Eval[bool](b, `(() => { if (!window.axe) { (0, eval)(`+jsString(string(src))+`); } return !!window.axe; })()`); err != nil {
		t.Fatalf("%s: load axe-core: %v", screen, err)
	}
	vs, err := Eval[[]axeViolation](b, `(async () => {
		const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
		return r.violations.map((v) => ({id: v.id, impact: v.impact || '', help: v.help,
			targets: v.nodes.slice(0, 5).map((n) => String(n.target))}));
	})()`)
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", screen, err)
	}
	var serious []string
	for _, v := range vs {
		line := fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, " | "))
		if v.Impact == "serious" || v.Impact == "critical" {
			serious = append(serious, line)
		} else {
			t.Logf("%s: %s", screen, line)
		}
	}
	if len(serious) > 0 {
		t.Errorf("%s: %d serious accessibility violations:\n%s", screen, len(serious), strings.Join(serious, "\n"))
	}
}

// checkScreen runs axeCheck on b's page and, in French, noEnglish.
func checkScreen(t *testing.T, b *Browser, lang, screen string) {
	t.Helper()
	axeCheck(t, b, lang+" "+screen)
	if lang == "fr" {
		noEnglish(t, b, lang+" "+screen)
	}
}

// TestBrowserAccessibility: axe-core finds no serious violation of WCAG 2.1 A/AA on the home
// page, the accessibility statement, the prejoin, the lobby, the meeting with its People
// panel and the screen after leaving, in English and in French.
func TestBrowserAccessibility(t *testing.T) {
	n := StartNode(t, "Ministère de l'Accessibilité")
	room := n.CreateRoom("Accessible")
	lobby, err := n.Node.NewRoom(nodeRoomOptions("Salle d'attente", true))
	if err != nil {
		t.Fatal(err)
	}
	forEachBrowser(t, func(t *testing.T, kind string) {
		for _, lang := range []string{"en", "fr"} {
			b := NewBrowserOf(t, kind, "Reader-"+lang)
			b.Open(n.URL() + "/")
			if _, err := Eval[bool](b, `(localStorage.setItem('parley.language', '`+lang+`'), true)`); err != nil {
				t.Fatal(err)
			}
			b.Open(n.URL() + "/")
			b.WaitVisible(`#join-title`, 15*time.Second)
			checkScreen(t, b, lang, "home")
			b.Click(`.home-foot a`)
			b.WaitVisible(`#a11y-title`, 15*time.Second)
			checkScreen(t, b, lang, "accessibility statement")
			b.OpenRoom(n.URL(), room.ID, "Lecteur")
			b.WaitVisible(`[data-testid=join]`, 15*time.Second)
			checkScreen(t, b, lang, "prejoin")
			b.Click(`[data-testid=join]`)
			b.WaitVisible(`[data-testid=leave]`, 20*time.Second)
			b.Click(`#ctl-people`)
			b.WaitVisible(`#people li`, 10*time.Second)
			checkScreen(t, b, lang, "meeting")
			b.Click(`[data-testid=leave]`)
			b.WaitVisible(`#rejoin`, 10*time.Second)
			checkScreen(t, b, lang, "left")
			b.OpenRoom(n.URL(), lobby.ID, "Visiteur")
			b.Click(`[data-testid=join]`)
			b.WaitVisible(`[data-testid=lobby-waiting]`, 20*time.Second)
			checkScreen(t, b, lang, "lobby")
		}
	})
}

func nodeRoomOptions(title string, lobby bool) node.RoomOptions {
	return node.RoomOptions{Title: title, Lobby: lobby}
}

// TestBrowserModeratorAccessibility: what only moderators see passes the same check: the
// People panel with the lobby (admit, deny) and each participant's actions (mute, remove),
// the moderator's room-wide buttons, the reactions picker, the end-meeting dialog, the
// devices dialog and the shortcuts dialog, in English and in French.
func TestBrowserModeratorAccessibility(t *testing.T) {
	n := StartNode(t, "Ministère de l'Accessibilité")
	room, err := n.Node.NewRoom(nodeRoomOptions("Modération accessible", true))
	if err != nil {
		t.Fatal(err)
	}
	modURL, err := url.Parse(n.Node.ModeratorURL(room.ID))
	if err != nil {
		t.Fatal(err)
	}
	// Paul is in the meeting (let in by his own moderator link); Visiteur waits in the lobby.
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	paul, err := client.Join(ctx, client.Config{URL: n.URL(), Room: room.ID, Name: "Paul", Moderator: modURL.Query().Get("mod"),
		Publish: client.Publish{Audio: true}, Logger: TestLogger(t).With("client", "Paul")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = paul.Close() })
	knock := DialSignal(t, n.URL(), room.ID)
	if err := knock.SendMessage(JoinMessage(t, "Visiteur")); err != nil {
		t.Fatal(err)
	}

	forEachBrowser(t, func(t *testing.T, kind string) {
		for _, lang := range []string{"en", "fr"} {
			b := NewBrowserOf(t, kind, "Moderator-"+lang)
			b.Open(n.URL() + "/")
			if _, err := Eval[bool](b, `(localStorage.setItem('parley.language', '`+lang+`'), true)`); err != nil {
				t.Fatal(err)
			}
			b.Open(n.Node.ModeratorURL(room.ID) + "&name=Claire")
			b.Click(`[data-testid=join]`)
			b.WaitVisible(`[data-testid=leave]`, 20*time.Second)
			b.Click(`#ctl-people`)
			b.WaitVisible(`[data-testid=lobby-admit]`, 20*time.Second)
			b.WaitVisible(`[data-testid=mute-all]`, 10*time.Second)
			b.WaitVisible(`[data-testid=remove]`, 20*time.Second)
			checkScreen(t, b, lang, "moderator's People panel")
			b.Click(`[data-testid=react]`)
			b.WaitVisible(`[data-testid=reaction]`, 10*time.Second)
			checkScreen(t, b, lang, "reactions picker")
			b.Press("Escape")
			b.Click(`[data-testid=end-meeting]`)
			b.waitJS("the end-meeting dialog", `document.getElementById('end-dialog').open`, 10*time.Second)
			checkScreen(t, b, lang, "end-meeting dialog")
			b.Press("Escape")
			b.waitJS("the end-meeting dialog closed", `!document.getElementById('end-dialog').open`, 10*time.Second)
			b.Click(`#ctl-settings`)
			b.waitJS("the devices dialog", `document.getElementById('settings').open`, 10*time.Second)
			checkScreen(t, b, lang, "devices dialog")
			b.Click(`[data-testid=shortcuts]`)
			b.waitJS("the shortcuts dialog", `document.getElementById('shortcuts').open`, 10*time.Second)
			checkScreen(t, b, lang, "shortcuts dialog")
			b.Close()
		}
	})
}
