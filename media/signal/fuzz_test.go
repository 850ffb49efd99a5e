package signal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// encode writes m as a sender would. HTML escaping is off so that the size of a re-encoded
// message stays close to the size of the input.
func encode(tb testing.TB, m *Message) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		tb.Fatalf("encode accepted message %+v: %v", m, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// checkRoundTrip checks that an accepted message re-encodes to bytes the same decoder accepts,
// and that encoding is then a fixed point: decode(encode(m)) encodes to the same bytes and
// decodes to the same value.
func checkRoundTrip(tb testing.TB, decode func([]byte) (*Message, error), m *Message) {
	tb.Helper()
	b1 := encode(tb, m)
	if len(b1) > MaxMessageSize {
		// JSON may spell a character longer than the input did (U+2028 as \u2028); a
		// message at the size limit can then outgrow it. Nothing to compare.
		return
	}
	m2, err := decode(b1)
	if err != nil {
		tb.Fatalf("accepted message re-encoded as %.200q is rejected: %v", b1, err)
	}
	b2 := encode(tb, m2)
	if !bytes.Equal(b1, b2) {
		tb.Fatalf("re-encoding changed the message:\nfirst  %.300q\nsecond %.300q", b1, b2)
	}
	m3, err := decode(b2)
	if err != nil {
		tb.Fatalf("second re-encoding rejected: %v", err)
	}
	if !reflect.DeepEqual(m2, m3) {
		tb.Fatalf("re-decoding changed the message:\n%+v\n%+v", m2, m3)
	}
}

// checkRejection checks the error contract: a decoder either accepts or returns no message
// and an error wrapping ErrBadMessage.
func checkRejection(tb testing.TB, in []byte, m *Message, err error) {
	tb.Helper()
	if !errors.Is(err, ErrBadMessage) {
		tb.Fatalf("decode(%.200q) error %v does not wrap ErrBadMessage", in, err)
	}
	if m != nil {
		tb.Fatalf("decode(%.200q) returned a message with its error", in)
	}
}

// pionOffer is an offer pion produces for an audio and a video transceiver, as the node's SFU
// sends on pc "sub" and the Go client sends on pc "pub".
func pionOffer(tb testing.TB) string {
	tb.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatalf("new peer connection: %v", err)
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			tb.Fatalf("add %s transceiver: %v", kind, err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatalf("create offer: %v", err)
	}
	return offer.SDP
}

// seeds returns real messages of both directions, the rejection samples, and a few edge cases.
func seeds(tb testing.TB) []string {
	var out []string
	for _, s := range clientMessages(tb) {
		out = append(out, s)
	}
	for _, s := range nodeMessages(tb) {
		out = append(out, s)
	}
	pion := pionOffer(tb)
	out = append(out,
		mustJSON(tb, map[string]any{"type": "offer", "pc": "pub", "sdp": pion, "tracks": map[string]any{"0": map[string]string{"source": "mic"}, "1": map[string]string{"source": "camera"}}}),
		mustJSON(tb, map[string]any{"type": "offer", "pc": "sub", "sdp": pion, "tracks": map[string]any{"0": map[string]string{"id": "t", "participant": "p", "kind": "audio", "source": "mic"}}}),
		mustJSON(tb, map[string]any{"type": "answer", "pc": "sub", "sdp": pion}),
		`{"type":"join","name":"\u2028\u2029"}`,
		`{"TYPE":"ping"}`,
		`{"type":"join","name":"a","name":"b"}`,
		`{"type":"chat","sframe":"\ud800"}`,
		`{"type":"key","envelope":{"body":"{\"v\":1}","sig":"x"}}`,
		`{"type":"admit","id":"p1"}`,
		`{"type":"lang","lang":"fr-BE"}`,
		`{"type":"lang","lang":"FR"}`,
		`{"type":"join","name":"Ada","keys":{"sig_pub":"a","age":"b"},"lang":"en-GB"}`,
		`{"type":"candidate","pc":"pub","candidate":{"candidate":"c","sdpMid":null}}`,
		`{"type":"offer","pc":"pub","sdp":"v=0","tracks":null}`,
		`{"type":"offer","pc":"pub","sdp":"v=0","tracks":{}}`,
		strings.Repeat("[", 2000),
		`{"type":"ping"}`+"\x00",
	)
	return out
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Decode(in)
		if err != nil {
			checkRejection(t, in, m, err)
			return
		}
		if m == nil || m.Type == "" {
			t.Fatalf("Decode(%.200q) accepted %+v", in, m)
		}
		checkRoundTrip(t, Decode, m)
	})
}

func FuzzDecodeFromNode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeFromNode(in)
		if err != nil {
			checkRejection(t, in, m, err)
			return
		}
		if m == nil || m.Type == "" {
			t.Fatalf("DecodeFromNode(%.200q) accepted %+v", in, m)
		}
		checkRoundTrip(t, DecodeFromNode, m)
	})
}

func FuzzDecodeTranscriberMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"challenge","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","node_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"type":"hello","key":"AAAA","sig":"AAAA"}`,
		`{"type":"welcome"}`,
		`{"type":"start","room":"r1","token":"t"}`,
		`{"type":"start","room":"r1"}`,
		`{"type":"stop","room":"r1"}`,
		`{"type":"error","room":"r1","message":"model still loading"}`,
		`{"type":"transcript","room":"r1","sealed":"AAEC"}`,
		`{"type":"transcript","room":"r1","sealed":""}`,
		`{"type":"stopped"}`,
		`{"type":"welcome","x":1}`,
		`{"type":"welcome"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeTranscriberMessage(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeTranscriberMessage(again)
		if err != nil || m2.Type != m.Type || m2.Room != m.Room || m2.Token != m.Token || !bytes.Equal(m2.Sealed, m.Sealed) {
			t.Fatalf("round trip of %+v: %+v, %v", m, m2, err)
		}
	})
}
