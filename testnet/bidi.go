package testnet

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/testnet/bench"
)

// A small WebDriver BiDi client for Firefox (its built-in remote protocol): the browser is
// started with --remote-debugging-port 0, prints the WebSocket it listens on, and takes JSON
// commands there ({"id","method","params"} answered by {"id","type":"success","result"} or
// {"id","type":"error","error","message"}) and sends events ({"type":"event","method",
// "params"}). Only what the browser tests use is here: a session, the first browsing
// context, navigation, script evaluation, pointer and key input, screenshots and the
// console (log.entryAdded).

// firefoxPrefs are the test-only preferences of every test Firefox: fake camera, microphone
// and screen without prompts, ICE over loopback, media that plays without a gesture, and no
// network noise (no updates, telemetry, captive-portal or remote settings).
var firefoxPrefs = map[string]any{
	"media.navigator.streams.fake":                       true,
	"media.navigator.permission.disabled":                true,
	"permissions.default.camera":                         1,
	"permissions.default.microphone":                     1,
	"media.peerconnection.ice.loopback":                  true,
	"media.peerconnection.ice.obfuscate_host_addresses":  false,
	"media.autoplay.default":                             0,
	"media.autoplay.blocking_policy":                     0,
	"media.autoplay.block-webaudio":                      false,
	"media.cubeb.force_mock_context":                     true, // a fake audio output: headless machines have no sound device
	"media.getdisplaymedia.enabled":                      true,
	"app.update.disabledForTesting":                      true,
	"browser.shell.checkDefaultBrowser":                  false,
	"browser.startup.homepage_override.mstone":           "ignore",
	"datareporting.policy.dataSubmissionEnabled":         false,
	"toolkit.telemetry.reportingpolicy.firstRun":         false,
	"network.captive-portal-service.enabled":             false,
	"network.connectivity-service.enabled":               false,
	"extensions.update.enabled":                          false,
	"services.settings.server":                           "data:,",
	"browser.safebrowsing.update.enabled":                false,
	"browser.region.network.url":                         "",
	"browser.aboutwelcome.enabled":                       false,
	"dom.disable_open_during_load":                       false,
	"media.devices.insecure.enabled":                     true,
	"media.peerconnection.ice.relay_only":                false,
	"network.dns.disablePrefetch":                        true,
	"browser.newtabpage.activity-stream.feeds.telemetry": false,
}

// FirefoxPath returns the Firefox to test with: $PARLEY_FIREFOX if set, else firefox-esr or
// firefox on the PATH. It returns "" when there is none.
func FirefoxPath() string {
	if p := os.Getenv("PARLEY_FIREFOX"); p != "" {
		return p
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// bidi is one Firefox process and its BiDi session.
type bidi struct {
	cmd     *exec.Cmd
	conn    *websocket.Conn
	context string // the browsing context (tab) the tests drive
	output  *bench.TailBuffer
	onLog   func(level, text string)

	mu      sync.Mutex
	nextID  int
	pending map[int]chan bidiReply
	dead    error // set when the reader stops

	readerDone chan struct{}
}

type bidiReply struct {
	Type    string          `json:"type"`
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// startFirefox starts path headless on a fresh profile in dir and opens a BiDi session.
func startFirefox(path, dir string, onLog func(level, text string)) (*bidi, error) {
	var prefs strings.Builder
	for k, v := range firefoxPrefs {
		val, _ := json.Marshal(v)
		fmt.Fprintf(&prefs, "user_pref(%q, %s);\n", k, val)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(prefs.String()), 0o644); err != nil {
		return nil, err
	}
	output := &bench.TailBuffer{Max: 256 << 10}
	// It starts on a page of content, not about:blank: on about:blank the address bar takes
	// the focus and keeps it, so the page never has it (no :focus, and Enter or Space on a
	// focused button presses nothing).
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", dir, "--remote-debugging-port", "0", "data:text/html,<title>parley</title>")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1", "MOZ_CRASHREPORTER_DISABLE=1")
	cmd.Stdout = output
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	kill := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = output.Write([]byte(line + "\n"))
			if i := strings.Index(line, "WebDriver BiDi listening on "); i >= 0 && !sent {
				found <- strings.TrimSpace(line[i+len("WebDriver BiDi listening on "):])
				sent = true
			}
		}
		_, _ = io.Copy(output, stderr)
	}()
	var ws string
	select {
	case ws = <-found:
	case <-time.After(browserStartTimeout):
		kill()
		return nil, fmt.Errorf("%s printed no WebDriver BiDi address within %v", path, browserStartTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserStartTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, ws+"/session", nil)
	if err != nil {
		kill()
		return nil, fmt.Errorf("connect to Firefox's WebDriver BiDi at %s: %w", ws, err)
	}
	conn.SetReadLimit(64 << 20)
	b := &bidi{cmd: cmd, conn: conn, output: output, onLog: onLog, pending: map[int]chan bidiReply{}, readerDone: make(chan struct{})}
	go b.read()
	fail := func(err error) (*bidi, error) {
		b.close()
		return nil, err
	}
	if _, err := b.call(browserStartTimeout, "session.new", map[string]any{"capabilities": map[string]any{
		"alwaysMatch": map[string]any{"acceptInsecureCerts": true}}}); err != nil {
		return fail(err)
	}
	tree, err := b.call(browserActionTime, "browsingContext.getTree", map[string]any{})
	if err != nil {
		return fail(err)
	}
	var t struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(tree, &t); err != nil || len(t.Contexts) == 0 {
		return fail(fmt.Errorf("no browsing context in %s (%v)", tree, err))
	}
	b.context = t.Contexts[0].Context
	if _, err := b.call(browserActionTime, "session.subscribe", map[string]any{"events": []string{"log.entryAdded"}}); err != nil {
		return fail(err)
	}
	return b, nil
}

// read dispatches replies and events until the connection ends.
func (b *bidi) read() {
	defer close(b.readerDone)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.dead = fmt.Errorf("Firefox's WebDriver BiDi connection ended: %w", err)
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var r bidiReply
		if json.Unmarshal(data, &r) != nil {
			continue
		}
		if r.Type == "event" {
			b.event(r)
			continue
		}
		if r.ID == nil {
			continue
		}
		b.mu.Lock()
		ch := b.pending[*r.ID]
		delete(b.pending, *r.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

// event handles log.entryAdded: console messages and uncaught errors.
func (b *bidi) event(r bidiReply) {
	if r.Method != "log.entryAdded" || b.onLog == nil {
		return
	}
	var e struct {
		Type   string `json:"type"` // "console" or "javascript"
		Level  string `json:"level"`
		Text   string `json:"text"`
		Method string `json:"method"`
		Source struct {
			Context string `json:"context"`
		} `json:"source"`
		StackTrace *struct {
			CallFrames []struct {
				URL        string `json:"url"`
				LineNumber int    `json:"lineNumber"`
			} `json:"callFrames"`
		} `json:"stackTrace"`
	}
	if json.Unmarshal(r.Params, &e) != nil {
		return
	}
	text := e.Text
	if e.StackTrace != nil && len(e.StackTrace.CallFrames) > 0 {
		f := e.StackTrace.CallFrames[0]
		text += fmt.Sprintf(" (%s:%d)", f.URL, f.LineNumber+1)
	}
	level := e.Level
	if e.Type == "javascript" {
		level = "exception"
	}
	b.onLog(level, text)
}

// call sends one command and waits up to timeout for its result.
func (b *bidi) call(timeout time.Duration, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	if b.dead != nil {
		b.mu.Unlock()
		return nil, b.dead
	}
	b.nextID++
	id := b.nextID
	ch := make(chan bidiReply, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	data, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := b.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: %w", method, b.dead)
		}
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: no answer within %v", method, timeout)
	}
}

// navigate loads u and waits until the page has loaded.
func (b *bidi) navigate(timeout time.Duration, u string) error {
	_, err := b.call(timeout, "browsingContext.navigate", map[string]any{"context": b.context, "url": u, "wait": "complete"})
	return err
}

// eval evaluates a JavaScript expression, awaiting it if it is a promise, and returns its
// value as JSON (null for undefined).
func (b *bidi) eval(timeout time.Duration, js string) (json.RawMessage, error) {
	res, err := b.call(timeout, "script.evaluate", map[string]any{
		"expression":     "(async () => { const v = await (" + js + "\n); return v === undefined ? 'null' : JSON.stringify(v); })()",
		"target":         map[string]any{"context": b.context},
		"awaitPromise":   true,
		"userActivation": true, // as Chromium's Runtime.evaluate: a script may start audio
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	if r.Type == "exception" {
		return nil, errors.New("page exception: " + r.ExceptionDetails.Text)
	}
	var s string
	if r.Result.Type != "string" || json.Unmarshal(r.Result.Value, &s) != nil {
		return json.RawMessage("null"), nil
	}
	return json.RawMessage(s), nil
}

// click presses and releases the primary mouse button at (x, y) in CSS pixels of the viewport.
func (b *bidi) click(x, y float64) error {
	_, err := b.call(browserActionTime, "input.performActions", map[string]any{
		"context": b.context,
		"actions": []any{map[string]any{
			"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
			"actions": []any{
				map[string]any{"type": "pointerMove", "x": int(math.Round(x)), "y": int(math.Round(y))},
				map[string]any{"type": "pointerDown", "button": 0},
				map[string]any{"type": "pointerUp", "button": 0},
			},
		}},
	})
	return err
}

// keys types text into the focused element; "\n" presses Enter.
func (b *bidi) keys(text string) error {
	var actions []any
	for _, r := range text {
		k := string(r)
		if r == '\n' {
			k = "\uE007"
		}
		actions = append(actions, map[string]any{"type": "keyDown", "value": k}, map[string]any{"type": "keyUp", "value": k})
	}
	_, err := b.call(browserActionTime, "input.performActions", map[string]any{
		"context": b.context,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": actions}},
	})
	return err
}

// press presses one chord: modifiers down, the key down and up, modifiers up.
func (b *bidi) press(c chord) error {
	named := map[string]string{"Tab": "\uE004", "Enter": "\uE007", "Space": " ", "Escape": "\uE00C"}
	key := c.key
	if v, ok := named[key]; ok {
		key = v
	}
	var mods []string
	for _, m := range []struct {
		on  bool
		val string
	}{{c.ctrl, "\uE009"}, {c.alt, "\uE00A"}, {c.shift, "\uE008"}} {
		if m.on {
			mods = append(mods, m.val)
		}
	}
	var actions []any
	for _, m := range mods {
		actions = append(actions, map[string]any{"type": "keyDown", "value": m})
	}
	actions = append(actions, map[string]any{"type": "keyDown", "value": key}, map[string]any{"type": "keyUp", "value": key})
	for i := len(mods) - 1; i >= 0; i-- {
		actions = append(actions, map[string]any{"type": "keyUp", "value": mods[i]})
	}
	_, err := b.call(browserActionTime, "input.performActions", map[string]any{
		"context": b.context,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": actions}},
	})
	return err
}

// screenshot captures the viewport as PNG.
func (b *bidi) screenshot() ([]byte, error) {
	res, err := b.call(browserCloseTime, "browsingContext.captureScreenshot", map[string]any{"context": b.context})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// close ends the session and the browser, and waits for the process.
func (b *bidi) close() {
	_, _ = b.call(browserCloseTime, "browser.close", map[string]any{})
	_ = b.conn.CloseNow()
	<-b.readerDone
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(browserCloseTime):
		_ = b.cmd.Process.Kill()
		<-done
	}
}
