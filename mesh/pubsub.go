package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const (
	// gossipProtocol is the gossipsub protocol ID. It is not the public one, so a Parley host
	// never speaks gossip with a host that is not Parley, even if one got through.
	gossipProtocol = protocol.ID("/parley/gossipsub/1.2.0")
	// rpcOverhead is what a gossip RPC may carry on top of one message payload: the topic,
	// author, sequence number, key and signature, and control messages. The RPC frame limit
	// is MaxMessageSize plus this; gossipsub splits larger RPCs.
	rpcOverhead = 64 << 10
	// maxSubsPerRPC bounds the subscription changes one RPC may announce.
	maxSubsPerRPC = 1024
	// maxTopicLen bounds a topic name.
	maxTopicLen = 256
	// subBuffer is how many received messages a topic holds for Next before gossipsub drops
	// new ones for it (a consumer that slow relies on catch-up).
	subBuffer = 1024

	// validateQueue is how many inbound messages wait for validation before gossipsub drops
	// ("validation throttled"). After a partition heals every peer sends at once; a drop is
	// repaired by catch-up, but costs a round of it.
	validateQueue = 256
)

// gossipFeatures says what gossipProtocol supports: everything of gossipsub v1.2 (mesh, peer
// exchange, IDONTWANT). Peer exchange is switched off separately.
func gossipFeatures(feat pubsub.GossipSubFeature, proto protocol.ID) bool {
	if proto != gossipProtocol {
		return false
	}
	switch feat {
	case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeaturePX, pubsub.GossipSubFeatureIdontwant:
		return true
	}
	return false
}

// startGossip starts gossipsub on the host.
func (h *Host) startGossip() error {
	// Gossipsub's default mesh parameters (D=6, heartbeat 1 s, 3 heartbeats of gossip) suit
	// tens of peers. With flood publishing the author sends each message straight to every
	// subscribed peer, so in a fully federated set delivery is one hop; the mesh and gossip
	// only matter for relaying around links that are down.
	ps, err := pubsub.NewGossipSub(h.ctx, h.host,
		pubsub.WithGossipSubProtocols([]protocol.ID{gossipProtocol}, gossipFeatures),
		pubsub.WithGossipSubParams(pubsub.DefaultGossipSubParams()),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(h.cfg.MaxMessageSize+rpcOverhead),
		pubsub.WithSubscriptionFilter(pubsub.WrapLimitSubscriptionFilter(h.filter, maxSubsPerRPC)),
		pubsub.WithPeerScore(peerScoreParams(h.adm), peerScoreThresholds()),
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		pubsub.WithBlacklist(untrustedList{adm: h.adm, self: h.self}),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return h.adm.admitted(p) }),
		pubsub.WithDefaultValidator(pubsub.ValidatorEx(h.validateGossip), pubsub.WithValidatorInline(true)),
		pubsub.WithValidateQueueSize(validateQueue),
		pubsub.WithRawTracer(gossipWatch{h}),
		pubsub.WithLogger(slog.New(demoteWarnings{h.log.Handler()}).With("component", "gossipsub")),
		pubsub.WithRPCLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return fmt.Errorf("mesh: start gossipsub: %w", err)
	}
	h.ps = ps
	return nil
}

// validateGossip runs on every gossip message before a topic validator: a payload over the
// cap is rejected (and counts against the peer that sent it). A message whose author is not
// trusted here is normally dropped before validation (untrustedList); it is ignored here as
// well, without penalty, since the peer relaying it may trust that author.
func (h *Host) validateGossip(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if len(m.Data) > h.cfg.MaxMessageSize {
		return pubsub.ValidationReject
	}
	author := m.GetFrom()
	if author != h.self && !h.adm.isTrusted(author) {
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationAccept
}

// untrustedList is gossipsub's blacklist: every peer that is not trusted (blocked peers
// stay off it, since their messages may legitimately arrive through others).
type untrustedList struct {
	adm  *admission
	self peer.ID
}

func (l untrustedList) Add(peer.ID) bool { return false } // trust decides, not gossipsub

func (l untrustedList) Contains(p peer.ID) bool { return p != l.self && !l.adm.isTrusted(p) }

// topicFilter is the subscription filter.
//
// Joining is limited to allowed topics. Peers' subscriptions are tracked for allowed topics
// and, up to maxTrackedTopics distinct names, for topics not allowed (yet) as well. The
// reason is that gossipsub learns who subscribes to what only from announcements, once: a
// peer subscribed to a room before this host allowed it never announces it again, and
// without the record this host, joining the room later, would not know whom to send its
// own messages to (flood publishing sends to known subscribers only). Tracking causes no
// traffic: peers send a topic's messages only to hosts that announced a subscription, and
// this host announces only the topics it joined. Topic names are bounded (maxTopicLen), so
// are subscriptions per RPC (maxSubsPerRPC) and distinct untracked names; past the bound,
// subscriptions to topics not allowed are dropped.
type topicFilter struct {
	mu      sync.RWMutex
	allowed map[string]struct{}
	tracked map[string]struct{} // topics not allowed whose subscriptions are tracked
	full    bool                // tracked reached maxTrackedTopics (logged once)
	log     *slog.Logger
}

// maxTrackedTopics bounds the distinct topics not allowed whose subscriptions are tracked.
const maxTrackedTopics = 4096

var _ pubsub.SubscriptionFilter = (*topicFilter)(nil)

func newTopicFilter(log *slog.Logger) *topicFilter {
	return &topicFilter{allowed: make(map[string]struct{}), tracked: make(map[string]struct{}), log: log}
}

// CanSubscribe reports whether this host may join topic.
func (f *topicFilter) CanSubscribe(topic string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.allowed[topic]
	return ok
}

// track reports whether a peer's subscription to topic is kept.
func (f *topicFilter) track(topic string) bool {
	if topic == "" || len(topic) > maxTopicLen {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.allowed[topic]; ok {
		return true
	}
	if _, ok := f.tracked[topic]; ok {
		return true
	}
	if len(f.tracked) >= maxTrackedTopics {
		if !f.full {
			f.full = true
			f.log.Warn("too many topics announced by peers; subscriptions to topics not allowed are now dropped", "limit", maxTrackedTopics)
		}
		return false
	}
	f.tracked[topic] = struct{}{}
	return true
}

func (f *topicFilter) FilterIncomingSubscriptions(_ peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	return pubsub.FilterSubscriptions(subs, f.track), nil
}

func (f *topicFilter) set(topic string, allowed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if allowed {
		f.allowed[topic] = struct{}{}
	} else {
		delete(f.allowed, topic)
	}
}

// AllowTopic adds topic to the subscription filter: the host may Join it. Topic names longer
// than 256 bytes are refused.
func (h *Host) AllowTopic(topic string) {
	if topic == "" || len(topic) > maxTopicLen {
		h.log.Warn("topic name refused", "len", len(topic))
		return
	}
	h.filter.set(topic, true)
}

// DisallowTopic removes topic from the subscription filter and leaves it if joined: its
// Topic is closed and Next returns ErrClosed.
func (h *Host) DisallowTopic(topic string) {
	h.filter.set(topic, false)
	h.mu.Lock()
	t := h.topics[topic]
	h.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

// Verdict is a topic validator's decision about a received gossip message.
type Verdict int

const (
	// Accept delivers the message to Next and forwards it to other peers.
	Accept Verdict = iota
	// Ignore drops the message without holding it against anyone: a replay, or a message
	// about state this node no longer follows.
	Ignore
	// Reject drops the message and counts it against the peer that sent it: it is invalid
	// (bad signature, malformed, not a member). See score.go for what that costs.
	Reject
)

// Validator decides about a message received on a topic before it is delivered or
// forwarded. from is the message's author. It must not block for long: gossipsub validates
// messages as they arrive.
type Validator func(ctx context.Context, from peer.ID, data []byte) Verdict

// SetValidator installs v for topic's received messages (this host's own are not passed to
// it), replacing any earlier one; a nil v removes it. The size cap and the author's trust
// are checked before v runs.
func (h *Host) SetValidator(topic string, v Validator) error {
	_ = h.ps.UnregisterTopicValidator(topic) // an error only says there was none
	if v == nil {
		return nil
	}
	val := func(ctx context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		author := m.GetFrom()
		if author == h.self {
			return pubsub.ValidationAccept
		}
		switch v(ctx, author, m.Data) {
		case Accept:
			return pubsub.ValidationAccept
		case Reject:
			return pubsub.ValidationReject
		default:
			return pubsub.ValidationIgnore
		}
	}
	if err := h.ps.RegisterTopicValidator(topic, pubsub.ValidatorEx(val)); err != nil {
		return fmt.Errorf("mesh: set validator of %s: %w", topic, err)
	}
	return nil
}

// Message is a gossip message received from another node.
type Message struct {
	From peer.ID // the author, who signed it
	Via  peer.ID // the neighbour it arrived from: the author itself, or a peer relaying it
	Data []byte
}

// Topic is a joined gossip topic.
type Topic struct {
	h    *Host
	name string
	t    *pubsub.Topic
	sub  *pubsub.Subscription

	closeOnce sync.Once
}

// Join joins topic, which must be allowed (AllowTopic). A topic can be joined once at a time;
// Close the Topic to leave it.
func (h *Host) Join(topic string) (*Topic, error) {
	if !h.filter.CanSubscribe(topic) {
		return nil, fmt.Errorf("mesh: join %q: %w", topic, ErrTopicNotAllowed)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("mesh: join %q: %w", topic, ErrClosed)
	}
	if _, ok := h.topics[topic]; ok {
		return nil, fmt.Errorf("mesh: join %q: already joined", topic)
	}
	pt, err := h.ps.Join(topic)
	if err != nil {
		return nil, fmt.Errorf("mesh: join %q: %w", topic, err)
	}
	if err := pt.SetScoreParams(topicScoreParams()); err != nil {
		pt.Close()
		return nil, fmt.Errorf("mesh: join %q: %w", topic, err)
	}
	sub, err := pt.Subscribe(pubsub.WithBufferSize(subBuffer))
	if err != nil {
		pt.Close()
		return nil, fmt.Errorf("mesh: join %q: %w", topic, err)
	}
	t := &Topic{h: h, name: topic, t: pt, sub: sub}
	h.topics[topic] = t
	return t, nil
}

// Name is the topic's name.
func (t *Topic) Name() string { return t.name }

// Peers lists the connected peers known to be subscribed to the topic.
func (t *Topic) Peers() []peer.ID { return t.t.ListPeers() }

// Publish signs data with the node key and sends it to the topic's peers. data must not
// exceed the host's MaxMessageSize (ErrTooLarge).
func (t *Topic) Publish(ctx context.Context, data []byte) error {
	if len(data) > t.h.cfg.MaxMessageSize {
		return fmt.Errorf("mesh: publish on %q: %d bytes, limit %d: %w", t.name, len(data), t.h.cfg.MaxMessageSize, ErrTooLarge)
	}
	if err := t.t.Publish(ctx, data); err != nil {
		if errors.Is(err, pubsub.ErrTopicClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("mesh: publish on %q: %w", t.name, err)
	}
	return nil
}

// Next returns the next message other nodes published on the topic (this host's own are
// skipped). It returns ErrClosed once the topic is closed.
func (t *Topic) Next(ctx context.Context) (Message, error) {
	for {
		m, err := t.sub.Next(ctx)
		if err != nil {
			if errors.Is(err, pubsub.ErrSubscriptionCancelled) {
				err = ErrClosed
			}
			return Message{}, fmt.Errorf("mesh: next on %q: %w", t.name, err)
		}
		if m.ReceivedFrom == t.h.self || m.GetFrom() == t.h.self {
			continue
		}
		return Message{From: m.GetFrom(), Via: m.ReceivedFrom, Data: m.Data}, nil
	}
}

// Close leaves the topic. It is safe to call more than once.
func (t *Topic) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.sub.Cancel()
		if cerr := t.t.Close(); cerr != nil && t.h.ctx.Err() == nil {
			err = fmt.Errorf("mesh: leave %q: %w", t.name, cerr)
		}
		t.h.mu.Lock()
		if t.h.topics[t.name] == t {
			delete(t.h.topics, t.name)
		}
		t.h.mu.Unlock()
	})
	return err
}

// demoteWarnings passes gossipsub's log on with its warnings as debug lines: it warns about its
// own queues under load (a delivery tag not bumped, a message throttled), which are counted in
// Stats and repaired by catch-up, and would otherwise flood a node's log at the worst moment.
// Errors pass unchanged.
type demoteWarnings struct{ slog.Handler }

func (d demoteWarnings) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelWarn {
		l = slog.LevelDebug
	}
	return d.Handler.Enabled(ctx, l)
}

func (d demoteWarnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d demoteWarnings) WithAttrs(as []slog.Attr) slog.Handler {
	return demoteWarnings{d.Handler.WithAttrs(as)}
}

func (d demoteWarnings) WithGroup(name string) slog.Handler {
	return demoteWarnings{d.Handler.WithGroup(name)}
}
