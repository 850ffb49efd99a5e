package testnet

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// harnessPage publishes the fake camera into one <video> and, on a click, the fake screen
// into another: the same browser features the web client relies on, without a node.
const harnessPage = `<!doctype html>
<html><body>
<button data-testid="go">share</button>
<input data-testid="in"><pre data-testid="log"></pre>
<video data-participant-name="Self" autoplay muted playsinline></video>
<script>
navigator.mediaDevices.getUserMedia({audio: true, video: true}).then(s => {
	document.querySelector('video[data-participant-name="Self"]').srcObject = s;
});
document.querySelector('[data-testid=go]').onclick = async () => {
	const s = await navigator.mediaDevices.getDisplayMedia({video: true});
	const v = document.createElement('video');
	v.autoplay = true; v.muted = true; v.dataset.screenOf = "Self"; v.srcObject = s;
	document.body.appendChild(v);
};
document.querySelector('[data-testid=in]').onkeydown = e => {
	if (e.key === 'Enter') {
		document.querySelector('[data-testid=log]').textContent += 'Self: ' + e.target.value + '\n';
		e.target.value = '';
		if (e.target.dataset.throw) setTimeout(() => { throw new Error('boom from the page') });
	}
};
</script></body></html>`

// TestBrowserHarness checks the harness on a plain page: fake camera and fake screen play,
// typing with Enter works, and an uncaught exception in the page is caught.
func TestBrowserHarness(t *testing.T) { forEachBrowser(t, testBrowserHarness) }

func testBrowserHarness(t *testing.T, kind string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(harnessPage))
	}))
	t.Cleanup(srv.Close)

	b := NewBrowserOf(t, kind, "harness")
	b.Open(srv.URL)
	cam := b.WaitVideoPlaying(`video[data-participant-name="Self"]`, 15*time.Second)
	if cam.Width == 0 || cam.Height == 0 {
		t.Errorf("camera video %+v", cam)
	}

	if kind != Firefox { // headless Firefox has no fake screen to share (getDisplayMedia: NotFoundError)
		b.Click(`[data-testid=go]`)
		b.WaitVideoPlaying(`video[data-screen-of="Self"]`, 15*time.Second)
	}

	b.Type(`[data-testid=in]`, "hello there\n")
	b.WaitText(`[data-testid=log]`, "Self: hello there", 5*time.Second)

	if _, err := Eval[bool](b, `document.querySelector('[data-testid=in]').dataset.throw = "1", true`); err != nil {
		t.Fatal(err)
	}
	b.Type(`[data-testid=in]`, "again\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(b.Uncaught()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := b.Uncaught()
	if len(got) != 1 || !strings.Contains(got[0], "boom from the page") {
		t.Fatalf("uncaught exceptions = %q, want the page's one", got)
	}
	// The harness would fail this test for that exception at cleanup; it was expected here.
	b.mu.Lock()
	b.uncaught = nil
	b.mu.Unlock()
}
