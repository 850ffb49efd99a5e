package node

import (
	"encoding/json"
	"testing"
)

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"by":"p1","name":"Ada","action":"mute","target":"p2"}`,
		`{"by":"p1","name":"Ada","reaction":"clap"}`,
		`{"by":"p1","name":"Ada","action":"end","reaction":"clap"}`,
		`{"by":"","action":"end"}`,
		`{"by":"p1","action":"end","extra":1}`,
		`{"by":"p1","action":"end"}{}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := decodeEvent(data)
		if err != nil {
			return
		}
		if ev.By == "" || (ev.Action == "") == (ev.Reaction == "") {
			t.Fatalf("accepted %q as %+v", data, ev)
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if ev2, err := decodeEvent(again); err != nil || ev2 != ev {
			t.Fatalf("round trip of %+v: %+v, %v", ev, ev2, err)
		}
	})
}
