package testnet

import (
	"fmt"
	"testing"
	"time"
)

// TestBrowserCascade: a meeting across three federated nodes in real Chromium, end-to-end
// encrypted. Alice joins through node A and Bob through node B: each sees the other's video
// and hears the other's audio. Carol joins through node C and sees and hears both. Each
// browser talks only to its own node; the nodes carry the media between them on the cascade,
// which never holds a key.
func TestBrowserCascade(t *testing.T) {
	RequireChromium(t)
	e := NewEnv(t, 3, WithNames("Ministère A", "Ministère B", "Ministère C"))
	room := e.CreateRoom(0, "Across three organisations")

	people := []struct {
		name string
		node *TestNode
		b    *Browser
	}{{name: "Alice", node: e.Nodes[0]}, {name: "Bob", node: e.Nodes[1]}, {name: "Carol", node: e.Nodes[2]}}
	for i := range people {
		people[i].b = NewBrowser(t, people[i].name)
		people[i].b.Join(people[i].node.URL(), room.ID, people[i].name)
	}
	alice, bob, carol := people[0].b, people[1].b, people[2].b

	start := time.Now()
	for _, w := range []struct {
		who  *Browser
		whom string
	}{{bob, "Alice"}, {alice, "Bob"}, {carol, "Alice"}, {carol, "Bob"}} {
		w.who.WaitVideoPlaying(fmt.Sprintf(`video[data-participant-name=%q]`, w.whom), e2eeMediaWait)
		waitAudioHeard(t, w.who, w.whom, e2eeMediaWait)
	}
	t.Logf("video and audio cross the cascade in every direction checked %v after the last browser joined",
		time.Since(start).Round(time.Millisecond))
	for _, p := range people {
		waitE2EEStatus(t, p.b, "encrypted", e2eeStatusWait)
		noUndecryptableTiles(t, p.b)
	}

	// Each node has its own browser only; the others' media reached it over the cascade.
	for i, p := range people {
		if n := p.node.Node.Status().Participants; n != 1 {
			t.Errorf("node %s serves %d participants, want its own 1", p.node.Name, n)
		}
		for j, q := range people {
			if i == j {
				continue
			}
			st, ok := linkTo(p.node, q.node)
			if !ok {
				t.Errorf("node %s has no cascade link with %s", p.node.Name, q.node.Name)
				continue
			}
			var in uint64
			for _, ts := range st.Inbound {
				for l := range ts.Packets {
					in += ts.Packets[l]
				}
			}
			if in == 0 {
				t.Errorf("node %s received no media from %s over the cascade", p.node.Name, q.node.Name)
			}
		}
	}
	for _, p := range people {
		if errs := p.b.ConsoleErrors(); len(errs) > 0 {
			t.Logf("browser %s console errors: %q", p.b.name, errs)
		}
	}
}

// waitAudioHeard waits until b plays audible sound from the participant named name: the
// <audio> element carrying their microphone, decrypted by the page, measured through a Web
// Audio analyser. Chromium's fake microphone beeps about once a second, so the peak level is
// taken over windows of 1.5 s.
func waitAudioHeard(t *testing.T, b *Browser, name string, timeout time.Duration) {
	t.Helper()
	js := `(async () => {
		const a = document.querySelector('audio[data-participant-audio=' + JSON.stringify(` + jsString(name) + `) + ']');
		if (!a || !a.srcObject) return -1;
		window.__parleyMeters = window.__parleyMeters || new Map();
		let m = window.__parleyMeters.get(a);
		if (!m) {
			const ctx = new AudioContext();
			const an = ctx.createAnalyser();
			an.fftSize = 2048;
			ctx.createMediaStreamSource(a.srcObject).connect(an);
			m = { ctx, an, buf: new Float32Array(an.fftSize) };
			window.__parleyMeters.set(a, m);
		}
		if (m.ctx.state !== 'running') await m.ctx.resume();
		let peak = 0;
		for (let i = 0; i < 30; i++) {
			m.an.getFloatTimeDomainData(m.buf);
			for (const v of m.buf) peak = Math.max(peak, Math.abs(v));
			await new Promise((r) => setTimeout(r, 50));
		}
		return peak;
	})()`
	var last float64
	Eventually(t, timeout, fmt.Sprintf("%s hears %s", b.name, name), func() error {
		peak, err := Eval[float64](b, js)
		last = peak
		switch {
		case err != nil:
			return err
		case peak < 0:
			return fmt.Errorf("no audio element for %s", name)
		case peak < 0.01:
			return fmt.Errorf("silent: peak level %.4f", peak)
		}
		return nil
	})
	t.Logf("browser %s hears %s: peak level %.3f", b.name, name, last)
}
