package client

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"parley/identity"
	"parley/media/signal"
)

// expireEvery is how often the client erases receivers' keys past their retention.
const expireEvery = time.Second

// e2ee is the client's end-to-end encryption (see package parley/identity): its identity, the
// certificates of the others, its own key schedule and the keys it received. Media and chat
// are encrypted before they leave the client and decrypted after they arrive; the node relays
// envelopes it cannot open.
//
// The key loop goroutine owns the schedule's timing; everything else is guarded by mu or
// goroutine-safe on its own (FrameSender, FrameReceiver, KeyRing).
type e2ee struct {
	c      *Client
	me     *identity.UserIdentity
	sender *identity.FrameSender // media, under the key switched to
	chat   *identity.FrameSender // chat, under the newest announced key
	ring   *identity.KeyRing
	recv   *identity.FrameReceiver
	wake   chan struct{} // pokes the key loop when membership changes
	ready  chan struct{} // closed when chat has its first key

	envelopes, envelopeBytes atomic.Uint64 // key envelopes sent and their JSON bytes

	mu      sync.Mutex
	trusted [][]byte                      // node keys whose certificates are accepted; guarded by mu
	certs   map[string]*identity.CertBody // participant id -> verified certificate (others); guarded by mu
	own     *identity.CertBody            // guarded by mu
	sched   *identity.KeySchedule         // guarded by mu
	current uint64                        // KID being sent with, 0 before the first; guarded by mu
	hasKey  bool                          // guarded by mu
	chatKey bool                          // chat has a key; guarded by mu
	epochCh chan struct{}                 // closed and replaced when a new epoch is announced; guarded by mu
}

func newE2EE(c *Client, me *identity.UserIdentity) *e2ee {
	ring := identity.NewKeyRing(0)
	return &e2ee{
		c: c, me: me,
		sender:  identity.NewFrameSender(),
		chat:    identity.NewFrameSender(),
		epochCh: make(chan struct{}),
		ring:    ring,
		recv:    identity.NewFrameReceiver(ring.Lookup),
		wake:    make(chan struct{}, 1),
		ready:   make(chan struct{}),
		certs:   map[string]*identity.CertBody{},
	}
}

// joinKeys are the public keys sent in join.
func (e *e2ee) joinKeys() *signal.Keys {
	return &signal.Keys{SigPub: base64.RawURLEncoding.EncodeToString(e.me.SigPub()), Age: e.me.AgeRecipient()}
}

// start takes the joined message: which node keys to trust, the client's own certificate and
// the others'. It starts the key schedule.
func (e *e2ee) start(joined *signal.Message) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := e.c.cfg.TrustedNodeKeys
	if len(keys) == 0 {
		for _, k := range joined.NodeKeys {
			b, err := base64.RawURLEncoding.DecodeString(k)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return fmt.Errorf("client: node key %q is not a b64u Ed25519 public key", k)
			}
			keys = append(keys, b)
		}
	}
	e.trusted = keys
	own, err := e.verifyLocked(joined.You)
	if err != nil {
		return fmt.Errorf("client: own certificate: %w", err)
	}
	if !own.SigPub.Equal(e.me.SigPub()) || own.Age != e.me.AgeRecipient() {
		return errors.New("client: the node certified other keys than ours")
	}
	e.own = own
	for i := range joined.Participants {
		p := &joined.Participants[i]
		if cert, err := e.verifyLocked(p); err == nil {
			e.certs[p.ID] = cert
		} else {
			e.c.report(fmt.Errorf("client: participant %s: %w", p.ID, err))
		}
	}
	p := e.c.cfg.Publish
	if p.Audio || p.Video || p.Screen || e.c.cfg.AnnounceKeys {
		e.activateLocked()
	}
	return nil
}

// activate starts the client's own key schedule: from now on it announces keys and moves to
// new epochs. A client that publishes nothing starts it only when it first sends chat (or
// from the start with Config.AnnounceKeys), so that receive-only clients cost nobody a rekey.
func (e *e2ee) activate() {
	e.mu.Lock()
	e.activateLocked()
	e.mu.Unlock()
	e.poke()
}

func (e *e2ee) activateLocked() {
	if e.sched == nil && e.own != nil {
		e.sched = identity.NewKeySchedule(e.own.Tag, e.c.cfg.KeySchedule, time.Now())
	}
}

// verifyLocked checks p's certificate against the trusted node keys and the room.
func (e *e2ee) verifyLocked(p *signal.Participant) (*identity.CertBody, error) {
	if p == nil || p.Cert == nil {
		return nil, errors.New("no certificate")
	}
	trusted := func(k ed25519.PublicKey) bool {
		return slices.ContainsFunc(e.trusted, func(t []byte) bool { return k.Equal(ed25519.PublicKey(t)) })
	}
	cert, err := identity.VerifyCertificate(*p.Cert, trusted, e.c.cfg.Room, time.Now())
	if err != nil {
		return nil, err
	}
	if cert.ID != p.ID {
		return nil, fmt.Errorf("certificate is for %q", cert.ID)
	}
	return cert, nil
}

// joinedParticipant records a newcomer's certificate and schedules a rekey.
func (e *e2ee) joinedParticipant(p *signal.Participant) error {
	e.mu.Lock()
	cert, err := e.verifyLocked(p)
	if err == nil {
		e.certs[p.ID] = cert
		if e.sched != nil {
			e.sched.MembershipChanged(time.Now())
		}
	}
	e.mu.Unlock()
	e.poke()
	if err != nil {
		return fmt.Errorf("client: participant %s: %w", p.ID, err)
	}
	return nil
}

// leftParticipant forgets a participant's certificate and keys and schedules a rekey.
func (e *e2ee) leftParticipant(id string) {
	e.mu.Lock()
	cert := e.certs[id]
	delete(e.certs, id)
	if cert != nil && e.sched != nil {
		e.sched.MembershipChanged(time.Now())
	}
	e.mu.Unlock()
	if cert != nil {
		for _, kid := range e.ring.RemoveTag(cert.Tag) {
			e.recv.Forget(kid)
		}
		e.poke()
	}
}

func (e *e2ee) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// keyLoop runs the key schedule until the client closes: it announces new epochs, switches
// the sender to them, and erases expired receive keys.
func (e *e2ee) keyLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	expire := time.NewTicker(expireEvery)
	defer expire.Stop()
	for {
		select {
		case <-e.c.ctx.Done():
			return
		case <-timer.C:
		case <-e.wake:
		case now := <-expire.C:
			for _, kid := range e.ring.Expire(now) {
				e.recv.Forget(kid)
			}
			continue
		}
		e.mu.Lock()
		var a identity.Action
		if e.sched != nil {
			a = e.sched.Tick(time.Now())
		} else {
			a.Next = time.Now().Add(time.Hour) // inactive: woken by activate
		}
		e.mu.Unlock()
		if a.Announce != nil {
			if err := e.announce(a.Announce); err != nil {
				e.c.report(err)
			}
		}
		if a.Switch != nil {
			e.switchTo(a.Switch)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(a.Next), 0))
	}
}

// announce sends a new epoch's key in one envelope to every certified participant, keeps it
// for reading the client's own chat, and seals chat with it from now on: a chat message goes
// after the envelope on the same path, so everyone it is sealed for has the key first. (Media
// waits for the switch: its frames take another path.)
func (e *e2ee) announce(k *identity.EpochKey) error {
	e.mu.Lock()
	to := make([]identity.Recipient, 0, len(e.certs))
	for id, cert := range e.certs {
		to = append(to, identity.Recipient{ID: id, Age: cert.Age})
	}
	own := e.own
	e.mu.Unlock()
	if err := e.ring.Add(k.KID, k.BaseKey, time.Now()); err != nil {
		return fmt.Errorf("client: keep own key: %w", err)
	}
	if len(to) > 0 { // alone, there is nobody to tell
		env, err := identity.SealKeyEnvelope(e.me, e.c.cfg.Room, own.ID, k.KID, k.BaseKey, to, time.Now())
		if err != nil {
			return fmt.Errorf("client: seal key envelope: %w", err)
		}
		e.envelopes.Add(1)
		e.envelopeBytes.Add(uint64(len(env.Body) + len(env.Sig)))
		if err := e.c.send(&signal.Message{Type: signal.TypeKey, Envelope: &env}); err != nil {
			return err
		}
	}
	key, err := identity.NewSFrameKey(k.BaseKey, k.KID)
	if err != nil {
		return fmt.Errorf("client: derive own key: %w", err)
	}
	e.chat.SetKey(key)
	e.mu.Lock()
	if !e.chatKey {
		e.chatKey = true
		close(e.ready)
	}
	close(e.epochCh)
	e.epochCh = make(chan struct{})
	e.mu.Unlock()
	return nil
}

// chatEpoch returns, when someone's arrival or departure has a new epoch due, a channel
// closed once it is announced; nil otherwise.
func (e *e2ee) chatEpoch() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sched == nil || e.sched.ChangeDue().IsZero() {
		return nil
	}
	return e.epochCh
}

// switchTo makes the sender encrypt with k from now on.
func (e *e2ee) switchTo(k *identity.EpochKey) {
	key, err := identity.NewSFrameKey(k.BaseKey, k.KID)
	if err != nil {
		e.c.report(fmt.Errorf("client: derive own key: %w", err))
		return
	}
	e.sender.SetKey(key)
	e.mu.Lock()
	first := !e.hasKey
	e.current, e.hasKey = k.KID, true
	e.mu.Unlock()
	if first {
		// Frames before the first key were not sent; start video at a keyframe.
		for _, pb := range e.c.pubs {
			pb.keyframeWanted.Store(true)
		}
	}
	if hook := e.c.cfg.OnKeySwitch; hook != nil {
		hook(k.KID, time.Now())
	}
}

// receiveEnvelope opens a key envelope from another participant and keeps its key. The
// envelope's body is read once, after its signature has been checked with the certificate
// of the participant it names as sender.
func (e *e2ee) receiveEnvelope(env *identity.SignedObject) error {
	from, err := identity.EnvelopeSender(*env)
	if err != nil {
		return fmt.Errorf("client: key envelope: %w", err)
	}
	e.mu.Lock()
	cert := e.certs[from]
	myID := ""
	if e.own != nil {
		myID = e.own.ID
	}
	e.mu.Unlock()
	if cert == nil {
		return fmt.Errorf("client: key envelope from %q, who has no certificate here", from)
	}
	kid, key, err := identity.OpenKeyEnvelopeAs(*env, cert, e.me, myID, e.c.cfg.Room)
	if err != nil {
		return fmt.Errorf("client: key envelope from %s: %w", from, err)
	}
	if err := e.ring.Add(kid, key, time.Now()); err != nil {
		return fmt.Errorf("client: key from %s: %w", from, err)
	}
	return nil
}

// sendingKID is the KID the client currently encrypts with (ok false before the first key).
func (e *e2ee) sendingKID() (kid uint64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current, e.hasKey
}

// senderOf names the participant whose certificate has the tag of kid.
func (e *e2ee) senderOf(kid uint64) string {
	tag, _ := identity.SplitKID(kid)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.own != nil && e.own.Tag == tag {
		return e.own.ID
	}
	for id, c := range e.certs {
		if c.Tag == tag {
			return id
		}
	}
	return ""
}
