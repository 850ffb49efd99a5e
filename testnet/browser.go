package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"

	"github.com/chromedp/chromedp"
	"parley/testnet/bench"
)

// Timeouts of the browser harness. Every action is bounded; a test that needs longer passes
// its own timeout to the Wait helpers.
const (
	browserStartTimeout = 30 * time.Second
	browserActionTime   = 20 * time.Second
	browserCloseTime    = 10 * time.Second
)

// chromiumFlags are the flags every test browser runs with: headless, fake camera, microphone
// and screen (getDisplayMedia picks the fake screen with no prompt), no network noise, and
// media that plays without a user gesture.
var chromiumFlags = []string{
	"headless",
	"use-fake-device-for-media-stream",
	"use-fake-ui-for-media-stream",
	"no-sandbox",
	"disable-gpu",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
	"no-first-run",
}

// chromiumValueFlags are the flags with a value.
var chromiumValueFlags = map[string]string{
	"autoplay-policy": "no-user-gesture-required",
}

// inCI reports whether the tests run in continuous integration (CI=true or CI=1), where a
// missing browser is a failure and not a reason to skip.
func inCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// ChromiumPath returns the Chromium to test with: $PARLEY_CHROMIUM if set, else chromium on
// the PATH or in /usr/bin. It returns "" when there is none.
func ChromiumPath() string { return bench.FindChromium() }

// RequireChromium returns the Chromium path, or skips the test when there is none; in CI
// (CI=true) a missing Chromium fails the test instead, so browser tests cannot silently vanish.
func RequireChromium(t testing.TB) string {
	t.Helper()
	p := ChromiumPath()
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missingBrowser(t, "Chromium not found (set PARLEY_CHROMIUM or install the chromium package; scripts/test.sh installs it)")
	return ""
}

// missingBrowser skips the test for want of a browser, or fails it in CI (CI=true), so that
// browser tests cannot silently vanish there.
func missingBrowser(t testing.TB, msg string) {
	t.Helper()
	if inCI() {
		t.Fatal(msg + "; CI is set, so the browser tests may not be skipped")
	}
	t.Skip(msg)
}

// Browser kinds.
const (
	Chromium = "chromium"
	Firefox  = "firefox"
)

// BrowserKinds are the browsers every browser test that applies to both runs in.
var BrowserKinds = []string{Chromium, Firefox}

// RequireFirefox returns the Firefox path, or skips the test when there is none; in CI a
// missing Firefox fails the test instead.
func RequireFirefox(t testing.TB) string {
	t.Helper()
	if p := FirefoxPath(); p != "" {
		return p
	}
	missingBrowser(t, "Firefox not found (set PARLEY_FIREFOX or install the firefox-esr package; scripts/test.sh installs it)")
	return ""
}

// RequireBrowser is RequireChromium or RequireFirefox for kind.
func RequireBrowser(t testing.TB, kind string) {
	t.Helper()
	if kind == Firefox {
		RequireFirefox(t)
	} else {
		RequireChromium(t)
	}
}

// driver is what a Browser needs of a browser process with one tab: Chromium over the
// DevTools protocol (chromedp), Firefox over WebDriver BiDi.
type driver interface {
	navigate(timeout time.Duration, u string) error
	eval(timeout time.Duration, js string) (json.RawMessage, error) // awaited, as JSON
	click(x, y float64) error                                       // a real primary click
	keys(text string) error                                         // into the focused element
	press(k chord) error                                            // one key, with modifiers held
	screenshot() ([]byte, error)
	close()
}

// chord is one key press with modifiers: key is a character or one of the names Tab,
// Enter, Space, Escape.
type chord struct {
	key              string
	alt, shift, ctrl bool
}

// parseChord reads "Alt+Shift+m", "Shift+Tab", "Space".
func parseChord(s string) (chord, error) {
	parts := strings.Split(s, "+")
	c := chord{key: parts[len(parts)-1]}
	for _, m := range parts[:len(parts)-1] {
		switch m {
		case "Alt":
			c.alt = true
		case "Shift":
			c.shift = true
		case "Control":
			c.ctrl = true
		default:
			return c, fmt.Errorf("chord %q: unknown modifier %q", s, m)
		}
	}
	switch c.key {
	case "Tab", "Enter", "Space", "Escape":
	default:
		if len([]rune(c.key)) != 1 {
			return c, fmt.Errorf("chord %q: unknown key %q", s, c.key)
		}
	}
	return c, nil
}

// Browser is one headless browser process (Chromium or Firefox) with one tab: one
// participant of a browser test. It records the page's console; an uncaught exception or
// unhandled rejection in the page fails the test. When the test has failed, Close saves a
// screenshot, the page's HTML and its console to the test's artifact directory (go test
// -artifacts keeps them).
type Browser struct {
	t    *testing.T
	name string
	Kind string // Chromium or Firefox

	d      driver
	output *bench.TailBuffer // the browser's stdout and stderr

	closeOnce sync.Once

	mu       sync.Mutex // guards the fields below
	console  []string   // every console message, in order
	errs     []string   // console errors and exceptions
	uncaught []string   // uncaught exceptions and unhandled rejections
}

// NewBrowser starts a Chromium for the participant name (used in logs and artifact names) and
// registers its Close with t.Cleanup.
func NewBrowser(t *testing.T, name string) *Browser {
	t.Helper()
	return NewBrowserOf(t, Chromium, name)
}

// NewBrowserOf starts a browser of kind (Chromium or Firefox) for the participant name.
func NewBrowserOf(t *testing.T, kind, name string) *Browser {
	t.Helper()
	b := &Browser{t: t, name: name, Kind: kind}
	if kind == Firefox {
		path := RequireFirefox(t)
		ff, err := startFirefox(path, t.TempDir(), b.log)
		if err != nil {
			t.Fatalf("start Firefox (%s) for %s: %v", path, name, err)
		}
		b.d, b.output = ff, ff.output
	} else {
		b.d, b.output = startChromium(t, name, b.log, nil)
	}
	t.Cleanup(b.Close)
	return b
}

// NewChromiumSpeaking starts a Chromium whose fake microphone plays the WAV file wav, over
// and over, for the participant name.
func NewChromiumSpeaking(t *testing.T, name, wav string) *Browser {
	t.Helper()
	b := &Browser{t: t, name: name, Kind: Chromium}
	b.d, b.output = startChromium(t, name, b.log, map[string]string{"use-file-for-fake-audio-capture": wav})
	t.Cleanup(b.Close)
	return b
}

// log records one console message of the page; level "exception" is an uncaught one.
func (b *Browser) log(level, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.console = append(b.console, level+": "+line)
	if level == "error" || level == "exception" {
		b.errs = append(b.errs, line)
	}
	if level == "exception" {
		b.uncaught = append(b.uncaught, line)
	}
}

// Close saves the artifacts if the test failed, reports uncaught page exceptions as test
// errors, and stops the browser. It is registered with t.Cleanup; calling it earlier is fine.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		uncaught := b.Uncaught()
		for _, u := range uncaught {
			b.t.Errorf("browser %s: uncaught exception in the page: %s", b.name, u)
		}
		if b.t.Failed() {
			b.saveArtifacts()
		}
		b.d.close()
	})
}

// saveArtifacts writes a screenshot, the page's HTML and its console to the artifact directory.
func (b *Browser) saveArtifacts() {
	dir := filepath.Join(b.t.ArtifactDir(), "browser-"+b.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("browser %s: artifacts: %v", b.name, err)
		return
	}
	if png, err := b.d.screenshot(); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "screenshot.png"), png, 0o644)
	} else {
		b.t.Logf("browser %s: screenshot: %v", b.name, err)
	}
	if html, err := b.d.eval(browserCloseTime, `document.documentElement.outerHTML`); err == nil {
		var s string
		_ = json.Unmarshal(html, &s)
		_ = os.WriteFile(filepath.Join(dir, "page.html"), []byte(s), 0o644)
	}
	if loc, err := b.d.eval(browserCloseTime, `location.href`); err == nil {
		b.t.Logf("browser %s: page was %s", b.name, loc)
	}
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	_ = os.WriteFile(filepath.Join(dir, "console.log"), []byte(console), 0o644)
	_ = os.WriteFile(filepath.Join(dir, b.Kind+".log"), b.output.Bytes(), 0o644)
	b.t.Logf("browser %s: console:\n%s", b.name, console)
	b.t.Logf("browser %s: artifacts in %s", b.name, dir)
}

// Uncaught returns the uncaught exceptions and unhandled rejections the page has had.
func (b *Browser) Uncaught() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.uncaught...)
}

// ConsoleErrors returns the console errors and uncaught exceptions the page has had.
func (b *Browser) ConsoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// Do runs chromedp actions on the tab, bounded by timeout; Chromium only.
func (b *Browser) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	c, ok := b.d.(*chromium)
	if !ok {
		return fmt.Errorf("browser %s: DevTools actions need Chromium, not %s", b.name, b.Kind)
	}
	return c.do(timeout, actions...)
}

// AddInitScript runs script in every page the browser opens from now on, before the page's
// own scripts.
func (b *Browser) AddInitScript(script string) error {
	switch d := b.d.(type) {
	case *chromium:
		ctx, cancel := context.WithTimeout(d.ctx, browserActionTime)
		defer cancel()
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	case *bidi:
		_, err := d.call(browserActionTime, "script.addPreloadScript", map[string]any{
			"functionDeclaration": "() => {" + script + "}", "contexts": []string{d.context}})
		return err
	}
	return fmt.Errorf("browser %s: unknown driver", b.name)
}

// Eval evaluates a JavaScript expression in the page (awaiting it if it is a promise) and
// decodes its JSON value into T.
func Eval[T any](b *Browser, js string) (T, error) {
	var v T
	raw, err := b.d.eval(browserActionTime, js)
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(raw, &v)
	return v, err
}

// must fails the test if err is set, naming the browser and what it was doing.
func (b *Browser) must(what string, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("browser %s: %s: %v", b.name, what, err)
	}
}

// Open navigates to u and waits for the page to load.
func (b *Browser) Open(u string) {
	b.t.Helper()
	b.must("open "+u, b.d.navigate(30*time.Second, u))
}

// OpenRoom opens the web client's prejoin screen for roomID on the node at base, with the name
// filled in: base/r/<roomID>?name=<name>.
func (b *Browser) OpenRoom(base, roomID, name string) {
	b.t.Helper()
	b.Open(strings.TrimSuffix(base, "/") + "/r/" + url.PathEscape(roomID) + "?name=" + url.QueryEscape(name))
}

// Join opens the room and clicks [data-testid=join].
func (b *Browser) Join(base, roomID, name string) {
	b.t.Helper()
	b.OpenRoom(base, roomID, name)
	b.Click(`[data-testid=join]`)
}

// Click waits until the element matching the CSS selector is visible, enabled and the
// topmost element at its centre, then clicks its centre with a real mouse event, so the page
// gets a user activation. It does not wait for the layout to settle: the web client's
// screens must not move under the pointer (TestBrowserPrejoinStill checks the prejoin).
func (b *Browser) Click(sel string) {
	b.t.Helper()
	js := `(async () => {
		const el = document.querySelector(` + jsString(sel) + `);
		if (!el || el.disabled) return null;
		el.scrollIntoView({ block: 'center', inline: 'center' });
		await new Promise((r) => requestAnimationFrame(() => r()));
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return null;
		const x = r.x + r.width / 2, y = r.y + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		return hit && (hit === el || el.contains(hit)) ? [x, y] : null;
	})()`
	deadline := time.Now().Add(browserActionTime)
	for {
		at, err := Eval[[]float64](b, js)
		if err == nil && len(at) == 2 {
			b.must("click "+sel, b.d.click(at[0], at[1]))
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser %s: click %s: no visible, enabled element to click (%v)", b.name, sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Type types text into the element matching sel; end text with "\n" to press Enter.
func (b *Browser) Type(sel, text string) {
	b.t.Helper()
	focused, err := Eval[bool](b, `(() => { const e = document.querySelector(`+jsString(sel)+`); if (!e) return false; e.focus(); return document.activeElement === e; })()`)
	if err == nil && !focused {
		err = errors.New("no such element to focus")
	}
	b.must("focus "+sel, err)
	b.must("type into "+sel, b.d.keys(text))
}

// Keys types text into whatever element has the focus; end text with "\n" to press Enter.
func (b *Browser) Keys(text string) {
	b.t.Helper()
	b.must("type", b.d.keys(text))
}

// Press presses one key chord ("Tab", "Shift+Tab", "Space", "Enter", "Alt+Shift+m") as the
// keyboard would: real key events from the browser's input layer, to the focused element.
func (b *Browser) Press(keys string) {
	b.t.Helper()
	c, err := parseChord(keys)
	if err == nil {
		err = b.d.press(c)
	}
	b.must("press "+keys, err)
}

// WaitVisible waits up to timeout for an element matching sel to be visible.
func (b *Browser) WaitVisible(sel string, timeout time.Duration) {
	b.t.Helper()
	b.waitJS("wait for "+sel, `(() => { const e = document.querySelector(`+jsString(sel)+`);
		if (!e) return false; const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
		return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; })()`, timeout)
}

// WaitGone waits up to timeout until no element matches sel.
func (b *Browser) WaitGone(sel string, timeout time.Duration) {
	b.t.Helper()
	b.waitJS("wait for "+sel+" to disappear", `document.querySelector(`+jsString(sel)+`) === null`, timeout)
}

// waitJS polls a boolean JavaScript expression until it is true, up to timeout.
func (b *Browser) waitJS(what, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := Eval[bool](b, js)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser %s: %s: not so after %v (%v)", b.name, what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// Text returns the text content of the first element matching sel ("" if there is none).
func (b *Browser) Text(sel string) (string, error) {
	return Eval[string](b, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent : "" })()`)
}

// WaitText waits up to timeout for the text of the element matching sel to contain want.
func (b *Browser) WaitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		text, err := b.Text(sel)
		if err == nil && strings.Contains(text, want) {
			return
		}
		last = text
		if err != nil {
			last = "error: " + err.Error()
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser %s: %s does not contain %q after %v; it has %q", b.name, sel, want, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// VideoState is what a <video> element shows.
type VideoState struct {
	Found      bool    `json:"found"`
	Width      int     `json:"width"`  // videoWidth
	Height     int     `json:"height"` // videoHeight
	Frames     int     `json:"frames"` // frames presented (see Video)
	Paused     bool    `json:"paused"`
	ReadyState int     `json:"readyState"`
	Time       float64 `json:"time"` // currentTime
}

// Video returns the state of the first <video> matching sel. Frames counts the frames
// presented since the first call for that element, with requestVideoFrameCallback (both
// browsers have it; Firefox's getVideoPlaybackQuality stays 0 for MediaStream video), or
// getVideoPlaybackQuality where requestVideoFrameCallback is missing.
func (b *Browser) Video(sel string) (VideoState, error) {
	return Eval[VideoState](b, `(() => {
		const v = document.querySelector(`+jsString(sel)+`);
		if (!v) return {found: false};
		let frames = 0;
		if (v.requestVideoFrameCallback) {
			if (!v.__parleyFrames) {
				v.__parleyFrames = {n: 0};
				const count = () => { v.__parleyFrames.n++; v.requestVideoFrameCallback(count); };
				v.requestVideoFrameCallback(count);
			}
			frames = v.__parleyFrames.n;
		} else if (v.getVideoPlaybackQuality) {
			frames = v.getVideoPlaybackQuality().totalVideoFrames;
		}
		return {found: true, width: v.videoWidth, height: v.videoHeight, frames,
			paused: v.paused, readyState: v.readyState, time: v.currentTime};
	})()`)
}

// WaitVideoPlaying waits up to timeout until the <video> matching sel has a picture
// (videoWidth > 0) and its decoded frame count rises over a window of about two seconds. It
// returns the state at the end of that window.
func (b *Browser) WaitVideoPlaying(sel string, timeout time.Duration) VideoState {
	b.t.Helper()
	const window = 2 * time.Second
	deadline := time.Now().Add(timeout)
	var last VideoState
	var lastErr error
	for time.Now().Before(deadline) {
		first, err := b.Video(sel)
		if err != nil || !first.Found || first.Width == 0 {
			last, lastErr = first, err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		time.Sleep(window)
		second, err := b.Video(sel)
		last, lastErr = second, err
		if err == nil && second.Found && second.Width > 0 && second.Frames > first.Frames {
			b.t.Logf("browser %s: %s plays %dx%d, %d frames in %v", b.name, sel, second.Width, second.Height, second.Frames-first.Frames, window)
			return second
		}
	}
	b.t.Fatalf("browser %s: %s is not playing after %v: last state %+v, error %v", b.name, sel, timeout, last, lastErr)
	return last
}

// forEachBrowser runs test once in each of BrowserKinds, as a subtest named for the browser.
func forEachBrowser(t *testing.T, test func(t *testing.T, kind string)) {
	for _, kind := range BrowserKinds {
		t.Run(kind, func(t *testing.T) {
			RequireBrowser(t, kind)
			test(t, kind)
		})
	}
}
