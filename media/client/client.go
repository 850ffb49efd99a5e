// Package client is a headless Go participant for Parley rooms: it joins through the same
// WebSocket signalling as the web client (package parley/media/signal), publishes audio and
// video from real encoded clips (embedded under samples/), and receives and counts everything
// the node forwards to it. Tests, bots and the SFU benchmark use it.
//
// It owns its WebSocket and its two pion peer connections ("pub" and "sub") and nothing else:
// it never imports the node or the SFU, and it never panics on what the node sends; bad
// messages and node errors come out of Errors.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"parley/identity"
	"parley/media/signal"
)

// Track kinds.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client: closed")

// Config configures a client. Zero values mean the documented defaults.
type Config struct {
	// URL is the node's base URL (http, https, ws or wss), e.g. "https://node.example:8443".
	// Required.
	URL string
	// Room is the room ID to join. Required.
	Room string
	// Name is the display name. Default: "go-client".
	Name string
	// TLSConfig is used for https/wss nodes (e.g. trusting a self-signed certificate).
	// Default: the system roots.
	TLSConfig *tls.Config
	// Publish says what the client sends. Default: nothing (receive only).
	Publish Publish
	// Logger receives the client's logs. Default: discard.
	Logger *slog.Logger

	// NetworkTypes are the ICE network types to gather. Default: UDP4 and UDP6.
	NetworkTypes []webrtc.NetworkType
	// IPFilter, if set, keeps only the local addresses it returns true for as ICE candidates
	// (loopback addresses are always eligible). Default: all.
	IPFilter func(net.IP) bool

	// OnPacketSent, if set, is called for every RTP packet the client publishes, just before
	// it is written. OnPacketReceived, if set, is called for every RTP packet received. Both
	// run on the media goroutines: they must be quick, and Payload is valid only during the
	// call. The SFU rewrites SSRC, sequence numbers and timestamps but not payloads, so
	// PayloadBody(Kind, Payload) identifies a packet end to end.
	OnPacketSent     func(PacketEvent)
	OnPacketReceived func(PacketEvent)

	// Identity is the participant's identity keys. Default: a fresh one.
	Identity *identity.UserIdentity
	// Moderator is the room's moderator token (the mod parameter of a moderator link).
	Moderator string
	// Agent is the agent token a node gives the transcriber it starts.
	Agent string
	// Lang is the language the participant speaks (a BCP 47 tag such as "en" or "fr"), for
	// the meeting's transcriber; "" says nothing.
	Lang string
	// TrustedNodeKeys are the node keys whose certificates the client accepts. Default: the
	// keys the home node names in joined.
	TrustedNodeKeys [][]byte
	// KeySchedule tunes when the client moves to new keys. Default: identity's defaults.
	KeySchedule identity.ScheduleConfig
	// AnnounceKeys makes a client that publishes nothing announce keys from the start, as a
	// publishing client does; otherwise it starts when it first sends chat.
	AnnounceKeys bool
	// OnKeySwitch, if set, is called when the client starts encrypting with a new key.
	OnKeySwitch func(kid uint64, at time.Time)
	// OnFrameReceived, if set, is called for every frame decrypted, on the media goroutines.
	// OnFrameSent, if set, is called with every frame before it is encrypted and sent (Kind,
	// Frame and Time set).
	OnFrameReceived func(FrameEvent)
	OnFrameSent     func(FrameEvent)
	// OnMessage, if set, is called for every message the node sends after joined (and for
	// lobby and joined themselves), on the signalling goroutine, before the client acts on it.
	OnMessage func(*signal.Message)
}

// Publish says what a client publishes.
type Publish struct {
	Audio     bool // Opus, 32 kbit/s, 20 ms packets, source "mic"
	Video     bool // VP8 camera, one 640x360 20 fps layer unless Simulcast
	Simulcast bool // with Video: three layers, rids q (320x180), h (640x360), f (1280x720)
	Screen    bool // an extra VP8 track with source "screen" (640x360)
	// AudioFrames, with Audio, are the Opus packets (20 ms each, 48 kHz) the microphone
	// plays, over and over, instead of the built-in clip: speech, for instance.
	AudioFrames [][]byte
}

// PacketEvent describes one RTP packet for the instrumentation hooks.
type PacketEvent struct {
	Kind    string // KindAudio or KindVideo
	Source  string // sent: the source published (mic, camera, screen)
	RID     string // sent: the simulcast rid, "" for a single layer
	TrackID string // received: the remote track id from the node's offer
	Payload []byte // the RTP payload; valid only during the call
	Time    time.Time
}

// TrackStats counts what the client received on one remote track.
type TrackStats struct {
	ID          string // the remote track id the node assigned
	Participant string // the publishing participant's id
	Kind        string // KindAudio or KindVideo
	Source      string // mic, camera or screen
	Mid         string // the sub transceiver carrying it
	Packets     uint64
	Bytes       uint64 // RTP payload bytes
	Frames      uint64 // packets with the marker bit (video: frames ended)
	Keyframes   uint64 // VP8 keyframes started
	Decrypted   uint64 // frames put together and decrypted
	// Undecryptable counts frames that failed to decrypt; UnknownKey those of them whose key
	// the client did not hold.
	Undecryptable uint64
	UnknownKey    uint64
	Width         int // of the last VP8 keyframe
	Height        int
	FirstPacket   time.Time
	LastPacket    time.Time
}

// NodeError is an "error" message the node sent.
type NodeError struct {
	Code    string
	Message string
}

func (e *NodeError) Error() string { return fmt.Sprintf("node error %s: %s", e.Code, e.Message) }

// Client is one participant in a room. Its methods are safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger

	ws     *websocket.Conn
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	out    chan *signal.Message // to the writer goroutine
	errs   chan error
	done   chan struct{} // closed when the signalling connection ends

	api  *webrtc.API
	pub  *peer // nil when publishing nothing
	sub  *peer
	pubs []*publisher
	e2ee *e2ee

	closeOnce sync.Once

	// mu guards the fields below and the wg.Add in goroutine.
	mu           sync.Mutex
	closed       bool
	wg           sync.WaitGroup
	you          signal.Participant
	room         signal.Room
	participants map[string]signal.Participant // others, by id
	chat         []ChatMessage
	waiting      []signal.Waiting // the lobby, when the client is a moderator
	moderated    []Moderation     // what moderators did to the client, oldest first
	reactions    []Reaction       // reactions seen, oldest first
	captions     []Caption        // captions seen, oldest first
	speakers     []string
	subTracks    map[string]signal.Track  // sub mid -> track, from the node's latest offer
	received     map[string]*trackCounter // by remote track id
}

// Limits on what the client keeps.
const (
	maxChatKept  = 1000
	errsBuffered = 64
	outBuffered  = 256
	writeTimeout = 5 * time.Second
	leaveTimeout = time.Second
	pingInterval = 20 * time.Second
)

// Join connects to the node, joins the room and starts publishing what cfg.Publish asks for.
// ctx bounds the connection and the join handshake only; the client lives until Close.
// It returns once the node has accepted the join; media flows shortly after.
func Join(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.Room == "" {
		return nil, errors.New("client: URL and Room are required")
	}
	if cfg.Name == "" {
		cfg.Name = "go-client"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Publish.Simulcast && !cfg.Publish.Video {
		return nil, errors.New("client: Publish.Simulcast needs Publish.Video")
	}
	if cfg.Identity == nil {
		id, err := identity.GenerateUserIdentity()
		if err != nil {
			return nil, err
		}
		cfg.Identity = id
	}
	cctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:          cfg,
		log:          cfg.Logger.With("room", cfg.Room, "name", cfg.Name),
		ctx:          cctx,
		cancel:       cancel,
		out:          make(chan *signal.Message, outBuffered),
		errs:         make(chan error, errsBuffered),
		done:         make(chan struct{}),
		participants: map[string]signal.Participant{},
		subTracks:    map[string]signal.Track{},
		received:     map[string]*trackCounter{},
	}
	c.e2ee = newE2EE(c, cfg.Identity)
	if err := c.join(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) join(ctx context.Context) error {
	ws, err := dial(ctx, c.cfg)
	if err != nil {
		return err
	}
	c.ws = ws
	joined, err := c.handshake(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.you = *joined.You
	c.room = *joined.Room
	for _, p := range joined.Participants {
		if p.ID != c.you.ID {
			c.participants[p.ID] = p
		}
	}
	c.mu.Unlock()
	c.log = c.log.With("participant", joined.You.ID)
	if err := c.e2ee.start(joined); err != nil {
		return err
	}
	for i := range joined.History {
		c.addChat(&joined.History[i])
	}

	if c.api, err = newAPI(c.cfg); err != nil {
		return err
	}
	if c.sub, err = c.newPeer(signal.PCSub); err != nil {
		return err
	}
	c.setupReceive()
	p := c.cfg.Publish
	publishing := p.Audio || p.Video || p.Screen
	if publishing {
		if c.pub, err = c.newPeer(signal.PCPub); err != nil {
			return err
		}
	}
	// Both peers exist before the read loop starts: it is the only reader of c.pub and c.sub.
	c.goroutine(c.readLoop)
	c.goroutine(c.writeLoop)
	c.goroutine(c.pingLoop)
	c.goroutine(c.e2ee.keyLoop)
	if publishing {
		return c.startPublishing()
	}
	return nil
}

// goroutine runs f on a goroutine Close waits for, unless the client is closing.
func (c *Client) goroutine(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// report hands an asynchronous error to Errors, dropping it if nobody reads them.
func (c *Client) report(err error) {
	c.log.Debug("client error", "err", err)
	select {
	case c.errs <- err:
	default:
	}
}

// Errors delivers asynchronous failures: node "error" messages (*NodeError), messages the
// client could not decode, negotiation failures, and the loss of the signalling connection.
// Errors nobody reads are dropped once the buffer is full.
func (c *Client) Errors() <-chan error { return c.errs }

// Done is closed when the signalling connection has ended (Close, or the node went away).
func (c *Client) Done() <-chan struct{} { return c.done }

// ID returns the client's own participant id.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.you.ID
}

// Room returns the room as the node described it on join.
func (c *Client) Room() signal.Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// Participants returns the other participants in the room, ordered by id.
func (c *Client) Participants() []signal.Participant {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := make([]signal.Participant, 0, len(c.participants))
	for _, p := range c.participants {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return ps
}

// ChatMessage is a chat message as the client read it.
type ChatMessage struct {
	Seq  uint64
	From string // participant id
	Name string
	Time int64 // unix milliseconds
	// Text is the decrypted text; empty when Err is set.
	Text string
	// Err says why the text could not be read: typically identity.ErrUnknownKID for a message
	// sent before the client joined, whose key it never held.
	Err error
}

// Chat returns the room's chat as the client saw it: the history sent on join, then every
// message since (the client's own included, as the node echoes them), oldest first.
func (c *Client) Chat() []ChatMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ChatMessage(nil), c.chat...)
}

// addChat decrypts m and keeps it.
func (c *Client) addChat(m *signal.ChatMessage) {
	cm := ChatMessage{Seq: m.Seq, From: m.From, Name: m.Name, Time: m.Time}
	text, _, err := c.e2ee.recv.DecryptChat(c.cfg.Room, m.SFrame)
	if err != nil {
		cm.Err = err
	} else {
		cm.Text = string(text)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chat = append(c.chat, cm)
	if len(c.chat) > maxChatKept {
		c.chat = append([]ChatMessage(nil), c.chat[len(c.chat)-maxChatKept:]...)
	}
}

// Certificate returns the verified certificate of participant id (someone else), or nil
// when the client has none that verified.
func (c *Client) Certificate(id string) *identity.CertBody {
	c.e2ee.mu.Lock()
	defer c.e2ee.mu.Unlock()
	if cert := c.e2ee.certs[id]; cert != nil {
		cp := *cert
		return &cp
	}
	return nil
}

// Waiting returns who waits in the room's lobby, as the node last told the client (a
// moderator); empty for other clients.
func (c *Client) Waiting() []signal.Waiting {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]signal.Waiting(nil), c.waiting...)
}

// Moderation is a moderator's action on the client ("moderated").
type Moderation struct {
	Action string // a signal.Action constant
	By     string // the moderator's name
}

// Reaction is a participant's reaction as the client saw it.
type Reaction struct{ From, Reaction string }

// Moderated is what moderators did to the client so far, oldest first.
func (c *Client) Moderated() []Moderation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.moderated)
}

// Reactions are the reactions the client has seen, oldest first.
func (c *Client) Reactions() []Reaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reactions)
}

// Moderate sends a moderator action (a signal.Action constant; id for mute and cohost).
func (c *Client) Moderate(action, id string) error {
	return c.send(&signal.Message{Type: signal.TypeModerate, Action: action, ID: id})
}

// React sends a reaction (one of signal.Reactions).
func (c *Client) React(reaction string) error {
	return c.send(&signal.Message{Type: signal.TypeReact, Reaction: reaction})
}

// Mute tells the node that source (mic or camera) is muted or not.
func (c *Client) Mute(source string, muted bool) error {
	return c.send(&signal.Message{Type: signal.TypeMute, Source: source, Muted: &muted})
}

// Admit lets someone waiting in the lobby in (moderators only).
func (c *Client) Admit(id string) error {
	return c.send(&signal.Message{Type: signal.TypeAdmit, ID: id})
}

// Remove takes a participant out of the meeting, or turns away someone in the lobby
// (moderators only).
func (c *Client) Remove(id string) error {
	return c.send(&signal.Message{Type: signal.TypeRemove, ID: id})
}

// SendingKID is the KID of the key the client currently encrypts with; ok is false before
// its first key.
func (c *Client) SendingKID() (kid uint64, ok bool) { return c.e2ee.sendingKID() }

// EnvelopesSent is how many key envelopes the client has sent and their size in bytes (body
// and signature).
func (c *Client) EnvelopesSent() (count, bytes uint64) {
	return c.e2ee.envelopes.Load(), c.e2ee.envelopeBytes.Load()
}

// Identity is the client's identity keys.
func (c *Client) Identity() *identity.UserIdentity { return c.cfg.Identity }

// Speakers returns the latest active speakers the node announced, loudest first.
func (c *Client) Speakers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.speakers...)
}

// Tracks returns what the client received per remote track, for the tracks the node currently
// forwards to it, ordered by participant then source.
func (c *Client) Tracks() []TrackStats {
	c.mu.Lock()
	counters := make([]*trackCounter, 0, len(c.received))
	for _, t := range c.received {
		counters = append(counters, t)
	}
	c.mu.Unlock()
	out := make([]TrackStats, 0, len(counters))
	for _, t := range counters {
		out = append(out, t.snapshot())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Participant != out[j].Participant {
			return out[i].Participant < out[j].Participant
		}
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ErrNoKey is returned by SendChat when the client has no key to encrypt with: its first
// key comes shortly after join, and SendChat waits up to firstKeyWait for it.
var ErrNoKey = errors.New("client: no end-to-end key yet")

const firstKeyWait = 5 * time.Second

// SendChat sends a chat message to the room, end-to-end encrypted with the client's newest
// announced key. Right after join it first waits for a key (up to firstKeyWait); when someone
// just joined or left and the new epoch is still to be announced (within the key schedule's
// debounce), it waits for that epoch, so that a newcomer can read the message.
func (c *Client) SendChat(text string) error {
	c.e2ee.activate()
	select {
	case <-c.e2ee.ready:
	case <-c.ctx.Done():
		return ErrClosed
	case <-time.After(firstKeyWait):
		return ErrNoKey
	}
	if epoch := c.e2ee.chatEpoch(); epoch != nil {
		select {
		case <-epoch:
		case <-c.ctx.Done():
			return ErrClosed
		case <-time.After(firstKeyWait):
			// Announcing is late; send under the key there is.
		}
	}
	ct, err := c.e2ee.chat.EncryptChat(c.cfg.Room, []byte(text))
	if err != nil {
		return fmt.Errorf("client: encrypt chat: %w", err)
	}
	return c.send(&signal.Message{Type: signal.TypeChat, SFrame: ct})
}

// SetQuality asks the node for at most quality (signal.QualityLow, QualityMedium or
// QualityHigh) of the remote video track trackID.
func (c *Client) SetQuality(trackID, quality string) error {
	return c.send(&signal.Message{Type: signal.TypeLayer, Track: trackID, Quality: quality})
}

// SetLang tells the meeting the participant now speaks lang (a BCP 47 tag).
func (c *Client) SetLang(lang string) error {
	return c.send(&signal.Message{Type: signal.TypeLang, Lang: lang})
}

// RaiseHand raises or lowers the client's hand.
func (c *Client) RaiseHand(raised bool) error {
	return c.send(&signal.Message{Type: signal.TypeHand, Raised: &raised})
}

// Close leaves the room, closes the connections and waits for the client's goroutines.
// It is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		if c.ws != nil {
			c.leave() // best effort
		}
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		if c.ws != nil {
			_ = c.ws.Close(websocket.StatusNormalClosure, "leaving")
		}
		for _, p := range []*peer{c.pub, c.sub} {
			if p != nil {
				if err := p.pc.Close(); err != nil {
					c.log.Debug("close peer connection", "pc", p.name, "err", err)
				}
			}
		}
		c.wg.Wait()
		c.endSignalling()
	})
	return nil
}
