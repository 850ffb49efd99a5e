package testnet

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"parley/media/signal"
	"parley/node"
)

// TestBrowserCrowdedLobby: 200 people knock at once; the moderator's page lists them all
// from incremental updates, stays responsive (a frame is drawn and a click answered), shows
// no wall of toasts, and admits one of them.
func TestBrowserCrowdedLobby(t *testing.T) { forEachBrowser(t, testBrowserCrowdedLobby) }

func testBrowserCrowdedLobby(t *testing.T, kind string) {
	const crowd = 200
	n := StartNodeWith(t, "crowd", func(c *node.Config) {
		c.MaxLobby = crowd
		c.MaxSessionsPerAddress = 1000
	})
	room, err := n.Node.NewRoom(node.RoomOptions{Title: "Town hall", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}
	mod := NewBrowserOf(t, kind, "Mod")
	mod.Open(n.Node.ModeratorURL(room.ID) + "&name=" + url.QueryEscape("Mod"))
	mod.Click(`[data-testid=join]`)
	waitE2EEStatus(t, mod, "encrypted", e2eeStatusWait)
	openPeoplePanel(t, mod)

	knocks := make([]*RawSignal, crowd)
	var wg sync.WaitGroup
	errs := make(chan error, crowd)
	start := time.Now()
	for i := range knocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, err := dialSignal(n.URL(), room.ID)
			if err != nil {
				errs <- err
				return
			}
			r := &RawSignal{t: t, conn: s}
			knocks[i] = r
			if err := r.SendMessage(JoinMessage(t, fmt.Sprintf("Knock %03d", i))); err != nil {
				errs <- err
				return
			}
			if _, err := r.Next(20*time.Second, func(m *signal.Message) bool { return m.Type == signal.TypeLobby }); err != nil {
				errs <- fmt.Errorf("knock %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, k := range knocks {
			k.CloseNow()
		}
	})
	Eventually(t, 20*time.Second, "the moderator's page lists everyone waiting", func() error {
		got, err := Eval[int](mod, `document.querySelectorAll('#waiting li').length`)
		if err == nil && got != crowd {
			err = fmt.Errorf("%d listed", got)
		}
		return err
	})
	listed := time.Since(start)
	// Responsive: a frame is drawn and the page answers within a second.
	t0 := time.Now()
	if _, err := Eval[bool](mod, `new Promise((resolve) => requestAnimationFrame(() => resolve(true)))`); err != nil {
		t.Fatal(err)
	}
	frame := time.Since(t0)
	if frame > 2*time.Second {
		t.Errorf("the moderator's page took %v to draw a frame with %d people waiting", frame, crowd)
	}
	if toasts, err := Eval[int](mod, `document.querySelectorAll('#toasts .toast').length`); err != nil || toasts > 3 {
		t.Errorf("%d toasts for %d knocks (%v), want at most 3", toasts, crowd, err)
	}
	id := waitLobbyKnock(t, mod, "Knock 100", 10*time.Second)
	mod.Click(fmt.Sprintf(`[data-testid=lobby-admit][data-id=%q]`, id))
	if _, err := knocks[100].Next(15*time.Second, func(m *signal.Message) bool { return m.Type == signal.TypeJoined }); err != nil {
		t.Fatalf("the admitted knock: %v", err)
	}
	Eventually(t, 10*time.Second, "the admitted one leaves the list", func() error {
		got, err := Eval[int](mod, `document.querySelectorAll('#waiting li').length`)
		if err == nil && got != crowd-1 {
			err = fmt.Errorf("%d listed", got)
		}
		return err
	})
	t.Logf("%d knocks listed on the moderator's page %v after they started; a frame then took %v", crowd, listed.Round(time.Millisecond), frame.Round(time.Millisecond))
}
