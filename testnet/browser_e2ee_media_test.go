package testnet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/identity"
)

// Media frames and chat between package identity and the browser's e2ee library, the key
// ring's retention rule, the transform worker on streams of frames, and a real encrypted
// WebRTC call inside Chromium.
// TestBrowserE2EELib (browser_e2ee_lib_test.go) runs these.

// e2eeFrame is one encoded media frame of a test.
type e2eeFrame struct {
	Codec string `json:"codec"` // "vp8" or "opus", as the browser names them
	Hex   string `json:"hex"`
	codec identity.Codec
	data  []byte
}

// e2eeSampleFrames are frames of each shape the clear-prefix rule tells apart: a VP8
// keyframe (10 clear bytes), VP8 delta frames (3, one of them nothing but the frame tag), an
// Opus frame (1) and a large keyframe.
func e2eeSampleFrames(t *testing.T) []e2eeFrame {
	t.Helper()
	filler := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	key := append([]byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, filler(300, 1)...)
	big := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02}, filler(60000, 3)...)
	frames := []struct {
		c    identity.Codec
		data []byte
	}{
		{identity.CodecVP8, key},
		{identity.CodecVP8, append([]byte{0x31, 0x07, 0x00}, filler(120, 5)...)},
		{identity.CodecOpus, append([]byte{0x78}, filler(80, 9)...)},
		{identity.CodecVP8, []byte{0x31, 0x01, 0x00}},
		{identity.CodecVP8, big},
		{identity.CodecOpus, []byte{0xfc, 0xff, 0xfe}},
	}
	out := make([]e2eeFrame, len(frames))
	for i, f := range frames {
		out[i] = e2eeFrame{Codec: f.c.String(), Hex: hex.EncodeToString(f.data), codec: f.c, data: f.data}
	}
	return out
}

// e2eeChatTexts are the chat messages of the tests: ASCII, and UTF-8 with quotes and lines.
func e2eeChatTexts() []string {
	return []string{"Hello from Go", "Grüße, 你好 👋 — with \"quotes\" and\nnew lines"}
}

func testE2EEFramesGoToBrowser(t *testing.T, b *Browser) {
	base := e2eeRandomKey(t)
	kid := identity.KIDOf(9, 1)
	key, err := identity.NewSFrameKey(base, kid)
	if err != nil {
		t.Fatal(err)
	}
	s := identity.NewFrameSender()
	s.SetKey(key)
	frames, texts := e2eeSampleFrames(t), e2eeChatTexts()
	var sealed []e2eeFrame
	for _, f := range frames {
		out, err := s.EncryptFrame(nil, f.codec, f.data)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, e2eeFrame{Codec: f.Codec, Hex: hex.EncodeToString(out)})
	}
	var chats []string
	for _, text := range texts {
		c, err := s.EncryptChat(e2eeRoom, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		chats = append(chats, base64.StdEncoding.EncodeToString(c))
	}
	type res struct {
		Frames   []string `json:"frames"`
		KIDs     []string `json:"kids"`
		CTRs     []string `json:"ctrs"`
		Chats    []string `json:"chats"`
		ChatCTRs []string `json:"chatCtrs"`
		Replay   string   `json:"replay"`
		Chat     string   `json:"chatReplay"`
		Clear    string   `json:"clearTampered"`
		Body     string   `json:"bodyTampered"`
		Room     string   `json:"otherRoom"`
		Unknown  string   `json:"unknown"`
	}
	r := e2eeRun[res](t, b, map[string]any{"base": hex.EncodeToString(base), "kid": kid, "frames": sealed, "chats": chats, "room": e2eeRoom}, `
		const key = await sf.SFrameKey.create(enc.fromHex(A.base), A.kid);
		const r = new sf.FrameReceiver((kid) => (kid === key.kid ? key : undefined));
		const out = {frames: [], kids: [], ctrs: [], chats: [], chatCtrs: []};
		for (const f of A.frames) {
			const got = await r.openFrame(f.codec, enc.fromHex(f.hex));
			out.frames.push(enc.hex(got.frame)); out.kids.push(String(got.kid)); out.ctrs.push(String(got.ctr));
		}
		for (const c of A.chats) {
			const got = await r.openChat(A.room, enc.fromB64(c));
			out.chats.push(got.text); out.chatCtrs.push(String(got.ctr));
		}
		const code = async (f) => { try { await f(); return 'opened'; } catch (e) { return e.code || String(e); } };
		const first = enc.fromHex(A.frames[0].hex);
		out.replay = await code(() => r.openFrame('vp8', first));
		out.chatReplay = await code(() => r.openChat(A.room, enc.fromB64(A.chats[0])));
		const fresh = new sf.FrameReceiver((kid) => (kid === key.kid ? key : undefined));
		const clear = first.slice(); clear[6] ^= 0x40; // the keyframe's width, in the clear
		out.clearTampered = await code(() => fresh.openFrame('vp8', clear));
		const body = first.slice(); body[40] ^= 1;
		out.bodyTampered = await code(() => fresh.openFrame('vp8', body));
		out.otherRoom = await code(() => fresh.openChat('room-other', enc.fromB64(A.chats[1])));
		out.unknown = await code(() => new sf.FrameReceiver(() => undefined).openFrame('vp8', first));
		return out;`)
	if len(r.Frames) != len(frames) || len(r.Chats) != len(texts) {
		t.Fatalf("browser decrypted %d frames and %d chats", len(r.Frames), len(r.Chats))
	}
	for i, f := range frames {
		if r.Frames[i] != f.Hex || r.KIDs[i] != strconv.FormatUint(kid, 10) || r.CTRs[i] != strconv.Itoa(i) {
			t.Errorf("frame %d (%s, %d bytes): browser got kid %s ctr %s, %d bytes, equal %v", i, f.Codec, len(f.data), r.KIDs[i], r.CTRs[i], len(r.Frames[i])/2, r.Frames[i] == f.Hex)
		}
	}
	for i, text := range texts {
		if r.Chats[i] != text || r.ChatCTRs[i] != strconv.FormatUint(1<<63+uint64(i), 10) {
			t.Errorf("chat %d: browser got %q at CTR %s", i, r.Chats[i], r.ChatCTRs[i])
		}
	}
	want := map[string][2]string{
		"replayed frame": {r.Replay, "replay"}, "replayed chat": {r.Chat, "replay"},
		"clear byte changed": {r.Clear, "auth"}, "ciphertext changed": {r.Body, "auth"},
		"chat of another room": {r.Room, "auth"}, "unknown KID": {r.Unknown, "unknown_kid"},
	}
	for name, w := range want {
		if w[0] != w[1] {
			t.Errorf("%s: browser says %q, want %q", name, w[0], w[1])
		}
	}
	t.Logf("%d Go frames and %d Go chats decrypted in the browser; %d bad ones refused", len(frames), len(chats), len(want))
}

// testE2EEFramesBrowserToGo encrypts in the browser and decrypts in Go; with the same key and
// CTRs, the browser's bytes must equal what Go's own sender makes.
func testE2EEFramesBrowserToGo(t *testing.T, b *Browser) {
	base := e2eeRandomKey(t)
	kid := identity.KIDOf(e2eeBrowserTag, 3)
	frames, texts := e2eeSampleFrames(t), e2eeChatTexts()
	type res struct {
		Frames []string `json:"frames"`
		Chats  []string `json:"chats"`
	}
	r := e2eeRun[res](t, b, map[string]any{"base": hex.EncodeToString(base), "kid": kid, "frames": frames, "chats": texts, "room": e2eeRoom}, `
		const s = new sf.FrameSender();
		s.setKey(await sf.SFrameKey.create(enc.fromHex(A.base), A.kid));
		const out = {frames: [], chats: []};
		for (const f of A.frames) out.frames.push(enc.hex(await s.sealFrame(f.codec, enc.fromHex(f.hex))));
		for (const c of A.chats) out.chats.push(enc.b64(await s.sealChat(A.room, c)));
		return out;`)

	key, err := identity.NewSFrameKey(base, kid)
	if err != nil {
		t.Fatal(err)
	}
	goSender := identity.NewFrameSender()
	goSender.SetKey(key)
	recv := identity.NewFrameReceiver(func(k uint64) (*identity.SFrameKey, bool) { return key, k == kid })
	for i, f := range frames {
		got, err := hex.DecodeString(r.Frames[i])
		if err != nil {
			t.Fatal(err)
		}
		same, _ := goSender.EncryptFrame(nil, f.codec, f.data)
		if !bytes.Equal(got, same) {
			t.Errorf("frame %d (%s): browser ciphertext differs from Go's for the same key and CTR", i, f.Codec)
		}
		plain, gotKID, err := recv.DecryptFrame(nil, f.codec, got)
		if err != nil || gotKID != kid || !bytes.Equal(plain, f.data) {
			t.Errorf("frame %d (%s): Go decrypts to %d bytes, kid %d, error %v", i, f.Codec, len(plain), gotKID, err)
		}
		if n := identity.ClearPrefix(f.codec, f.data); !bytes.Equal(got[:n], f.data[:n]) {
			t.Errorf("frame %d (%s): the first %d bytes are not left clear", i, f.Codec, n)
		}
	}
	for i, text := range texts {
		got, err := base64.StdEncoding.DecodeString(r.Chats[i])
		if err != nil {
			t.Fatal(err)
		}
		same, _ := goSender.EncryptChat(e2eeRoom, []byte(text))
		if !bytes.Equal(got, same) {
			t.Errorf("chat %d: browser ciphertext differs from Go's for the same key and CTR", i)
		}
		plain, _, err := recv.DecryptChat(e2eeRoom, got)
		if err != nil || string(plain) != text {
			t.Errorf("chat %d: Go decrypts %q, %v", i, plain, err)
		}
	}
	if !t.Failed() {
		t.Logf("%d browser frames and %d browser chats decrypted in Go, byte-identical to Go's own", len(frames), len(texts))
	}
}

// testE2EEKeyRing runs one script of adds, expiries and departures on Go's KeyRing and on the
// browser's, and compares every answer.
func testE2EEKeyRing(t *testing.T, b *Browser) {
	type op struct {
		Op    string `json:"op"` // add, expire, removeTag, lookup
		KID   uint64 `json:"kid"`
		Key   int    `json:"key"` // index into keys
		Tag   uint32 `json:"tag"`
		NowMs int64  `json:"now"`
	}
	keys := []string{hex.EncodeToString(e2eeRandomKey(t)), hex.EncodeToString(e2eeRandomKey(t)), hex.EncodeToString(e2eeRandomKey(t)), hex.EncodeToString(e2eeRandomKey(t))}
	k := identity.KIDOf
	ops := []op{
		{Op: "add", KID: k(5, 0), Key: 0, NowMs: 0},
		{Op: "add", KID: k(5, 1), Key: 1, NowMs: 1000},
		{Op: "add", KID: k(5, 0), Key: 0, NowMs: 1500},
		{Op: "add", KID: k(6, 0xffff), Key: 2, NowMs: 2000},
		{Op: "add", KID: k(6, 0), Key: 3, NowMs: 3000},
		{Op: "add", KID: k(5, 1), Key: 3, NowMs: 3500},
		{Op: "expire", NowMs: 10999},
		{Op: "lookup", KID: k(5, 0)},
		{Op: "expire", NowMs: 11000},
		{Op: "lookup", KID: k(5, 0)},
		{Op: "add", KID: k(5, 0), Key: 0, NowMs: 11500},
		{Op: "expire", NowMs: 13000},
		{Op: "lookup", KID: k(6, 0)},
		{Op: "removeTag", Tag: 5},
		{Op: "lookup", KID: k(5, 1)},
		{Op: "expire", NowMs: 1 << 40},
		{Op: "lookup", KID: k(6, 0)},
	}
	got := e2eeRun[[]string](t, b, map[string]any{"ops": ops, "keys": keys}, `
		const ring = new keyring.KeyRing();
		const out = [];
		for (const o of A.ops) {
			switch (o.op) {
			case 'add':
				try { await ring.add(o.kid, enc.fromHex(A.keys[o.key]), o.now); out.push('ok'); } catch { out.push('error'); }
				break;
			case 'expire': out.push(ring.expire(o.now).join(',')); break;
			case 'removeTag': out.push(ring.removeTag(o.tag).join(',')); break;
			case 'lookup': { const key = ring.lookup(o.kid); out.push(key ? 'key ' + key.kid : 'none'); break; }
			}
		}
		return out;`)

	ring := identity.NewKeyRing(0)
	var want []string
	join := func(kids []uint64) string {
		s := make([]string, len(kids))
		for i, kid := range kids {
			s[i] = strconv.FormatUint(kid, 10)
		}
		return strings.Join(s, ",")
	}
	for _, o := range ops {
		now := time.UnixMilli(o.NowMs)
		switch o.Op {
		case "add":
			base, _ := hex.DecodeString(keys[o.Key])
			if err := ring.Add(o.KID, base, now); err != nil {
				want = append(want, "error")
			} else {
				want = append(want, "ok")
			}
		case "expire":
			want = append(want, join(ring.Expire(now)))
		case "removeTag":
			want = append(want, join(ring.RemoveTag(o.Tag)))
		case "lookup":
			if key, ok := ring.Lookup(o.KID); ok {
				want = append(want, "key "+strconv.FormatUint(key.KID(), 10))
			} else {
				want = append(want, "none")
			}
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("key ring script:\n browser %q\n Go      %q", got, want)
	} else {
		t.Logf("key ring: %d steps agree: %q", len(ops), got)
	}
}

// testE2EEWorker streams frames through the transform worker: received frames that decrypt
// pass in order and nothing else does, each failure is reported by KID and participant, and
// sent frames are encrypted (or dropped when there is no key).
func testE2EEWorker(t *testing.T, b *Browser) {
	base, otherBase, sendBase := e2eeRandomKey(t), e2eeRandomKey(t), e2eeRandomKey(t)
	kid, otherKID, sendKID := identity.KIDOf(9, 2), identity.KIDOf(10, 0), identity.KIDOf(e2eeBrowserTag, 5)
	s, other := identity.NewFrameSender(), identity.NewFrameSender()
	for _, p := range []struct {
		snd  *identity.FrameSender
		base []byte
		kid  uint64
	}{{s, base, kid}, {other, otherBase, otherKID}} {
		k, err := identity.NewSFrameKey(p.base, p.kid)
		if err != nil {
			t.Fatal(err)
		}
		p.snd.SetKey(k)
	}

	samples := e2eeSampleFrames(t)
	var vp8 []e2eeFrame
	for _, f := range samples {
		if f.codec == identity.CodecVP8 {
			vp8 = append(vp8, f)
		}
	}
	seal := func(snd *identity.FrameSender, f e2eeFrame) string {
		out, err := snd.EncryptFrame(nil, f.codec, f.data)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(out)
	}
	var sealed []string
	for _, f := range vp8 {
		sealed = append(sealed, seal(s, f))
	}
	tampered, _ := hex.DecodeString(sealed[2])
	tampered[len(tampered)-1] ^= 1 // a bit of the tag
	incoming := []string{sealed[0], sealed[1], hex.EncodeToString(tampered), sealed[2], sealed[0], seal(other, vp8[1]), sealed[3]}
	wantOut := []string{vp8[0].Hex, vp8[1].Hex, vp8[2].Hex, vp8[3].Hex}

	var outgoing []string
	for _, f := range samples {
		if f.codec == identity.CodecOpus {
			outgoing = append(outgoing, f.Hex)
		}
	}

	type event struct {
		KID         *uint64 `json:"kid"`
		Tag         *uint32 `json:"tag"`
		Participant string  `json:"participant"`
		Reason      string  `json:"reason"`
		Count       int     `json:"count"`
	}
	type res struct {
		Received []string          `json:"received"`
		Unsent   []string          `json:"unsent"`
		Sent     []string          `json:"sent"`
		Events   []event           `json:"events"`
		Dec      map[string]int    `json:"decrypted"`
		Enc      map[string]int    `json:"encrypted"`
		Dropped  map[string]int    `json:"dropped"`
		AddAgain string            `json:"addAgain"`
		Extra    map[string]string `json:"extra"`
	}
	r := e2eeRun[res](t, b, map[string]any{
		"kid": kid, "base": hex.EncodeToString(base), "otherKid": otherKID, "incoming": incoming,
		"sendKid": sendKID, "sendBase": hex.EncodeToString(sendBase), "outgoing": outgoing,
	}, `
		const events = [];
		let stats = null;
		const media = new transform.MediaEncryption({onUndecryptable: (e) => events.push(e), onStats: (s) => { stats = s; }});
		try {
			const run = async (opts, frames) => {
				const readable = new ReadableStream({start(c) { for (const h of frames) c.enqueue({data: enc.fromHex(h).buffer}); c.close(); }});
				const out = [];
				let writable;
				const closed = new Promise((resolve, reject) => {
					writable = new WritableStream({write(f) { out.push(enc.hex(new Uint8Array(f.data))); }, close: resolve, abort: reject});
				});
				media.worker.postMessage({type: 'stream', ...opts, readable, writable}, [readable, writable]);
				await closed;
				return out;
			};
			await media.addKey(A.kid, enc.fromHex(A.base), 'go-9');
			let addAgain = 'accepted';
			await media.addKey(A.kid, enc.fromHex(A.base), 'go-9');
			try { await media.addKey(A.kid, enc.fromHex(A.sendBase), 'go-9'); } catch (e) { addAgain = 'refused'; }
			const received = await run({side: 'receive', kind: 'video', codec: 'vp8', participant: 'go-9'}, A.incoming);
			const unsent = await run({side: 'send', kind: 'audio'}, A.outgoing);
			await media.setKey(A.sendKid, enc.fromHex(A.sendBase));
			const sent = await run({side: 'send', kind: 'audio'}, A.outgoing);
			const done = () => stats && stats.decrypted[String(A.kid)] === 4 && stats.encrypted[String(A.sendKid)] === A.outgoing.length &&
				events.some((e) => e.kid === A.kid && e.count === 2);
			for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
			return {received, unsent, sent, events, addAgain, ...(stats || {})};
		} finally {
			media.close();
		}`)

	if len(r.Received) != len(wantOut) {
		t.Fatalf("worker passed %d received frames, want %d", len(r.Received), len(wantOut))
	}
	for i := range wantOut {
		if r.Received[i] != wantOut[i] {
			t.Errorf("received frame %d is not the plaintext", i)
		}
	}
	if len(r.Unsent) != 0 || r.Dropped["no_key"] != len(outgoing) {
		t.Errorf("without a key the worker sent %d frames and dropped %v", len(r.Unsent), r.Dropped)
	}
	sendKey, _ := identity.NewSFrameKey(sendBase, sendKID)
	recv := identity.NewFrameReceiver(func(k uint64) (*identity.SFrameKey, bool) { return sendKey, k == sendKID })
	if len(r.Sent) != len(outgoing) {
		t.Fatalf("worker sent %d frames, want %d", len(r.Sent), len(outgoing))
	}
	for i, h := range r.Sent {
		data, _ := hex.DecodeString(h)
		plain, _, err := recv.DecryptFrame(nil, identity.CodecOpus, data)
		if err != nil || hex.EncodeToString(plain) != outgoing[i] {
			t.Errorf("sent frame %d: Go decrypts %x, %v", i, plain, err)
		}
	}
	if r.AddAgain != "refused" {
		t.Errorf("a different key under a KID already held was %s", r.AddAgain)
	}
	if r.Dec[strconv.FormatUint(kid, 10)] != 4 || r.Enc[strconv.FormatUint(sendKID, 10)] != len(outgoing) {
		t.Errorf("worker stats: decrypted %v, encrypted %v", r.Dec, r.Enc)
	}
	var ownLast, unknown *event
	for i := range r.Events {
		e := &r.Events[i]
		switch {
		case e.KID != nil && *e.KID == kid:
			ownLast = e
		case e.KID != nil && *e.KID == otherKID:
			unknown = e
		default:
			t.Errorf("unexpected undecryptable event %+v", *e)
		}
	}
	if ownLast == nil || ownLast.Count != 2 || ownLast.Participant != "go-9" || ownLast.Tag == nil || *ownLast.Tag != 9 {
		t.Errorf("events for the tampered and the replayed frame: last %+v", ownLast)
	}
	if unknown == nil || unknown.Count != 1 || unknown.Reason != "unknown_kid" || unknown.Participant != "go-9" || *unknown.Tag != 10 {
		t.Errorf("event for the unknown KID: %+v", unknown)
	}
	t.Logf("worker: %d of %d received frames passed, %d events, %d frames sent encrypted", len(r.Received), len(incoming), len(r.Events), len(r.Sent))
}

// testE2EEWebRTC makes a call between two peer connections in the page, camera (VP8) and
// microphone (Opus) encrypted by the transform worker on the way out and decrypted on the way
// in. Then the receive key is erased: frames are reported undecryptable and the picture stops.
func testE2EEWebRTC(t *testing.T, b *Browser) {
	kid := identity.KIDOf(11, 0)
	e2eeRun[bool](t, b, map[string]any{"kid": kid, "base": hex.EncodeToString(e2eeRandomKey(t))}, `
		const loop = {events: [], stats: null};
		window.loop = loop;
		loop.media = new transform.MediaEncryption({onUndecryptable: (e) => loop.events.push(e), onStats: (s) => { loop.stats = s; }});
		const key = enc.fromHex(A.base);
		await loop.media.setKey(A.kid, key);
		await loop.media.addKey(A.kid, key, 'loop');
		loop.stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
		const pc1 = new RTCPeerConnection(), pc2 = new RTCPeerConnection();
		loop.pcs = [pc1, pc2];
		pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
		pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
		const vp8 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/VP8');
		for (const track of loop.stream.getTracks()) {
			const tr = pc1.addTransceiver(track, {direction: 'sendonly', streams: [loop.stream]});
			if (track.kind === 'video') tr.setCodecPreferences(vp8);
			loop.media.attachSender(tr.sender, track.kind);
		}
		pc2.ontrack = (e) => {
			loop.media.attachReceiver(e.receiver, e.track.kind, 'loop');
			if (e.track.kind !== 'video') return;
			const v = document.createElement('video');
			v.muted = true; v.autoplay = true; v.playsInline = true; v.dataset.e2eeLoop = '1';
			v.srcObject = new MediaStream([e.track]);
			document.body.append(v);
		};
		const offer = await pc1.createOffer();
		await pc1.setLocalDescription(offer);
		await pc2.setRemoteDescription(offer);
		const answer = await pc2.createAnswer();
		await pc2.setLocalDescription(answer);
		await pc1.setRemoteDescription(answer);
		return true;`)
	t.Cleanup(func() {
		_, _ = Eval[bool](b, `(() => { const l = window.loop; if (!l) return true;
			l.pcs.forEach((pc) => pc.close()); l.stream.getTracks().forEach((t) => t.stop()); l.media.close(); return true; })()`)
	})

	const sel = `video[data-e2ee-loop]`
	b.WaitVideoPlaying(sel, 20*time.Second)

	type stats struct {
		Dec    map[string]int `json:"decrypted"`
		Enc    map[string]int `json:"encrypted"`
		Events int            `json:"events"`
		Codecs []string       `json:"codecs"`
	}
	k := strconv.FormatUint(kid, 10)
	st := e2eeRun[stats](t, b, map[string]any{"kid": k}, `
		const l = window.loop;
		for (let i = 0; i < 60 && !(l.stats && l.stats.decrypted[A.kid] > 0); i++) await new Promise((r) => setTimeout(r, 50));
		const codecs = [];
		(await l.pcs[1].getStats()).forEach((s) => { if (s.type === 'codec') codecs.push(s.mimeType); });
		return {decrypted: l.stats ? l.stats.decrypted : {}, encrypted: l.stats ? l.stats.encrypted : {}, events: l.events.length, codecs};`)
	if st.Dec[k] == 0 || st.Enc[k] == 0 || st.Events != 0 {
		t.Fatalf("encrypted call: decrypted %v, encrypted %v, %d undecryptable events; codecs %v", st.Dec, st.Enc, st.Events, st.Codecs)
	}
	t.Logf("encrypted call plays: %d frames encrypted, %d decrypted under KID %s; codecs %v", st.Enc[k], st.Dec[k], k, st.Codecs)

	// Without the key, frames are dropped and reported, never shown.
	type undec struct {
		KID         uint64 `json:"kid"`
		Participant string `json:"participant"`
		Reason      string `json:"reason"`
	}
	ev := e2eeRun[*undec](t, b, map[string]any{"kid": kid}, `
		const l = window.loop;
		await l.media.removeKey(A.kid);
		for (let i = 0; i < 60 && l.events.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
		return l.events[0] || null;`)
	if ev == nil || ev.KID != kid || ev.Participant != "loop" || ev.Reason != "unknown_kid" {
		t.Fatalf("after erasing the key: event %+v", ev)
	}
	before, err := b.Video(sel)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // a window to count frames in, as WaitVideoPlaying does
	after, err := b.Video(sel)
	if err != nil {
		t.Fatal(err)
	}
	if after.Frames-before.Frames > 3 {
		t.Errorf("%d frames shown in 1.5 s without the key", after.Frames-before.Frames)
	}
}
