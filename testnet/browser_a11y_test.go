package testnet

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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
			axeCheck(t, b, lang+" home")
			b.Click(`.home-foot a`)
			b.WaitVisible(`#a11y-title`, 15*time.Second)
			axeCheck(t, b, lang+" accessibility statement")
			b.OpenRoom(n.URL(), room.ID, "Lecteur")
			b.WaitVisible(`[data-testid=join]`, 15*time.Second)
			axeCheck(t, b, lang+" prejoin")
			b.Click(`[data-testid=join]`)
			b.WaitVisible(`[data-testid=leave]`, 20*time.Second)
			b.Click(`#ctl-people`)
			b.WaitVisible(`#people li`, 10*time.Second)
			axeCheck(t, b, lang+" meeting")
			b.Click(`[data-testid=leave]`)
			b.WaitVisible(`#rejoin`, 10*time.Second)
			axeCheck(t, b, lang+" left")
			b.OpenRoom(n.URL(), lobby.ID, "Visiteur")
			b.Click(`[data-testid=join]`)
			b.WaitVisible(`[data-testid=lobby-waiting]`, 20*time.Second)
			axeCheck(t, b, lang+" lobby")
		}
	})
}

func nodeRoomOptions(title string, lobby bool) node.RoomOptions {
	return node.RoomOptions{Title: title, Lobby: lobby}
}
