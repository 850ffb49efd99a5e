package testnet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/media/client"
	"parley/media/signal"
	"parley/node"
)

// The web client's end-to-end encryption through its test contract: [data-testid=e2ee-status]
// says "encrypted" once every remote participant's frames decrypt; safety codes in the People
// panel; [data-testid=lobby-admit] and [data-testid=remove] for moderators.

const (
	e2eeMediaWait  = 45 * time.Second
	e2eeStatusWait = 30 * time.Second
)

// TestBrowserE2EE holds an end-to-end encrypted meeting between two Chromiums: each sees the
// other's camera decrypted, says "encrypted", shows the same safety code for the other, and
// reads the other's chat; chat from before a participant joined shows locked. Alice's page
// transforms frames with RTCRtpScriptTransform; Bob's is made to go without it and falls
// back to encoded insertable streams.
func TestBrowserE2EE(t *testing.T) {
	RequireChromium(t)
	n := StartNode(t, "e2ee")
	room := n.CreateRoom("Encrypted meeting")

	alice := NewBrowser(t, "Alice")
	bob := NewBrowser(t, "Bob")
	withoutScriptTransform(t, bob)

	alice.OpenRoom(n.URL(), room.ID, "Alice")
	uiScreenshot(t, alice, "prejoin")
	alice.Click(`[data-testid=join]`)
	waitE2EEStatus(t, alice, "encrypted", e2eeStatusWait) // alone: her own key is in use
	const early = "Before Bob arrives"
	openChat(t, alice)
	alice.Type(`[data-testid=chat-input]`, early+"\n")
	alice.WaitText(`[data-testid=chat-log]`, "Alice: "+early, 10*time.Second)

	bob.Join(n.URL(), room.ID, "Bob")
	if kind, err := Eval[string](bob, `typeof RTCRtpScriptTransform`); err != nil || kind != "undefined" {
		t.Fatalf("browser Bob still has RTCRtpScriptTransform (%q, %v)", kind, err)
	}
	bob.WaitVideoPlaying(`video[data-participant-name="Alice"]`, e2eeMediaWait)
	alice.WaitVideoPlaying(`video[data-participant-name="Bob"]`, e2eeMediaWait)
	waitE2EEStatus(t, alice, "encrypted", e2eeStatusWait)
	waitE2EEStatus(t, bob, "encrypted", e2eeStatusWait)

	// Alice's early message was sent under a key Bob never held.
	openChat(t, bob)
	bob.WaitText(`[data-testid=chat-log]`, "Alice: 🔒 sent before you joined", 10*time.Second)
	const text = "Only we can read this"
	bob.Type(`[data-testid=chat-input]`, text+"\n")
	alice.WaitText(`[data-testid=chat-log]`, "Bob: "+text, 10*time.Second)
	bob.WaitText(`[data-testid=chat-log]`, "Bob: "+text, 10*time.Second)

	// Both compute the same safety code for the pair.
	aCode := shownSafetyCode(t, alice, "Bob")
	bCode := shownSafetyCode(t, bob, "Alice")
	if aCode != bCode {
		t.Errorf("safety codes differ: Alice sees %q for Bob, Bob sees %q for Alice", aCode, bCode)
	}
	uiScreenshot(t, alice, "meeting-people")
	noUndecryptableTiles(t, alice)
	noUndecryptableTiles(t, bob)

	// A browser with no way to transform frames is refused before it can send anything.
	hideInPages(t, bob, `delete RTCRtpSender.prototype.createEncodedStreams;`)
	bob.OpenRoom(n.URL(), room.ID, "Bob")
	bob.WaitText(`#refusal`, "it lacks encoded frame transforms", 10*time.Second)
	if disabled, err := Eval[bool](bob, `document.querySelector('[data-testid=join]').disabled`); err != nil || !disabled {
		t.Errorf("browser Bob can still join without frame encryption (disabled=%v, %v)", disabled, err)
	}
}

// TestBrowserE2EEGoClient puts the Go client and a browser in one room: each decrypts the
// other's audio and video, and reads the other's chat.
func TestBrowserE2EEGoClient(t *testing.T) { forEachBrowser(t, testBrowserE2EEGoClient) }

func testBrowserE2EEGoClient(t *testing.T, kind string) {
	n := StartNode(t, "e2ee-go")
	room := n.CreateRoom("Go and browser")

	gopher := n.Join(t, room.ID, "Gopher", client.Publish{Audio: true, Video: true})
	browser := NewBrowserOf(t, kind, "Ada")
	browser.Join(n.URL(), room.ID, "Ada")

	browser.WaitVideoPlaying(`video[data-participant-name="Gopher"]`, e2eeMediaWait)
	waitE2EEStatus(t, browser, "encrypted", e2eeStatusWait)

	adaID := waitParticipantID(t, gopher, "Ada", 10*time.Second)
	deadline := time.Now().Add(e2eeMediaWait)
	for {
		audio, aok := FindTrack(gopher, adaID, signal.SourceMic)
		video, vok := FindTrack(gopher, adaID, signal.SourceCamera)
		if aok && vok && audio.Decrypted > 20 && video.Decrypted > 20 {
			t.Logf("Gopher decrypted %d audio and %d video frames from Ada (%d and %d undecryptable)",
				audio.Decrypted, video.Decrypted, audio.Undecryptable, video.Undecryptable)
			// Frames sent under an older key while the newcomer waits for the new one are
			// expected to fail briefly; afterwards everything decrypts.
			if video.Undecryptable*2 > video.Decrypted || audio.Undecryptable*2 > audio.Decrypted {
				t.Errorf("too many undecryptable frames: audio %d/%d, video %d/%d",
					audio.Undecryptable, audio.Decrypted, video.Undecryptable, video.Decrypted)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Gopher does not decrypt Ada's media: %s", describeDecryption(gopher))
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := gopher.SendChat("Hello from Go"); err != nil {
		t.Fatalf("Gopher's chat: %v", err)
	}
	openChat(t, browser)
	browser.WaitText(`[data-testid=chat-log]`, "Gopher: Hello from Go", 10*time.Second)
	browser.Type(`[data-testid=chat-input]`, "Hello from the browser\n")
	Eventually(t, 10*time.Second, "Gopher reads Ada's chat", func() error {
		if !HasChat(gopher, "Ada", "Hello from the browser") {
			return fmt.Errorf("chat is %+v", gopher.Chat())
		}
		return nil
	})
	uiScreenshot(t, browser, "go-client")
}

// TestBrowserLobby: a moderator (a browser on the moderator link) turns a browser away from
// the lobby, admits it when it knocks again, and removes it from the meeting.
func TestBrowserLobby(t *testing.T) { forEachBrowser(t, testBrowserLobby) }

func testBrowserLobby(t *testing.T, kind string) {
	n := StartNode(t, "lobby")
	room, err := n.Node.NewRoom(node.RoomOptions{Title: "Lobby meeting", Lobby: true})
	if err != nil {
		t.Fatal(err)
	}

	mod := NewBrowserOf(t, kind, "Mod")
	guest := NewBrowserOf(t, kind, "Guest")
	mod.Open(n.Node.ModeratorURL(room.ID) + "&name=" + url.QueryEscape("Mod"))
	if loc, err := Eval[string](mod, `location.href`); err != nil || strings.Contains(loc, "mod=") {
		t.Errorf("the moderator token stays in the address bar: %q (%v)", loc, err)
	}
	mod.Click(`[data-testid=join]`)
	waitE2EEStatus(t, mod, "encrypted", e2eeStatusWait)

	// The guest knocks and is turned away.
	guest.Join(n.URL(), room.ID, "Guest")
	guest.WaitText(`#lobby`, "Waiting for a moderator to let you in", 15*time.Second)
	id := waitLobbyKnock(t, mod, "Guest", 15*time.Second)
	uiScreenshot(t, mod, "lobby-moderator")
	uiScreenshot(t, guest, "lobby-guest")
	mod.Click(fmt.Sprintf(`[data-testid=lobby-deny][data-id=%q]`, id))
	guest.WaitText(`#left`, "A moderator did not let you in", 10*time.Second)
	mod.WaitGone(`[data-testid=lobby-admit]`, 5*time.Second)

	// The guest knocks again and is admitted; both decrypt each other.
	guest.Join(n.URL(), room.ID, "Guest")
	guestID := waitLobbyKnock(t, mod, "Guest", 15*time.Second)
	mod.Click(fmt.Sprintf(`[data-testid=lobby-admit][data-id=%q]`, guestID))
	guest.WaitVideoPlaying(`video[data-participant-name="Mod"]`, e2eeMediaWait)
	mod.WaitVideoPlaying(`video[data-participant-name="Guest"]`, e2eeMediaWait)
	waitE2EEStatus(t, guest, "encrypted", e2eeStatusWait)
	waitE2EEStatus(t, mod, "encrypted", e2eeStatusWait)

	// The moderator removes the guest, who is told so; the moderator's page drops them.
	openPeoplePanel(t, mod)
	mod.Click(fmt.Sprintf(`[data-testid=remove][data-id=%q]`, guestID))
	guest.WaitText(`#left`, "A moderator removed you from the meeting", 10*time.Second)
	mod.WaitGone(`video[data-participant-name="Guest"]`, 10*time.Second)
	waitE2EEStatus(t, mod, "encrypted", e2eeStatusWait)
	uiScreenshot(t, guest, "removed")
}

// TestBrowserUndecryptable: a Go participant that refuses the browser's certificate never
// sends it a key; the browser shows that it cannot decrypt that participant's media instead
// of showing anything of it, and its status says so.
func TestBrowserUndecryptable(t *testing.T) { forEachBrowser(t, testBrowserUndecryptable) }

func testBrowserUndecryptable(t *testing.T, kind string) {
	n := StartNode(t, "undecryptable")
	room := n.CreateRoom("Broken keys")

	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	gopher, err := client.Join(ctx, client.Config{
		URL: n.URL(), Room: room.ID, Name: "Gopher", Publish: client.Publish{Audio: true, Video: true},
		Logger: TestLogger(t).With("client", "Gopher"),
		// Gopher drops the browser's certificate, so it takes the browser for someone it
		// cannot verify and never addresses a key to it.
		OnMessage: func(m *signal.Message) {
			if m.Type == signal.TypeParticipantJoined && m.Participant != nil && m.Participant.Name == "Ada" {
				m.Participant.Cert = nil
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gopher.Close() })

	ada := NewBrowserOf(t, kind, "Ada")
	ada.Join(n.URL(), room.ID, "Ada")
	ada.WaitText(`.tile:has(video[data-participant-name="Gopher"]) [data-testid=undecryptable]`,
		"Cannot decrypt Gopher's media", e2eeMediaWait)
	waitE2EEStatus(t, ada, "not decrypting: Gopher", e2eeStatusWait)
	state, err := ada.Video(`video[data-participant-name="Gopher"]`)
	if err != nil || state.Frames > 0 {
		t.Errorf("Ada's page shows frames of Gopher's video it cannot have decrypted: %+v (%v)", state, err)
	}
	uiScreenshot(t, ada, "undecryptable")
}

// withoutScriptTransform hides RTCRtpScriptTransform from every page b opens from now on, as
// in a browser that has only encoded insertable streams.
func withoutScriptTransform(t *testing.T, b *Browser) {
	t.Helper()
	hideInPages(t, b, `delete window.RTCRtpScriptTransform;`)
}

// hideInPages runs script in every page b opens from now on, before the page's own scripts.
func hideInPages(t *testing.T, b *Browser, script string) {
	t.Helper()
	if err := b.AddInitScript(script); err != nil {
		t.Fatalf("browser %s: add a script to new pages: %v", b.name, err)
	}
}

// waitE2EEStatus waits until the page's [data-testid=e2ee-status] text is exactly want.
func waitE2EEStatus(t *testing.T, b *Browser, want string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		text, err := b.Text(`[data-testid=e2ee-status]`)
		if err == nil && text == want {
			t.Logf("browser %s: e2ee-status %q after %v", b.name, want, time.Since(start).Round(time.Millisecond))
			return
		}
		last = text
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("browser %s: e2ee-status is %q after %v, want %q", b.name, last, timeout, want)
}

// openPeople opens the People panel if it is not open.
func openPeoplePanel(t *testing.T, b *Browser) {
	t.Helper()
	if ok, err := Eval[bool](b, `!document.getElementById('people-pane').hidden && !document.getElementById('panel').hidden`); err == nil && ok {
		return
	}
	b.Click(`#ctl-people`)
	b.WaitVisible(`#people-pane`, 5*time.Second)
}

// shownSafetyCode returns the safety code b shows for the participant named name.
func shownSafetyCode(t *testing.T, b *Browser, name string) string {
	t.Helper()
	openPeoplePanel(t, b)
	js := `(() => {
		for (const li of document.querySelectorAll('#people li')) {
			const n = li.querySelector('.pname');
			const c = li.querySelector('[data-testid=safety-code]');
			if (n && c && n.textContent === ` + jsString(name) + `) return c.textContent;
		}
		return '';
	})()`
	var code string
	Eventually(t, 10*time.Second, "a safety code for "+name+" in "+b.name+"'s People panel", func() error {
		c, err := Eval[string](b, js)
		code = c
		if err == nil && len(c) != 14 {
			err = fmt.Errorf("it shows %q", c)
		}
		return err
	})
	for i, r := range code {
		if (i == 4 || i == 9) != (r == ' ') || (r != ' ' && (r < '0' || r > '9')) {
			t.Fatalf("browser %s: safety code %q is not 12 digits in groups of four", b.name, code)
		}
	}
	return code
}

// waitLobbyKnock waits until moderator page b lists name among the people waiting, with a
// lobby-admit button, and returns that button's data-id.
func waitLobbyKnock(t *testing.T, b *Browser, name string, timeout time.Duration) string {
	t.Helper()
	openPeoplePanel(t, b)
	js := `(() => {
		for (const li of document.querySelectorAll('#waiting li')) {
			const n = li.querySelector('.pname');
			const a = li.querySelector('[data-testid=lobby-admit]');
			if (n && a && n.textContent === ` + jsString(name) + `) return a.dataset.id || '';
		}
		return '';
	})()`
	var id string
	Eventually(t, timeout, name+" in "+b.name+"'s lobby list", func() error {
		v, err := Eval[string](b, js)
		id = v
		if err == nil && v == "" {
			err = errors.New("not listed")
		}
		return err
	})
	return id
}

// noUndecryptableTiles fails the test if b shows a "cannot decrypt" state on any tile.
func noUndecryptableTiles(t *testing.T, b *Browser) {
	t.Helper()
	n, err := Eval[int](b, `[...document.querySelectorAll('[data-testid=undecryptable]')].filter((e) => !e.hidden).length`)
	if err != nil || n != 0 {
		t.Errorf("browser %s: %d tiles say they cannot decrypt (%v)", b.name, n, err)
	}
}

// waitParticipant waits until c sees a participant named name and returns its id.
func waitParticipantID(t *testing.T, c *client.Client, name string, timeout time.Duration) string {
	t.Helper()
	var id string
	Eventually(t, timeout, "participant "+name, func() error {
		var ok bool
		if id, ok = ParticipantID(c, name); !ok {
			return fmt.Errorf("participants are %v", ParticipantNames(c))
		}
		return nil
	})
	return id
}

// describeDecryption summarises what c decrypts, for failure messages.
func describeDecryption(c *client.Client) string {
	var parts []string
	for _, tr := range c.Tracks() {
		parts = append(parts, fmt.Sprintf("%s/%s pkts=%d decrypted=%d undecryptable=%d unknown_key=%d",
			tr.Participant, tr.Source, tr.Packets, tr.Decrypted, tr.Undecryptable, tr.UnknownKey))
	}
	if len(parts) == 0 {
		return "no tracks"
	}
	return strings.Join(parts, "; ")
}

// uiScreenshot saves PNGs of b's page, wide (NAME.png) and phone-sized (NAME-narrow.png), in
// $PARLEY_SCREENSHOTS when that is set, to look at the web client.
func uiScreenshot(t *testing.T, b *Browser, name string) {
	t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	c, ok := b.d.(*chromium)
	if !ok {
		return // viewport emulation is Chromium's
	}
	ctx, cancel := context.WithTimeout(c.ctx, browserActionTime)
	defer cancel()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"", 1280, 800}, {"-narrow", 390, 844}} {
		err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h), chromedp.Sleep(400*time.Millisecond))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.CaptureScreenshot())
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+v.suffix+".png"), png, 0o644)
		}
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		t.Logf("screenshot %s: reset the viewport: %v", name, err)
	}
}

// TestBrowserKeySchedule runs the web client's key schedule and decryption monitor (pure
// state machines, with a fake clock) in Chromium.
func TestBrowserKeySchedule(t *testing.T) { forEachBrowser(t, testBrowserKeySchedule) }

func testBrowserKeySchedule(t *testing.T, kind string) {
	n := StartNode(t, "schedule")
	b := NewBrowserOf(t, kind, "schedule")
	b.Open(n.URL() + "/healthz")
	failures, err := Eval[[]string](b, `(async () => {
		const ks = await import('/static/keyschedule.js');
		const st = await import('/static/e2ee-status.js');
		const fail = [];
		const eq = (what, got, want) => {
			if (JSON.stringify(got) !== JSON.stringify(want)) fail.push(what + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
		};
		const kid = (a) => a ? a.kid : null;
		const T = 5 * 65536;

		let n = 0;
		const s = new ks.KeySchedule(5, 1000, {}, () => new Uint8Array(16).fill(++n));
		let a = s.tick(1000);
		eq('epoch 0 announced at once', kid(a.announce), T);
		eq('not used at once', a.switchTo, null);
		s.sent(T, 1100); // the envelope went out 100 ms late
		a = s.tick(1300);
		eq('used 300 ms after sending, not before', a.switchTo, null);
		eq('next: the switch', a.next, 1400);
		a = s.tick(1400);
		eq('switch to epoch 0', kid(a.switchTo), T);
		s.membershipChanged(2000);
		a = s.tick(2000);
		eq('a change after a quiet while: a new epoch at once', kid(a.announce), T + 1);
		s.membershipChanged(2050);
		s.membershipChanged(2150);
		a = s.tick(2150);
		eq('changes within 200 ms of it wait for the end of those 200 ms', a.announce, null);
		eq('next: that epoch + 200 ms', a.next, 2200);
		a = s.tick(2200);
		eq('one epoch for both changes', kid(a.announce), T + 2);
		eq('superseded epoch 1 is never used', a.switchTo, null);
		a = s.tick(2500);
		eq('switch to epoch 2', kid(a.switchTo), T + 2);
		a = s.tick(2200 + 10 * 60 * 1000);
		eq('rotation after 10 minutes', kid(a.announce), T + 3);
		s.epoch = 0xffff;
		s.membershipChanged(0);
		a = s.tick(1e9);
		eq('epochs wrap at 2^16', kid(a.announce), T);
		const r1 = ks.randomBaseKey(), r2 = ks.randomBaseKey();
		eq('random base keys are 16 bytes', r1.length, 16);
		eq('and differ', r1.join() === r2.join(), false);

		let t = 0;
		const m = new st.DecryptionMonitor((tag) => (tag === 7 ? 'p7' : undefined), () => t);
		eq('no frames', m.of('p7'), 'none');
		m.undecryptable({ tag: 7, participant: 'x', reason: 'unknown_kid' });
		eq('first failures wait for a key', m.of('p7'), 'waiting');
		t = 1000; m.undecryptable({ tag: 7 });
		eq('1 s of failures', m.of('p7'), 'waiting');
		t = 1600;
		eq('1.5 s of failures', m.of('p7'), 'failing');
		m.stats({ decrypted: { [7 * 65536 + 1]: 3 } });
		eq('frames decrypt again', m.of('p7'), 'ok');
		t = 2000; m.stats({ decrypted: { [7 * 65536 + 1]: 3 } }); m.undecryptable({ tag: 7 });
		t = 3600; m.undecryptable({ tag: 7 });
		eq('failing again without progress', m.of('p7'), 'failing');
		t = 7000;
		eq('failures that stopped are forgotten', m.of('p7'), 'ok');
		m.undecryptable({ tag: null, participant: 'q' });
		eq('no header: the receiver names the sender', m.of('q'), 'waiting');
		m.forget('q');
		eq('forgotten', m.of('q'), 'none');

		const d = (sending, people) => st.describe({ sending, people }).text;
		eq('alone', d(true, []), 'encrypted');
		eq('no key yet', d(false, []), 'waiting for keys');
		eq('all decrypt', d(true, [{ name: 'A', verified: true, media: 'ok' }, { name: 'B', verified: true, media: 'none' }]), 'encrypted');
		eq('a key on its way', d(true, [{ name: 'A', verified: true, media: 'waiting' }]), 'waiting for keys');
		eq('being verified', d(true, [{ name: 'A', verified: undefined, media: 'none' }]), 'waiting for keys');
		eq('failing', d(true, [{ name: 'Bob', verified: true, media: 'failing' }]), 'not decrypting: Bob');
		eq('unverified', d(true, [{ name: 'Eve', verified: false, media: 'failing' }]), 'not verified: Eve');
		eq('many', d(true, ['A', 'B', 'C'].map((name) => ({ name, verified: true, media: 'failing' }))), 'not decrypting: A, B and 1 more');
		return fail;
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
}
