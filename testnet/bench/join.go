package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// JoinBenchOptions configures BenchJoin. Zero values mean the documented defaults.
type JoinBenchOptions struct {
	// Trials is how many pairs join a fresh room one after the other. Default: 10.
	Trials int
	// Nodes is 1 (both browsers on one node) or 2 (one on each of two federated nodes,
	// through the cascade). Default: 1.
	Nodes int
	// Binary is the parley binary whose nodes are measured. Default: the running executable.
	Binary string
	// Chromium is the browser. Default: $PARLEY_CHROMIUM, else chromium on the PATH.
	Chromium string
	Log      *slog.Logger
	Out      io.Writer
}

// JoinBenchResult is what BenchJoin measured: for each trial, the time from the second
// participant's click on Join to the later of the two first remote video frames (each
// browser showing the other's camera).
type JoinBenchResult struct {
	Nodes  int     `json:"nodes"`
	Trials int     `json:"trials"`
	P50Ms  float64 `json:"join_to_frame_p50_ms"`
	P99Ms  float64 `json:"join_to_frame_p99_ms"`
	MaxMs  float64 `json:"join_to_frame_max_ms"`
	// SelfMs is the median time from the click to the joiner's own first frame of the
	// other (the side that joined last), not part of the JSON line.
	SelfMs float64 `json:"-"`
}

const joinTrialTimeout = 30 * time.Second

// frameProbe records, in the page, when Join was clicked and when each remote video showed
// its first frame (Date.now(), so that two pages on one machine compare).
const frameProbe = `(() => {
  if (window.__probe) return true;
  const p = window.__probe = {join: 0, first: 0, ws: 0, joined: 0, sub_offer: 0, pc: [], track: 0};
  const mark = (k) => { if (!p[k]) p[k] = Date.now(); };
  const WS = window.WebSocket;
  window.WebSocket = function (...a) {
    const ws = new WS(...a);
    ws.addEventListener('open', () => mark('ws'));
    ws.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      if (e.data.startsWith('{"type":"joined"')) mark('joined');
      if (e.data.startsWith('{"type":"offer"')) mark('sub_offer');
      if (e.data.startsWith('{"type":"key"')) mark('key');
    });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...a) {
    const pc = new PC(...a);
    pc.addEventListener('connectionstatechange', () => { if (pc.connectionState === 'connected') p.pc.push(Date.now()); });
    pc.addEventListener('track', () => mark('track'));
    return pc;
  };
  window.RTCPeerConnection.prototype = PC.prototype;
  document.addEventListener('click', (e) => {
    if (e.target.closest && e.target.closest('[data-testid=join]')) p.join = Date.now();
  }, true);
  const seen = new WeakSet();
  const watch = () => {
    for (const v of document.querySelectorAll('video[data-participant-name]:not([data-self])')) {
      if (seen.has(v)) continue;
      seen.add(v);
      v.requestVideoFrameCallback(() => { if (!p.first) p.first = Date.now(); });
    }
  };
  new MutationObserver(watch).observe(document.documentElement, {subtree: true, childList: true, attributes: true});
  watch();
  return true;
})()`

// BenchJoin measures how long a browser takes to see the other participant after joining:
// Chromium (headless, fake camera and microphone) in two tabs, on one node or on two
// federated nodes (each its own process). Each trial makes a fresh room; the first tab joins
// and sees its own camera, then the second joins; the trial's time runs from the second
// click to the later of the two tabs' first remote frame. It prints progress and, last, the
// result as one JSON line.
func BenchJoin(ctx context.Context, opts JoinBenchOptions) (JoinBenchResult, error) {
	if opts.Trials <= 0 {
		opts.Trials = 10
	}
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.Nodes != 1 && opts.Nodes != 2 {
		return JoinBenchResult{}, fmt.Errorf("bench: --nodes %d: want 1 or 2", opts.Nodes)
	}
	if err := benchDefaults(&opts.Binary, &opts.Log, &opts.Out); err != nil {
		return JoinBenchResult{}, err
	}
	if opts.Chromium == "" {
		opts.Chromium = FindChromium()
	}
	if opts.Chromium == "" {
		return JoinBenchResult{}, errors.New("bench: no Chromium: install Debian's chromium or set PARLEY_CHROMIUM")
	}
	progress := func(format string, args ...any) { fmt.Fprintf(opts.Out, format+"\n", args...) }

	nodes := make([]*benchNode, opts.Nodes)
	bases := make([]string, opts.Nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	}()
	for i := range nodes {
		n, err := startBenchNode(ctx, opts.Binary, fmt.Sprintf("bench %d", i+1), opts.Log, nil)
		if err != nil {
			return JoinBenchResult{}, err
		}
		nodes[i] = n
		if bases[i], _, err = n.createRoom(ctx); err != nil {
			return JoinBenchResult{}, err
		}
	}
	if opts.Nodes == 2 {
		if err := federatePair(ctx, nodes[0], nodes[1]); err != nil {
			return JoinBenchResult{}, err
		}
	}
	progress("%d node(s) started: %s; Chromium %s", opts.Nodes, strings.Join(bases, ", "), opts.Chromium)

	browser, err := startChromium(ctx, opts.Chromium)
	if err != nil {
		return JoinBenchResult{}, err
	}
	defer browser.close()
	var tabs [2]*tab
	for i := range tabs {
		if tabs[i], err = browser.newTab(ctx); err != nil {
			return JoinBenchResult{}, fmt.Errorf("bench: open a tab: %w", err)
		}
	}

	var took, self []time.Duration
	for trial := range opts.Trials {
		out, err := nodes[0].admin(ctx, "room", "create", "--data", nodes[0].dir, "--title", fmt.Sprintf("join %d", trial+1))
		if err != nil {
			return JoinBenchResult{}, err
		}
		_, room, err := parseRoomURL(out)
		if err != nil {
			return JoinBenchResult{}, err
		}
		if opts.Nodes == 2 {
			if err := waitRoomAt(ctx, bases[1], room); err != nil {
				return JoinBenchResult{}, err
			}
		}
		var probes [2]probeResult
		for i, tab := range tabs {
			base := bases[min(i, opts.Nodes-1)]
			u := strings.TrimSuffix(base, "/") + "/r/" + url.PathEscape(room) + "?name=" + url.QueryEscape(fmt.Sprintf("Tab %d", i+1))
			tctx, cancel := context.WithTimeout(ctx, joinTrialTimeout)
			err := tab.navigate(tctx, u)
			cancel()
			if err == nil {
				_, err = evalIn(tab, waitForJS(`[data-testid=join]:not([disabled])`))
			}
			if err == nil {
				_, err = evalIn(tab, frameProbe)
			}
			if err == nil {
				_, err = evalIn(tab, `document.querySelector('[data-testid=join]').click(), true`)
			}
			if err == nil && i == 0 {
				// The first waits until it is in the meeting with its camera on.
				_, err = evalIn(tab, waitForJS(`video[data-self]`))
			}
			if err != nil {
				return JoinBenchResult{}, fmt.Errorf("bench: trial %d: tab %d joins: %w", trial+1, i+1, err)
			}
		}
		deadline := time.Now().Add(joinTrialTimeout)
		for {
			for i, tab := range tabs {
				raw, err := evalIn(tab, `window.__probe`)
				if err == nil {
					err = json.Unmarshal(raw, &probes[i])
				}
				if err != nil {
					return JoinBenchResult{}, fmt.Errorf("bench: trial %d: read tab %d: %w", trial+1, i+1, err)
				}
			}
			if probes[0].First > 0 && probes[1].First > 0 {
				break
			}
			if time.Now().After(deadline) {
				return JoinBenchResult{}, fmt.Errorf("bench: trial %d: no remote frame within %v (tab 1 %+v, tab 2 %+v)",
					trial+1, joinTrialTimeout, probes[0], probes[1])
			}
			time.Sleep(20 * time.Millisecond)
		}
		worst := max(probes[0].First, probes[1].First) - probes[1].Join
		took = append(took, time.Duration(worst)*time.Millisecond)
		self = append(self, time.Duration(probes[1].First-probes[1].Join)*time.Millisecond)
		progress("  trial %2d: %4d ms; the joiner, ms after its click: %s", trial+1, worst, probes[1].phases())
		for _, tab := range tabs {
			tctx, cancel := context.WithTimeout(ctx, joinTrialTimeout)
			err := tab.navigate(tctx, "about:blank")
			cancel()
			if err != nil {
				return JoinBenchResult{}, err
			}
		}
	}
	res := JoinBenchResult{Nodes: opts.Nodes, Trials: opts.Trials, P50Ms: quantileMs(took, 0.5), P99Ms: quantileMs(took, 0.99),
		MaxMs: ms(slices.Max(took)), SelfMs: quantileMs(self, 0.5)}
	if err := writeResult(opts.Out, res); err != nil {
		return JoinBenchResult{}, err
	}
	return res, nil
}

type probeResult struct {
	Join     int64   `json:"join"`
	First    int64   `json:"first"`
	WS       int64   `json:"ws"`
	Joined   int64   `json:"joined"`
	SubOffer int64   `json:"sub_offer"`
	PC       []int64 `json:"pc"`
	Track    int64   `json:"track"`
	Key      int64   `json:"key"`
}

// phases says when the joiner reached each step, in ms after its click.
func (p probeResult) phases() string {
	at := func(t int64) string {
		if t == 0 {
			return "-"
		}
		return fmt.Sprint(t - p.Join)
	}
	pcs := make([]string, len(p.PC))
	for i, t := range p.PC {
		pcs[i] = at(t)
	}
	return fmt.Sprintf("socket %s, joined %s, peer connections up %s, node's offer %s, first track %s, the other's key %s, first frame %s",
		at(p.WS), at(p.Joined), strings.Join(pcs, "/"), at(p.SubOffer), at(p.Track), at(p.Key), at(p.First))
}

// evalIn evaluates js in tab (awaiting a promise) and returns its value as JSON.
func evalIn(t *tab, js string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), joinTrialTimeout)
	defer cancel()
	return t.eval(ctx, js)
}

// waitForJS is a promise that resolves when an element matches sel (polling every 10 ms).
func waitForJS(sel string) string {
	q, _ := json.Marshal(sel)
	return `new Promise((resolve) => { const f = () => document.querySelector(` + string(q) +
		`) ? resolve(true) : setTimeout(f, 10); f(); })`
}

// FindChromium returns the Chromium to use: $PARLEY_CHROMIUM if set, else chromium on the
// PATH or in /usr/bin, else "".
func FindChromium() string {
	if p := os.Getenv("PARLEY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium"
	}
	return ""
}
