package node

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzDecodeCaptionCast(f *testing.F) {
	for _, s := range []string{
		`{"from":"p1","sframe":"AAEC"}`,
		`{"from":"","sframe":"AAEC"}`,
		`{"from":"p1","sframe":""}`,
		`{"from":"p1","sframe":"AAEC","x":1}`,
		`{"from":"p1","sframe":"AAEC"}{}`,
		`{"from":"p1","sframe":"!!"}`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cc, err := decodeCaptionCast(data)
		if err != nil {
			return
		}
		if cc.From == "" || len(cc.SFrame) == 0 {
			t.Fatalf("accepted %q as %+v", data, cc)
		}
		again, err := json.Marshal(cc)
		if err != nil {
			t.Fatal(err)
		}
		if cc2, err := decodeCaptionCast(again); err != nil || cc2.From != cc.From || !bytes.Equal(cc2.SFrame, cc.SFrame) {
			t.Fatalf("round trip of %+v: %+v, %v", cc, cc2, err)
		}
	})
}
