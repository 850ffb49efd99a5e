package identity

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// End-to-end encryption of media frames and chat messages with SFrame. A media frame keeps
// the codec bytes an SFU needs in the clear, authenticated as SFrame metadata:
//
//	+------------------+---------------+---------------------------+----------+
//	| clear (C bytes)  | SFrame header | ciphertext of the rest    | tag (16) |
//	+------------------+---------------+---------------------------+----------+
//	AAD = SFrame header || clear, CTR < 2^63
//
// A chat message is header || ciphertext || tag with CTR >= 2^63 and AAD = header ||
// "parley-chat-v1\n" || room id.

// Codec names the codec of a media frame, which decides how many of its bytes stay clear.
type Codec uint8

// Codecs with a clear-prefix rule.
const (
	CodecOpus Codec = 1
	CodecVP8  Codec = 2
)

// String names the codec for logs.
func (c Codec) String() string {
	switch c {
	case CodecOpus:
		return "opus"
	case CodecVP8:
		return "vp8"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

const (
	chatCTRBase        = uint64(1) << 63 // chat CTRs are chatCTRBase + n, media CTRs are n
	chatMetadataPrefix = "parley-chat-v1\n"
	replayWindow       = 1024 // CTRs remembered per KID, for media and for chat
	// maxMediaFrame bounds one encrypted frame; encoded video frames are far smaller.
	maxMediaFrame = 8 << 20
	// maxChatSFrame bounds one encrypted chat message (the signalling allows ~16 KB).
	maxChatSFrame = 64 << 10
	// maxChatRoom bounds the room id that goes into chat metadata.
	maxChatRoom = 256
)

// ClearPrefix is the number of leading bytes of frame that stay in the clear:
//
//	VP8:  10 on a keyframe (bit 0 of the first byte is 0), else 3: the frame tag and, on
//	      keyframes, the start code and the dimensions.
//	Opus: 1, the TOC byte.
//
// It is capped at len(frame), and 0 for an unknown codec. The receiver applies the same rule
// to the received bytes, whose clear prefix arrives unchanged. (A frame shorter than its
// codec's prefix is not a valid frame; it is encrypted, but will not decrypt.)
func ClearPrefix(c Codec, frame []byte) int {
	var n int
	switch c {
	case CodecVP8:
		n = 3
		if len(frame) > 0 && frame[0]&0x01 == 0 {
			n = 10
		}
	case CodecOpus:
		n = 1
	}
	return min(n, len(frame))
}

// FrameSender encrypts one participant's media frames and chat messages under its current
// key. It is safe for concurrent use: audio, camera and screen tracks share the key and its
// CTR space, and each frame gets a CTR no other frame under that key has had. Media CTRs
// count from 0, chat CTRs from 2^63.
type FrameSender struct {
	cur atomic.Pointer[senderKey]
}

// senderKey is one key and the CTRs handed out under it so far.
type senderKey struct {
	key   *SFrameKey
	media atomic.Uint64 // media frames sealed
	chat  atomic.Uint64 // chat messages sealed
}

// NewFrameSender returns a sender without a key; it refuses to encrypt until SetKey.
func NewFrameSender() *FrameSender { return &FrameSender{} }

// SetKey makes k the key for every following frame and message; CTRs start again from 0 (and
// 2^63), so k must be a key this sender never used before.
func (s *FrameSender) SetKey(k *SFrameKey) { s.cur.Store(&senderKey{key: k}) }

// Key is the current key, nil before SetKey.
func (s *FrameSender) Key() *SFrameKey {
	if cur := s.cur.Load(); cur != nil {
		return cur.key
	}
	return nil
}

// EncryptFrame encrypts an encoded frame of codec c and appends clear || header || ciphertext
// || tag to dst. It does not allocate when dst has room for len(frame)+33 more bytes; dst may
// be frame[:0] to encrypt in place. It fails with ErrSFrameNoKey before SetKey and with
// ErrSFrameExhausted after 2^63 frames under one key.
func (s *FrameSender) EncryptFrame(dst []byte, c Codec, frame []byte) ([]byte, error) {
	cur := s.cur.Load()
	if cur == nil {
		return nil, ErrSFrameNoKey
	}
	if len(frame) > maxMediaFrame {
		return nil, fmt.Errorf("identity: encrypt %s frame of %d bytes: larger than %d", c, len(frame), maxMediaFrame)
	}
	ctr := cur.media.Add(1) - 1
	if ctr >= chatCTRBase {
		cur.media.Store(chatCTRBase) // stay exhausted; never wrap into the chat range
		return nil, fmt.Errorf("identity: encrypt frame with KID %d: %w", cur.key.kid, ErrSFrameExhausted)
	}
	n := ClearPrefix(c, frame)
	return cur.key.seal(dst, ctr, true, frame[:n], frame[n:]), nil
}

// EncryptChat encrypts a chat message for room and returns header || ciphertext || tag (the
// signalling carries it in base64). It fails with ErrSFrameNoKey before SetKey.
func (s *FrameSender) EncryptChat(room string, text []byte) ([]byte, error) {
	cur := s.cur.Load()
	if cur == nil {
		return nil, ErrSFrameNoKey
	}
	if len(room) > maxChatRoom {
		return nil, fmt.Errorf("identity: encrypt chat: room id of %d bytes, limit %d", len(room), maxChatRoom)
	}
	if len(text)+maxSFrameHeader+sframeTagSize > maxChatSFrame {
		return nil, fmt.Errorf("identity: encrypt chat: %d bytes of text, too long", len(text))
	}
	n := cur.chat.Add(1) - 1
	if n >= chatCTRBase {
		cur.chat.Store(chatCTRBase)
		return nil, fmt.Errorf("identity: encrypt chat with KID %d: %w", cur.key.kid, ErrSFrameExhausted)
	}
	ctr := chatCTRBase + n
	out := make([]byte, 0, sframeHeaderLen(cur.key.kid, ctr)+len(text)+sframeTagSize)
	return cur.key.seal(out, ctr, false, chatMetadata(room), text), nil
}

func chatMetadata(room string) []byte {
	return append([]byte(chatMetadataPrefix), room...)
}

// KeyLookup finds the key for a KID, reporting false if none is held.
type KeyLookup func(kid uint64) (*SFrameKey, bool)

// FrameReceiver decrypts media frames and chat messages from any sender, finding keys through
// a KeyLookup, and drops replays: within a window of the last 1024 CTRs per KID (media and
// chat apart) each CTR is accepted once, and anything older is refused. It is safe for
// concurrent use. The replay state of a KID lives until Forget.
type FrameReceiver struct {
	lookup KeyLookup

	mu     sync.Mutex
	replay map[uint64]*kidReplay // KID -> what was accepted under it; guarded by mu
}

// maxReplayKIDs is how many KIDs a receiver tracks before it drops the state of KIDs whose
// keys lookup no longer finds.
const maxReplayKIDs = 4096

type kidReplay struct {
	media, chat replayWindowState
}

// NewFrameReceiver returns a receiver that finds keys with lookup. lookup is called without
// the receiver's lock held, except when it prunes state (see Forget); it must not call back
// into the receiver.
func NewFrameReceiver(lookup KeyLookup) *FrameReceiver {
	return &FrameReceiver{lookup: lookup, replay: map[uint64]*kidReplay{}}
}

// DecryptFrame authenticates and decrypts a media frame of codec c (clear || header ||
// ciphertext || tag) and appends clear || plaintext to dst, returning the frame's KID. It
// does not allocate when dst has room for len(frame) more bytes; dst may be frame[:0] to
// decrypt in place. Errors: ErrSFrameMalformed, ErrUnknownKID, ErrDecrypt, ErrReplay.
func (r *FrameReceiver) DecryptFrame(dst []byte, c Codec, frame []byte) (out []byte, kid uint64, err error) {
	if len(frame) > maxMediaFrame+maxSFrameHeader+sframeTagSize {
		return nil, 0, fmt.Errorf("%w: %d-byte frame", ErrSFrameMalformed, len(frame))
	}
	nClear := ClearPrefix(c, frame)
	kid, ctr, hdr, err := ParseSFrameHeader(frame[nClear:])
	if err != nil {
		return nil, 0, err
	}
	if len(frame)-nClear-hdr < sframeTagSize {
		return nil, kid, fmt.Errorf("%w: %d-byte %s frame, shorter than clear, header and tag", ErrSFrameMalformed, len(frame), c)
	}
	if ctr >= chatCTRBase {
		return nil, kid, fmt.Errorf("%w: media frame with chat CTR %d", ErrSFrameMalformed, ctr)
	}
	key, ok := r.lookup(kid)
	if !ok || key == nil || key.kid != kid {
		return nil, kid, fmt.Errorf("%w: %d", ErrUnknownKID, kid)
	}
	body := nClear + hdr
	out, err = key.open(dst, ctr, true, frame[nClear:body], frame[:nClear], frame[body:])
	if err != nil {
		return nil, kid, err
	}
	if err := r.accept(kid, ctr, false); err != nil {
		return nil, kid, err
	}
	return out, kid, nil
}

// DecryptChat authenticates and decrypts a chat message for room, returning its text and the
// KID it was sent under. Errors as DecryptFrame.
func (r *FrameReceiver) DecryptChat(room string, sframe []byte) (text []byte, kid uint64, err error) {
	if len(sframe) > maxChatSFrame {
		return nil, 0, fmt.Errorf("%w: %d-byte chat message, limit %d", ErrSFrameMalformed, len(sframe), maxChatSFrame)
	}
	if len(room) > maxChatRoom {
		return nil, 0, fmt.Errorf("identity: decrypt chat: room id of %d bytes, limit %d", len(room), maxChatRoom)
	}
	kid, ctr, hdr, err := ParseSFrameHeader(sframe)
	if err != nil {
		return nil, 0, err
	}
	if len(sframe)-hdr < sframeTagSize {
		return nil, kid, fmt.Errorf("%w: %d-byte chat message, shorter than header and tag", ErrSFrameMalformed, len(sframe))
	}
	if ctr < chatCTRBase {
		return nil, kid, fmt.Errorf("%w: chat message with media CTR %d", ErrSFrameMalformed, ctr)
	}
	key, ok := r.lookup(kid)
	if !ok || key == nil || key.kid != kid {
		return nil, kid, fmt.Errorf("%w: %d", ErrUnknownKID, kid)
	}
	text, err = key.open(make([]byte, 0, len(sframe)-hdr), ctr, false, sframe[:hdr], chatMetadata(room), sframe[hdr:])
	if err != nil {
		return nil, kid, err
	}
	if err := r.accept(kid, ctr, true); err != nil {
		return nil, kid, err
	}
	return text, kid, nil
}

// Forget drops the replay state of kid, for a key that has been erased.
func (r *FrameReceiver) Forget(kid uint64) {
	r.mu.Lock()
	delete(r.replay, kid)
	r.mu.Unlock()
}

// accept records (kid, ctr) after the frame authenticated, failing with ErrReplay if it was
// accepted before or is too old. Only authentic frames reach it, so only real keys get state.
func (r *FrameReceiver) accept(kid, ctr uint64, chat bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.replay[kid]
	if st == nil {
		if len(r.replay) >= maxReplayKIDs {
			r.pruneLocked()
		}
		st = &kidReplay{}
		r.replay[kid] = st
	}
	w := &st.media
	if chat {
		w = &st.chat
	}
	if err := w.accept(ctr); err != nil {
		return fmt.Errorf("KID %d CTR %d: %w", kid, ctr, err)
	}
	return nil
}

// pruneLocked drops the state of KIDs that lookup no longer finds.
func (r *FrameReceiver) pruneLocked() {
	for kid := range r.replay {
		if _, ok := r.lookup(kid); !ok {
			delete(r.replay, kid)
		}
	}
}

// replayWindowState remembers which of the CTRs top-1023 ... top were accepted, as a ring of
// bits indexed by CTR mod 1024.
type replayWindowState struct {
	started bool
	top     uint64
	seen    [replayWindow / 64]uint64
}

func (w *replayWindowState) accept(ctr uint64) error {
	switch {
	case !w.started:
		w.started, w.top = true, ctr
	case ctr > w.top:
		if ctr-w.top >= replayWindow {
			w.seen = [replayWindow / 64]uint64{}
		} else {
			for c := w.top + 1; c != ctr; c++ {
				w.clear(c)
			}
		}
		w.top = ctr
	case w.top-ctr >= replayWindow:
		return fmt.Errorf("%w: older than the last %d", ErrReplay, replayWindow)
	case w.has(ctr):
		return fmt.Errorf("%w: already accepted", ErrReplay)
	}
	w.set(ctr)
	return nil
}

func (w *replayWindowState) has(c uint64) bool {
	i := c % replayWindow
	return w.seen[i/64]&(1<<(i%64)) != 0
}

func (w *replayWindowState) set(c uint64) {
	i := c % replayWindow
	w.seen[i/64] |= 1 << (i % 64)
}

func (w *replayWindowState) clear(c uint64) {
	i := c % replayWindow
	w.seen[i/64] &^= 1 << (i % 64)
}
