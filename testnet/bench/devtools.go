package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// A minimal Chrome DevTools Protocol client, enough for the join benchmark to drive Chromium
// tabs (open, navigate, evaluate) without linking a browser-automation library into parley:
// one WebSocket to the browser, flat sessions per tab, JSON-RPC calls matched by id, events
// ignored.

// chromium is a Chromium process and its DevTools connection.
type chromium struct {
	cmd *exec.Cmd
	ws  *websocket.Conn
	dir string

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpReply // guarded by mu
	done    chan struct{}           // closed when the reader has stopped
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium starts headless Chromium with fake media devices and a fresh profile, and
// connects to its DevTools endpoint.
func startChromium(ctx context.Context, path string) (*chromium, error) {
	dir, err := os.MkdirTemp("", "parley-bench-chromium-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--headless", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		"--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
		"--remote-debugging-port=0", "--user-data-dir="+dir, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start %s: %w", path, err)
	}
	c := &chromium{cmd: cmd, dir: dir, waiting: map[int64]chan cdpReply{}, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var u string
	select {
	case u = <-found:
	case <-time.After(30 * time.Second):
		c.close()
		return nil, errors.New("bench: Chromium did not open its DevTools endpoint within 30 s")
	case <-ctx.Done():
		c.close()
		return nil, ctx.Err()
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("bench: DevTools %s: %w", u, err)
	}
	ws.SetReadLimit(64 << 20)
	c.ws = ws
	go c.read()
	return c, nil
}

func (c *chromium) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m struct {
			ID int64 `json:"id"`
			cdpReply
		}
		if json.Unmarshal(data, &m) != nil || m.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends method with params (in session, "" for the browser) and returns its result.
func (c *chromium) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpReply, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return nil, fmt.Errorf("bench: DevTools %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fmt.Errorf("bench: DevTools %s: %s", method, r.Error.Message)
		}
		return r.Result, nil
	case <-c.done:
		return nil, fmt.Errorf("bench: DevTools %s: the browser went away", method)
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("bench: DevTools %s: %w", method, ctx.Err())
	}
}

// tab is one page of the browser, attached as a flat session.
type tab struct {
	c       *chromium
	session string
}

// newTab opens a blank tab.
func (c *chromium) newTab(ctx context.Context) (*tab, error) {
	res, err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "newWindow": true})
	if err != nil {
		return nil, err
	}
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := json.Unmarshal(res, &t); err != nil {
		return nil, err
	}
	res, err = c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(res, &s); err != nil {
		return nil, err
	}
	return &tab{c: c, session: s.SessionID}, nil
}

// navigate loads u and waits until its document has loaded (for at most 30 s).
func (t *tab) navigate(ctx context.Context, u string) error {
	if _, err := t.c.call(ctx, t.session, "Page.navigate", map[string]any{"url": u}); err != nil {
		return err
	}
	want, _ := json.Marshal(u)
	ready := `location.href === ` + string(want) + ` && document.readyState === 'complete'`
	var err error
	for range 1500 {
		var v json.RawMessage
		// An evaluation in the document being replaced fails or says false: ask again.
		if v, err = t.eval(ctx, ready); err == nil && string(v) == "true" {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("bench: %s did not load: %v", u, err)
}

// eval evaluates js in the page (awaiting a promise) and returns its value as JSON.
func (t *tab) eval(ctx context.Context, js string) (json.RawMessage, error) {
	res, err := t.c.call(ctx, t.session, "Runtime.evaluate", map[string]any{
		"expression": js, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	if e := r.ExceptionDetails; e != nil {
		msg := e.Text
		if e.Exception != nil {
			msg = e.Exception.Description
		}
		return nil, fmt.Errorf("bench: in the page: %s", msg)
	}
	if len(r.Result.Value) == 0 {
		return json.RawMessage("null"), nil
	}
	return r.Result.Value, nil
}

// close ends the browser and removes its profile.
func (c *chromium) close() {
	if c.ws != nil {
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	}
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
	os.RemoveAll(c.dir)
}
