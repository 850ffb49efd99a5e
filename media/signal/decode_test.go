package signal

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// chromeOffer is a session description Chromium produced for a microphone and a camera sent
// with three simulcast encodings (rids q, h, f): the largest, most varied SDP a client sends.
func chromeOffer(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/chrome_offer_simulcast.sdp")
	if err != nil {
		tb.Fatalf("read Chromium offer: %v", err)
	}
	return string(b)
}

// chromeCandidate is an ICE candidate line as Chromium sends it in a candidate message.
const chromeCandidate = "candidate:368597665 1 udp 2122194687 192.0.2.2 38251 typ host generation 0 ufrag r+dW network-id 1"

// mustJSON encodes v, failing the test on error.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("encode %#v: %v", v, err)
	}
	return string(b)
}

// testKeys are public keys as a join carries them; signal checks only their presence and
// size (the node parses them).
var testKeys = map[string]string{"sig_pub": "c2lnLXB1Yg", "age": "age1test"}

const keysJSON = `,"keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}`

// clientMessages are valid messages of every type a client may send, with the fields each needs.
func clientMessages(tb testing.TB) map[string]string {
	sdp := chromeOffer(tb)
	return map[string]string{
		"join":        `{"type":"join","name":"Ada Lovelace","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join accent": `{"type":"join","name":"Éloïse Ü 山田","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"offer pub": mustJSON(tb, map[string]any{
			"type": "offer", "pc": "pub", "sdp": sdp,
			"tracks": map[string]any{"0": map[string]string{"source": "mic"}, "1": map[string]string{"source": "camera"}},
		}),
		"offer pub screen": mustJSON(tb, map[string]any{
			"type": "offer", "pc": "pub", "sdp": sdp,
			"tracks": map[string]any{"2": map[string]string{"source": "screen"}},
		}),
		"answer sub":          mustJSON(tb, map[string]any{"type": "answer", "pc": "sub", "sdp": sdp}),
		"candidate pub":       mustJSON(tb, map[string]any{"type": "candidate", "pc": "pub", "candidate": map[string]any{"candidate": chromeCandidate, "sdpMid": "0", "sdpMLineIndex": 0}}),
		"candidate sub":       mustJSON(tb, map[string]any{"type": "candidate", "pc": "sub", "candidate": map[string]any{"candidate": chromeCandidate, "sdpMid": "1", "sdpMLineIndex": 1}}),
		"end of candidates":   `{"type":"candidate","pc":"pub","candidate":{"candidate":""}}`,
		"chat":                `{"type":"chat","sframe":"AAECAwQFBgcICQoLDA0ODxA="}`,
		"chat max":            mustJSON(tb, map[string]any{"type": "chat", "sframe": make([]byte, MaxChatCiphertext)}),
		"join with mod":       `{"type":"join","name":"Mod","mod":"bW9kZXJhdG9yLXRva2Vu"` + keysJSON + `}`,
		"key":                 `{"type":"key","envelope":{"body":"{}","sig":"c2ln"}}`,
		"admit":               `{"type":"admit","id":"p1"}`,
		"remove":              `{"type":"remove","id":"p1"}`,
		"hand raised":         `{"type":"hand","raised":true}`,
		"hand lowered":        `{"type":"hand","raised":false}`,
		"mute mic":            `{"type":"mute","muted":true,"source":"mic"}`,
		"unmute camera":       `{"type":"mute","muted":false,"source":"camera"}`,
		"mute screen":         `{"type":"mute","muted":true,"source":"screen"}`,
		"layer low":           `{"type":"layer","track":"t1","quality":"low"}`,
		"layer medium":        `{"type":"layer","track":"t1","quality":"medium"}`,
		"layer high":          `{"type":"layer","track":"t1","quality":"high"}`,
		"leave":               `{"type":"leave"}`,
		"moderate mute":       `{"type":"moderate","action":"mute","id":"p1"}`,
		"moderate cohost":     `{"type":"moderate","action":"cohost","id":"p1"}`,
		"moderate mute all":   `{"type":"moderate","action":"mute_all"}`,
		"moderate hands":      `{"type":"moderate","action":"lower_hands"}`,
		"moderate end":        `{"type":"moderate","action":"end"}`,
		"react":               `{"type":"react","reaction":"clap"}`,
		"caption":             `{"type":"caption","sframe":"c2VhbGVk"}`,
		"agent join":          `{"type":"join","name":"Transcriber","agent":"token","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"transcribe":          `{"type":"moderate","action":"transcribe"}`,
		"ping":                `{"type":"ping"}`,
		"whitespace around":   " \n{\"type\":\"ping\"}\n ",
		"name at max":         mustJSON(tb, map[string]any{"type": "join", "name": strings.Repeat("n", MaxNameLen), "keys": testKeys}),
		"tracks at max":       mustJSON(tb, map[string]any{"type": "offer", "pc": "pub", "sdp": "v=0\r\n", "tracks": manyTracks(MaxTracks)}),
		"sdp at max":          mustJSON(tb, map[string]any{"type": "answer", "pc": "sub", "sdp": strings.Repeat("a", MaxSDPSize)}),
		"candidate mid max":   mustJSON(tb, map[string]any{"type": "candidate", "pc": "pub", "candidate": map[string]any{"candidate": chromeCandidate, "sdpMid": strings.Repeat("m", MaxIDLen)}}),
		"layer track id max":  mustJSON(tb, map[string]any{"type": "layer", "track": strings.Repeat("t", MaxIDLen), "quality": "low"}),
		"escaped unicode ok":  `{"type":"join","name":"\u00c9mile","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"fields in any order": `{"name":"Ada","type":"join","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
	}
}

func manyTracks(n int) map[string]any {
	tracks := make(map[string]any, n)
	for i := range n {
		tracks[strings.Repeat("x", i+1)] = map[string]string{"source": "camera"}
	}
	return tracks
}

func TestDecodeAcceptsEveryClientType(t *testing.T) {
	seen := map[string]bool{}
	for name, in := range clientMessages(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Decode([]byte(in))
			if err != nil {
				t.Fatalf("Decode(%.120q) = %v, want accepted", in, err)
			}
			seen[m.Type] = true
			checkRoundTrip(t, Decode, m)
		})
	}
	for _, typ := range []string{TypeJoin, TypeOffer, TypeAnswer, TypeCandidate, TypeChat, TypeHand, TypeMute, TypeLayer,
		TypeKey, TypeAdmit, TypeRemove, TypeModerate, TypeReact, TypeCaption, TypeLeave, TypePing} {
		if !seen[typ] {
			t.Errorf("no accepted sample of client type %q", typ)
		}
	}
}

func TestDecodeKeepsFields(t *testing.T) {
	sdp := chromeOffer(t)
	in := mustJSON(t, map[string]any{
		"type": "offer", "pc": "pub", "sdp": sdp,
		"tracks": map[string]any{"0": map[string]string{"source": "mic"}, "1": map[string]string{"source": "camera"}},
	})
	m, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeOffer || m.PC != PCPub || m.SDP != sdp {
		t.Errorf("offer decoded as type %q pc %q sdp %d bytes", m.Type, m.PC, len(m.SDP))
	}
	if len(m.Tracks) != 2 || m.Tracks["0"].Source != SourceMic || m.Tracks["1"].Source != SourceCamera {
		t.Errorf("tracks = %+v", m.Tracks)
	}
	if !strings.Contains(m.SDP, "a=simulcast:send q;h;f") {
		t.Errorf("simulcast line lost from the SDP")
	}

	m, err = Decode([]byte(`{"type":"candidate","pc":"sub","candidate":{"candidate":"c","sdpMid":"3","sdpMLineIndex":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidate == nil || m.Candidate.Candidate != "c" || m.Candidate.SDPMid == nil || *m.Candidate.SDPMid != "3" ||
		m.Candidate.SDPMLineIndex == nil || *m.Candidate.SDPMLineIndex != 2 {
		t.Errorf("candidate = %+v", m.Candidate)
	}

	m, err = Decode([]byte(`{"type":"hand","raised":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Raised == nil || *m.Raised {
		t.Errorf("hand raised = %v, want pointer to false", m.Raised)
	}
}

func TestDecodeRejects(t *testing.T) {
	sdp := chromeOffer(t)
	cases := map[string]string{
		"empty":                  ``,
		"whitespace":             `   `,
		"null":                   `null`,
		"array":                  `[{"type":"ping"}]`,
		"string":                 `"ping"`,
		"not json":               `type=join`,
		"truncated":              `{"type":"join","name":"Ada"`,
		"missing type":           `{"name":"Ada"}`,
		"empty type":             `{"type":""}`,
		"type not a string":      `{"type":7}`,
		"unknown type":           `{"type":"dance"}`,
		"moderate no action":     `{"type":"moderate"}`,
		"moderate bad action":    `{"type":"moderate","action":"ban"}`,
		"moderate mute no id":    `{"type":"moderate","action":"mute"}`,
		"moderate end with id":   `{"type":"moderate","action":"end","id":"p1"}`,
		"moderate long id":       `{"type":"moderate","action":"cohost","id":"` + strings.Repeat("p", MaxIDLen+1) + `"}`,
		"react unknown":          `{"type":"react","reaction":"poop"}`,
		"caption empty":          `{"type":"caption"}`,
		"transcribe with id":     `{"type":"moderate","action":"transcribe","id":"p1"}`,
		"react emoji":            `{"type":"react","reaction":"👍"}`,
		"node-only moderated":    `{"type":"moderated","action":"mute","name":"Ada"}`,
		"node-only reaction":     `{"type":"reaction","id":"p1","reaction":"clap"}`,
		"node-only joined":       `{"type":"joined","you":{"id":"a","name":"b","hand":false,"mic_muted":false,"camera_muted":false,"screen":false},"room":{"id":"r","title":"t"}}`,
		"node-only error":        `{"type":"error","code":"internal","error":"x"}`,
		"node-only pong":         `{"type":"pong"}`,
		"node-only speakers":     `{"type":"speakers","speakers":["a"]}`,
		"node-only left":         `{"type":"participant_left","id":"a"}`,
		"unknown field":          `{"type":"ping","extra":1}`,
		"unknown nested field":   `{"type":"candidate","pc":"pub","candidate":{"candidate":"c","priority":"x"}}`,
		"unknown track field":    `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":{"source":"mic","codec":"opus"}}}`,
		"trailing object":        `{"type":"ping"}{"type":"ping"}`,
		"trailing garbage":       `{"type":"ping"} x`,
		"trailing array":         `{"type":"ping"}[]`,
		"oversize":               mustJSON(t, map[string]any{"type": "chat", "sframe": "aGk", "name": strings.Repeat("a", MaxMessageSize)}),
		"oversize by padding":    `{"type":"ping"}` + strings.Repeat(" ", MaxMessageSize),
		"invalid utf-8":          "{\"type\":\"join\",\"name\":\"A\xffda\",\"keys\":{\"sig_pub\":\"x\",\"age\":\"y\"}}",
		"invalid utf-8 chat":     "{\"type\":\"chat\",\"sframe\":\"\xc3\x28\"}",
		"join without keys":      `{"type":"join","name":"Ada"}`,
		"join keys missing age":  `{"type":"join","name":"Ada","keys":{"sig_pub":"x"}}`,
		"join keys too long":     mustJSON(t, map[string]any{"type": "join", "name": "Ada", "keys": map[string]string{"sig_pub": strings.Repeat("k", 129), "age": "a"}}),
		"join mod too long":      mustJSON(t, map[string]any{"type": "join", "name": "Ada", "keys": testKeys, "mod": strings.Repeat("m", 65)}),
		"chat plaintext":         `{"type":"chat","text":"hello"}`,
		"chat sframe not base64": `{"type":"chat","sframe":"not base64!"}`,
		"key without envelope":   `{"type":"key"}`,
		"key empty envelope":     `{"type":"key","envelope":{"body":"","sig":""}}`,
		"key unknown field":      `{"type":"key","envelope":{"body":"{}","sig":"x","kid":1}}`,
		"admit without id":       `{"type":"admit"}`,
		"remove long id":         mustJSON(t, map[string]any{"type": "remove", "id": strings.Repeat("i", MaxIDLen+1)}),
		"node-only lobby":        `{"type":"lobby","room":{"id":"r","title":"t"}}`,
		"node-only waiting":      `{"type":"waiting","waiting":[]}`,
		"join empty name":        `{"type":"join","name":"","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join no name":           `{"type":"join","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join blank name":        `{"type":"join","name":"  \t ","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join long name":         mustJSON(t, map[string]any{"type": "join", "name": strings.Repeat("n", MaxNameLen+1), "keys": testKeys}),
		"join long runes":        mustJSON(t, map[string]any{"type": "join", "name": strings.Repeat("é", MaxNameLen+1), "keys": testKeys}),
		"join control char":      `{"type":"join","name":"Ada\u0007","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join newline":           `{"type":"join","name":"Ada\nEve","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join NUL":               `{"type":"join","name":"Ada\u0000","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join DEL":               `{"type":"join","name":"Ada\u007f","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"join C1 control":        `{"type":"join","name":"Ada\u0085","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"offer on sub":           mustJSON(t, map[string]any{"type": "offer", "pc": "sub", "sdp": sdp}),
		"offer bad pc":           mustJSON(t, map[string]any{"type": "offer", "pc": "xyz", "sdp": sdp}),
		"offer no pc":            mustJSON(t, map[string]any{"type": "offer", "sdp": sdp}),
		"offer no sdp":           `{"type":"offer","pc":"pub"}`,
		"offer sdp too big":      mustJSON(t, map[string]any{"type": "offer", "pc": "pub", "sdp": strings.Repeat("a", MaxSDPSize+1)}),
		"offer too many tracks":  mustJSON(t, map[string]any{"type": "offer", "pc": "pub", "sdp": "v=0", "tracks": manyTracks(MaxTracks + 1)}),
		"offer empty mid":        `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"":{"source":"mic"}}}`,
		"offer long mid":         mustJSON(t, map[string]any{"type": "offer", "pc": "pub", "sdp": "v=0", "tracks": map[string]any{strings.Repeat("m", MaxIDLen+1): map[string]string{"source": "mic"}}}),
		"offer bad source":       `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":{"source":"webcam"}}}`,
		"offer no source":        `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":{}}}`,
		"answer on pub":          mustJSON(t, map[string]any{"type": "answer", "pc": "pub", "sdp": sdp}),
		"answer no sdp":          `{"type":"answer","pc":"sub"}`,
		"sdp not a string":       `{"type":"answer","pc":"sub","sdp":42}`,
		"candidate bad pc":       `{"type":"candidate","pc":"both","candidate":{"candidate":"c"}}`,
		"candidate no pc":        `{"type":"candidate","candidate":{"candidate":"c"}}`,
		"candidate missing":      `{"type":"candidate","pc":"pub"}`,
		"candidate too long":     mustJSON(t, map[string]any{"type": "candidate", "pc": "pub", "candidate": map[string]any{"candidate": strings.Repeat("c", 1025)}}),
		"candidate mid too long": mustJSON(t, map[string]any{"type": "candidate", "pc": "pub", "candidate": map[string]any{"candidate": "c", "sdpMid": strings.Repeat("m", MaxIDLen+1)}}),
		"candidate index range":  `{"type":"candidate","pc":"pub","candidate":{"candidate":"c","sdpMLineIndex":70000}}`,
		"candidate index neg":    `{"type":"candidate","pc":"pub","candidate":{"candidate":"c","sdpMLineIndex":-1}}`,
		"chat empty":             `{"type":"chat","sframe":""}`,
		"chat missing":           `{"type":"chat"}`,
		"chat too long":          mustJSON(t, map[string]any{"type": "chat", "sframe": make([]byte, MaxChatCiphertext+1)}),
		"hand no raised":         `{"type":"hand"}`,
		"hand raised string":     `{"type":"hand","raised":"yes"}`,
		"mute no muted":          `{"type":"mute","source":"mic"}`,
		"mute no source":         `{"type":"mute","muted":true}`,
		"mute bad source":        `{"type":"mute","muted":true,"source":"speaker"}`,
		"layer no track":         `{"type":"layer","quality":"low"}`,
		"layer long track":       mustJSON(t, map[string]any{"type": "layer", "track": strings.Repeat("t", MaxIDLen+1), "quality": "low"}),
		"layer bad quality":      `{"type":"layer","track":"t1","quality":"ultra"}`,
		"layer rid not quality":  `{"type":"layer","track":"t1","quality":"f"}`,
		"layer no quality":       `{"type":"layer","track":"t1"}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := Decode([]byte(in))
			if err == nil {
				t.Fatalf("Decode(%.120q) = %+v, want an error", in, m)
			}
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("Decode(%.120q) error %v does not wrap ErrBadMessage", in, err)
			}
			if m != nil {
				t.Errorf("Decode returned a message with its error: %+v", m)
			}
		})
	}
}

// nodeMessages are valid messages of every type a node sends to a client.
func nodeMessages(tb testing.TB) map[string]string {
	sdp := chromeOffer(tb)
	p := `{"id":"p1","name":"Ada","hand":false,"mic_muted":true,"camera_muted":false,"screen":false}`
	return map[string]string{
		"moderated": `{"type":"moderated","action":"mute","name":"Ada"}`,
		"reaction":  `{"type":"reaction","id":"p2","reaction":"heart"}`,
		"caption":   `{"type":"caption","caption":{"from":"p3","sframe":"c2VhbGVk","time":1767225600123}}`,
		"joined": `{"type":"joined","you":` + p + `,"room":{"id":"abcdefghijklmnopqrstuvwxyz","title":"Weekly sync"},` +
			`"participants":[{"id":"p2","name":"Bob","hand":true,"mic_muted":false,"camera_muted":false,"screen":true}],` +
			`"history":[{"seq":1,"from":"p2","name":"Bob","sframe":"aGk=","time":1700000000000}]}`,
		"joined alone": `{"type":"joined","you":` + p + `,"room":{"id":"r","title":""}}`,
		"answer pub":   mustJSON(tb, map[string]any{"type": "answer", "pc": "pub", "sdp": sdp}),
		"offer sub": mustJSON(tb, map[string]any{"type": "offer", "pc": "sub", "sdp": sdp, "tracks": map[string]any{
			"0": map[string]string{"id": "t1", "participant": "p2", "kind": "audio", "source": "mic"},
			"1": map[string]string{"id": "t2", "participant": "p2", "kind": "video", "source": "camera"},
		}}),
		"candidate":           mustJSON(tb, map[string]any{"type": "candidate", "pc": "sub", "candidate": map[string]any{"candidate": chromeCandidate, "sdpMid": "0", "sdpMLineIndex": 0}}),
		"participant_joined":  `{"type":"participant_joined","participant":` + p + `}`,
		"participant_updated": `{"type":"participant_updated","participant":` + p + `}`,
		"participant_left":    `{"type":"participant_left","id":"p1"}`,
		"chat":                `{"type":"chat","chat":{"seq":7,"from":"p1","name":"Ada","sframe":"aGVsbG8=","time":1700000000123}}`,
		"key":                 `{"type":"key","envelope":{"body":"{}","sig":"c2ln"}}`,
		"lobby":               `{"type":"lobby","room":{"id":"r","title":"t","lobby":true}}`,
		"waiting":             `{"type":"waiting","waiting":[{"id":"p3","name":"Cy"}]}`,
		"speakers":            `{"type":"speakers","speakers":["p1","p2"]}`,
		"speakers none":       `{"type":"speakers"}`,
		"error":               `{"type":"error","code":"bad_message","error":"message is 70000 bytes, limit 65536"}`,
		"pong":                `{"type":"pong"}`,
	}
}

func TestDecodeFromNodeAcceptsEveryNodeType(t *testing.T) {
	seen := map[string]bool{}
	for name, in := range nodeMessages(t) {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeFromNode([]byte(in))
			if err != nil {
				t.Fatalf("DecodeFromNode(%.120q) = %v, want accepted", in, err)
			}
			seen[m.Type] = true
			checkRoundTrip(t, DecodeFromNode, m)
		})
	}
	for _, typ := range []string{TypeJoined, TypeAnswer, TypeOffer, TypeCandidate, TypeParticipantJoined,
		TypeParticipantUpdated, TypeParticipantLeft, TypeChat, TypeSpeakers, TypeError, TypePong,
		TypeKey, TypeLobby, TypeWaiting, TypeModerated, TypeReaction, TypeCaption} {
		if !seen[typ] {
			t.Errorf("no accepted sample of node type %q", typ)
		}
	}

	m, err := DecodeFromNode([]byte(nodeMessages(t)["joined"]))
	if err != nil {
		t.Fatal(err)
	}
	if m.You.ID != "p1" || m.Room.Title != "Weekly sync" || len(m.Participants) != 1 || !m.Participants[0].Screen ||
		len(m.History) != 1 || string(m.History[0].SFrame) != "hi" || m.History[0].Seq != 1 {
		t.Errorf("joined decoded as %+v", m)
	}
}

func TestDecodeFromNodeRejects(t *testing.T) {
	cases := map[string]string{
		"empty":                ``,
		"unknown type":         `{"type":"dance"}`,
		"client-only join":     `{"type":"join","name":"Ada","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`,
		"client-only ping":     `{"type":"ping"}`,
		"client-only layer":    `{"type":"layer","track":"t","quality":"low"}`,
		"unknown field":        `{"type":"pong","surprise":true}`,
		"trailing data":        `{"type":"pong"}{}`,
		"invalid utf-8":        "{\"type\":\"error\",\"error\":\"\xfe\"}",
		"oversize":             `{"type":"pong","error":"` + strings.Repeat("x", MaxNodeMessageSize) + `"}`,
		"joined without you":   `{"type":"joined","room":{"id":"r","title":"t"}}`,
		"joined without room":  `{"type":"joined","you":{"id":"a","name":"b","hand":false,"mic_muted":false,"camera_muted":false,"screen":false}}`,
		"offer bad pc":         `{"type":"offer","pc":"side","sdp":"v=0"}`,
		"answer without sdp":   `{"type":"answer","pc":"pub"}`,
		"sdp too big":          mustJSON(t, map[string]any{"type": "offer", "pc": "sub", "sdp": strings.Repeat("a", MaxSDPSize+1)}),
		"candidate missing":    `{"type":"candidate","pc":"sub"}`,
		"candidate bad pc":     `{"type":"candidate","pc":"","candidate":{"candidate":"c"}}`,
		"participant missing":  `{"type":"participant_joined"}`,
		"updated missing":      `{"type":"participant_updated"}`,
		"left without id":      `{"type":"participant_left"}`,
		"chat without message": `{"type":"chat","text":"hello"}`,
		"chat bad field":       `{"type":"chat","chat":{"seq":1,"sframe":"eA==","color":"red"}}`,
		"chat plaintext":       `{"type":"chat","chat":{"seq":1,"text":"x"}}`,
		"seq negative":         `{"type":"chat","chat":{"seq":-1,"sframe":"eA=="}}`,
		"key without envelope": `{"type":"key"}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeFromNode([]byte(in))
			if err == nil {
				t.Fatalf("DecodeFromNode(%.120q) = %+v, want an error", in, m)
			}
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("DecodeFromNode(%.120q) error %v does not wrap ErrBadMessage", in, err)
			}
		})
	}
}

// TestErrorsSayWhy checks that a rejection names what was wrong, since the node sends the
// text back to the client.
func TestErrorsSayWhy(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"dance"}`:          "dance",
		`{"type":"ping","extra":1}`: "extra",
		`{"type":"join","name":"A\u0001","keys":{"sig_pub":"c2lnLXB1Yg","age":"age1test"}}`: "control",
		`{"type":"offer","pc":"sub","sdp":"x"}`:                                             "pub",
		`{"type":"ping"} {}`:                                                                "trailing",
	} {
		_, err := Decode([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%q) = %v, want an error mentioning %q", in, err, want)
		}
	}
}

func TestValidLang(t *testing.T) {
	for s, want := range map[string]bool{
		"fr": true, "en-GB": true, "br": true, "zh-Hant-TW": true, "gsw": true, "sr-Latn": true,
		"": false, "f": false, "FR": false, "fran": false, "fr_FR": false, "fr-": false, "fr-B": false,
		"fr-toolongsub": false, "en-GB-oxendict-x": false, "fr BE": false, "é": false,
	} {
		if got := ValidLang(s); got != want {
			t.Errorf("ValidLang(%q) = %v, want %v", s, got, want)
		}
	}
}
