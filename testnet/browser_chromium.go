package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"parley/testnet/bench"
)

// chromium is the Chromium driver.
type chromium struct {
	ctx    context.Context // the tab
	cancel context.CancelFunc
	done   chan struct{} // closed when the console reader has stopped
}

func startChromium(t *testing.T, name string, onLog func(level, line string), extra map[string]string) (*chromium, *bench.TailBuffer) {
	t.Helper()
	path := RequireChromium(t)
	output := &bench.TailBuffer{Max: 256 << 10}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
	}
	for _, f := range chromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	for k, v := range chromiumValueFlags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	for k, v := range extra {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	c := &chromium{ctx: ctx, cancel: func() { cancel(); acancel() }, done: make(chan struct{})}

	// The first action starts the browser and must run on the tab's own context (a timeout on
	// it would end the browser), so bound it from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-started:
		if err != nil {
			c.cancel()
			t.Fatalf("start Chromium (%s) for %s: %v", path, name, err)
		}
	case <-time.After(browserStartTimeout):
		c.cancel()
		t.Fatalf("start Chromium (%s) for %s: no answer within %v", path, name, browserStartTimeout)
	}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(c.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			line := m.String()
			if m.URL != "" {
				line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			level := "log"
			switch {
			case m.IsException():
				level = "exception"
			case m.Type == chromedp.ConsoleError:
				level = "error"
			}
			onLog(level, line)
		}
	}()
	return c, output
}

func (c *chromium) do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (c *chromium) navigate(timeout time.Duration, u string) error {
	return c.do(timeout, chromedp.Navigate(u))
}

func (c *chromium) eval(timeout time.Duration, js string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err == nil && len(v) == 0 {
		v = json.RawMessage("null")
	}
	return v, err
}

func (c *chromium) click(x, y float64) error {
	return c.do(browserActionTime, chromedp.MouseClickXY(x, y))
}

func (c *chromium) keys(text string) error {
	return c.do(browserActionTime, chromedp.KeyEvent(strings.ReplaceAll(text, "\n", kb.Enter)))
}

func (c *chromium) press(k chord) error {
	key := map[string]string{"Tab": kb.Tab, "Enter": kb.Enter, "Space": " ", "Escape": kb.Escape}[k.key]
	if key == "" {
		key = k.key
	}
	var mods []chromedp.Modifier
	if k.alt {
		mods = append(mods, chromedp.ModifierAlt)
	}
	if k.shift {
		mods = append(mods, chromedp.ModifierShift)
	}
	if k.ctrl {
		mods = append(mods, chromedp.ModifierCtrl)
	}
	return c.do(browserActionTime, chromedp.KeyEvent(key, chromedp.KeyModifiers(mods...)))
}

func (c *chromium) screenshot() ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, browserCloseTime)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

func (c *chromium) close() {
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(browserCloseTime):
	}
}
