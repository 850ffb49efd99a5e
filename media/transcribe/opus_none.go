//go:build !libopus

package transcribe

// HasOpus reports whether this binary decodes Opus (built with the libopus tag).
const HasOpus = false

// OpusDecoder is absent from this build; NewOpusDecoder says so.
type OpusDecoder struct{}

// NewOpusDecoder returns ErrNoOpus.
func NewOpusDecoder() (*OpusDecoder, error) { return nil, ErrNoOpus }

// Decode returns ErrNoOpus.
func (*OpusDecoder) Decode([]byte) ([]int16, error) { return nil, ErrNoOpus }

// Close does nothing.
func (*OpusDecoder) Close() {}
