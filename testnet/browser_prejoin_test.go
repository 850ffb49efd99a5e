package testnet

import (
	"errors"
	"testing"
	"time"
)

// TestBrowserPrejoinStill: in both browsers the Join button does not move from the moment it
// is on screen until the room and the devices have loaded, so a click aimed at it lands on
// it.
func TestBrowserPrejoinStill(t *testing.T) {
	n := StartNode(t, "prejoin")
	room := n.CreateRoom("A meeting with a long title that may not fit on one line of the prejoin screen")
	for _, kind := range BrowserKinds {
		t.Run(kind, func(t *testing.T) {
			RequireBrowser(t, kind)
			b := NewBrowserOf(t, kind, "Ada")
			// Record the button's box on every frame from the first script that runs.
			if err := b.AddInitScript(`window.__joinBoxes = new Set();
				const watch = () => {
					const j = document.querySelector('[data-testid=join]');
					if (j) { const r = j.getBoundingClientRect(); if (r.width > 0) window.__joinBoxes.add([r.x, r.y, r.width, r.height].join(',')); }
					requestAnimationFrame(watch);
				};
				requestAnimationFrame(watch);`); err != nil {
				t.Fatal(err)
			}
			b.OpenRoom(n.URL(), room.ID, "Ada")
			Eventually(t, 15*time.Second, "devices listed and the title shown", func() error {
				ok, err := Eval[bool](b, `document.querySelector('#sel-camera').options.length > 0 &&
					document.querySelector('#sel-speaker').options.length > 0 &&
					document.querySelector('#prejoin-title').textContent.startsWith('A meeting')`)
				if err == nil && !ok {
					err = errors.New("not yet")
				}
				return err
			})
			boxes, err := Eval[[]string](b, `new Promise((r) => setTimeout(() => r([...window.__joinBoxes]), 500))`)
			if err != nil {
				t.Fatal(err)
			}
			if len(boxes) != 1 {
				t.Errorf("the Join button was at %d places while the prejoin loaded: %q", len(boxes), boxes)
			}
		})
	}
}
