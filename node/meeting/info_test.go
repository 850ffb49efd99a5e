package meeting

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"parley/federation"
	"parley/identity"
)

func sampleInfo() Info {
	return Info{Name: "Ada", Org: "Ministère A", Moderator: true,
		Cert: &identity.SignedObject{Body: "eyJ2IjoxfQ", Sig: "c2ln"}, Hand: true, CameraMuted: true,
		Tracks: []Track{{ID: "t12", Kind: "video", Source: "camera", Layers: 7}, {ID: "t13", Kind: "audio", Source: "mic", Level: 1}}}
}

func TestInfoRoundTrip(t *testing.T) {
	raw, err := EncodeInfo(sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeInfo(got)
	if !bytes.Equal(raw, again) || !sameView(got, sampleInfo()) || len(got.Tracks) != 2 {
		t.Fatalf("round trip: %s, then %s", raw, again)
	}
}

func TestDecodeInfoRefuses(t *testing.T) {
	for name, s := range map[string]string{
		"unknown field":   `{"name":"a","x":1}`,
		"trailing data":   `{"name":"a"} {}`,
		"control char":    `{"name":"a\u0007"}`,
		"long name":       `{"name":"` + strings.Repeat("é", 65) + `"}`,
		"bad kind":        `{"name":"a","tracks":[{"id":"t","kind":"data"}]}`,
		"bad source":      `{"name":"a","tracks":[{"id":"t","kind":"audio","source":"tv"}]}`,
		"empty track id":  `{"name":"a","tracks":[{"id":"","kind":"audio"}]}`,
		"layers overflow": `{"name":"a","tracks":[{"id":"t","kind":"video","layers":300}]}`,
		"not an object":   `[]`,
		"too big":         `{"name":"` + strings.Repeat("a", federation.MaxInfoSize) + `"}`,
		"many tracks":     `{"name":"a","tracks":[` + strings.Repeat(`{"id":"t","kind":"audio"},`, MaxTracks) + `{"id":"t","kind":"audio"}]}`,
	} {
		if _, err := DecodeInfo([]byte(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeInfo(f *testing.F) {
	raw, _ := EncodeInfo(sampleInfo())
	for _, s := range []string{string(raw), `{"name":""}`, `{"name":"a","tracks":[{"id":"t","kind":"audio"}]}`,
		`{"name":"a","cert":{"body":"","sig":""}}`, `null`, `{}`, `{"name":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := DecodeInfo(data)
		if err != nil {
			return
		}
		// What decodes encodes, within the bound, and reads back the same.
		again, err := EncodeInfo(info)
		if err != nil {
			t.Fatalf("decoded info does not encode: %v", err)
		}
		back, err := DecodeInfo(again)
		if err != nil {
			t.Fatalf("re-encoded info %s does not decode: %v", again, err)
		}
		a, _ := json.Marshal(back)
		if !bytes.Equal(a, again) {
			t.Fatalf("round trip changed %s into %s", again, a)
		}
	})
}
