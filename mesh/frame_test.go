package mesh

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// frameSamples are frames as the host writes them.
func frameSamples() (requests, responses [][]byte) {
	for _, body := range [][]byte{nil, []byte("x"), []byte(`{"room":"r1","node":"n","from":17,"to":42}`), bytes.Repeat([]byte{0xff}, 300)} {
		requests = append(requests, appendRequest(nil, body))
		responses = append(responses, appendResponse(nil, statusOK, body))
	}
	responses = append(responses,
		appendResponse(nil, statusError, []byte("no such room")),
		appendResponse(nil, statusError, []byte(strings.Repeat("é", 600))),
		appendResponse(nil, statusTooLarge, nil),
	)
	return requests, responses
}

func TestFrameRoundTrip(t *testing.T) {
	reqs, resps := frameSamples()
	for _, f := range reqs {
		body, err := readRequest(bytes.NewReader(f), 1<<10, nil)
		if err != nil || !bytes.Equal(appendRequest(nil, body), f) {
			t.Fatalf("request %x: %q, %v", f, body, err)
		}
	}
	for _, f := range resps {
		body, err := readResponse(bytes.NewReader(f), 1<<10)
		var remote *RemoteError
		switch {
		case err == nil:
			if !bytes.Equal(appendResponse(nil, statusOK, body), f) {
				t.Fatalf("response %x read as %q", f, body)
			}
		case errors.As(err, &remote):
			if len(remote.Msg) > maxErrorText || !utf8.ValidString(remote.Msg) {
				t.Fatalf("error message of %d bytes", len(remote.Msg))
			}
		case errors.Is(err, ErrTooLarge):
		default:
			t.Fatalf("response %x: %v", f, err)
		}
	}
}

func TestFrameRefusesBadInput(t *testing.T) {
	big := appendRequest(nil, make([]byte, 100))
	for name, tc := range map[string]struct {
		data []byte
		max  int
		want error
	}{
		"empty":          {nil, 10, ErrMalformed},
		"short length":   {[]byte{0, 0}, 10, ErrMalformed},
		"short body":     {[]byte{0, 0, 0, 5, 'a'}, 10, ErrMalformed},
		"over the bound": {big, 99, ErrTooLarge},
		"huge length":    {[]byte{0xff, 0xff, 0xff, 0xff}, 1 << 20, ErrTooLarge},
		"trailing data":  {append(appendRequest(nil, []byte("a")), 'b'), 10, ErrMalformed},
	} {
		if _, err := readRequest(bytes.NewReader(tc.data), tc.max, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	for name, data := range map[string][]byte{
		"unknown status":    {7, 0, 0, 0, 0},
		"error not UTF-8":   {statusError, 0, 0, 0, 1, 0xff},
		"too large w/ body": {statusTooLarge, 0, 0, 0, 1, 'x'},
		"long error":        append([]byte{statusError, 0, 0, 4, 1}, make([]byte, 1025)...),
	} {
		if _, err := readResponse(bytes.NewReader(data), 1<<10); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The reserve hook is asked before the body is allocated, and can refuse it.
	refuse := errors.New("no memory")
	var asked int
	_, err := readRequest(bytes.NewReader(big), 1<<10, func(n int) error { asked = n; return refuse })
	if !errors.Is(err, refuse) || asked != 100 {
		t.Fatalf("reserve: asked %d, %v", asked, err)
	}
	// Errors other than the end of the stream are passed on, not called malformed.
	if _, err := readRequest(io.MultiReader(bytes.NewReader([]byte{0}), errReader{}), 10, nil); errors.Is(err, ErrMalformed) || !errors.Is(err, errBroken) {
		t.Fatalf("broken stream: %v", err)
	}
}

var errBroken = errors.New("stream reset")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func FuzzReadRequest(f *testing.F) {
	reqs, _ := frameSamples()
	for _, s := range reqs {
		f.Add(s, uint16(1<<10))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2}, uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		body, err := readRequest(bytes.NewReader(data), int(max), nil)
		if err != nil {
			return
		}
		if len(body) > int(max) {
			t.Fatalf("%d bytes past a bound of %d", len(body), max)
		}
		if !bytes.Equal(appendRequest(nil, body), data) {
			t.Fatalf("accepted %x, which does not re-encode to itself", data)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	_, resps := frameSamples()
	for _, s := range resps {
		f.Add(s, uint16(1<<10))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		body, err := readResponse(bytes.NewReader(data), int(max))
		var remote *RemoteError
		switch {
		case err == nil:
			if len(body) > int(max) || !bytes.Equal(appendResponse(nil, statusOK, body), data) {
				t.Fatalf("accepted %x as a %d-byte body", data, len(body))
			}
		case errors.As(err, &remote):
			if !bytes.Equal(appendResponse(nil, statusError, []byte(remote.Msg)), data) {
				t.Fatalf("accepted %x as error %q", data, remote.Msg)
			}
		}
	})
}
