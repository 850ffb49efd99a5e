package media

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// The offers in testdata were made by the browsers themselves, the way the web client makes
// its pub offer (max-bundle; microphone, camera with three simulcast layers, screen):
// Firefox ESR 153 and Chromium 156.
var capturedOffers = map[string]string{
	"firefox":  "testdata/offer-firefox-153.sdp",
	"chromium": "testdata/offer-chromium-156.sdp",
}

func readOffer(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSendingMidsCapturedOffers(t *testing.T) {
	for name, path := range capturedOffers {
		mids, err := sendingMids(readOffer(t, path))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(mids) != 3 || len(mids["0"]) != 0 || !slices.Equal(mids["1"], []string{"q", "h", "f"}) || len(mids["2"]) != 0 {
			t.Errorf("%s: sending mids %v, want 0 (mic), 1 (camera q, h, f), 2 (screen)", name, mids)
		}
	}
}

func TestSendingMidsRules(t *testing.T) {
	ff := readOffer(t, capturedOffers["firefox"])
	for _, c := range []struct {
		name string
		edit func(string) string
		want []string // sending mids
		bad  bool
	}{
		{"as captured", func(s string) string { return s }, []string{"0", "1", "2"}, false},
		{"port 0 without bundle-only is rejected", func(s string) string {
			return replaceInSection(s, "a=mid:2", "a=bundle-only\r\n", "")
		}, []string{"0", "1"}, false},
		{"bundle-only outside the BUNDLE group is rejected", func(s string) string {
			return strings.Replace(s, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 2", 1)
		}, []string{"0", "2"}, false},
		{"recvonly does not send", func(s string) string {
			return replaceInSection(s, "a=mid:0", "a=sendonly", "a=recvonly")
		}, []string{"1", "2"}, false},
		{"a mid twice", func(s string) string { return strings.Replace(s, "a=mid:2", "a=mid:1", 1) }, nil, true},
		{"no mid", func(s string) string { return strings.Replace(s, "a=mid:2\r\n", "", 1) }, nil, true},
	} {
		mids, err := sendingMids(c.edit(ff))
		if c.bad {
			if !errors.Is(err, ErrBadSDP) {
				t.Errorf("%s: %v, want ErrBadSDP", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for mid := range mids {
			got = append(got, mid)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: sending mids %v, want %v", c.name, got, c.want)
		}
	}
}

// replaceInSection replaces old with new once within the media section holding marker.
func replaceInSection(sdp, marker, old, new string) string {
	parts := strings.Split(sdp, "\r\nm=")
	for i, p := range parts {
		if strings.Contains(p, marker+"\r\n") {
			parts[i] = strings.Replace(p, old, new, 1)
		}
	}
	return strings.Join(parts, "\r\nm=")
}

func FuzzSendingMids(f *testing.F) {
	for _, path := range capturedOffers {
		f.Add(readOffer(f, path))
	}
	f.Add("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		mids, err := sendingMids(offer)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) {
				t.Fatalf("error %v does not wrap ErrBadSDP", err)
			}
			return
		}
		for mid, rids := range mids {
			if mid == "" || len(rids) > maxRIDs {
				t.Fatalf("mid %q with rids %v", mid, rids)
			}
		}
	})
}
