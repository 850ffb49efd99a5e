package media

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// Participant is one client's pair of peer connections in a room: "pub" carries what it
// publishes, "sub" what it receives (see package signal). Handle feeds it the client's
// signalling messages; the SFU answers through the participant's SendFunc.
type Participant struct {
	sfu  *SFU
	room *room
	id   string
	send SendFunc
	log  *slog.Logger

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // every goroutine working for this participant
	negKick   chan struct{}

	// opMu serialises the operations on the peer connections (signalling from the client,
	// renegotiation). It is never taken by pion callbacks, which only take mu.
	opMu     sync.Mutex
	offering bool // a sub offer awaits its answer
	dirty    bool // tracks changed while offering
	// subAnswered: the client answered a sub offer at least once.
	subAnswered bool

	mu         sync.Mutex
	closed     bool
	pub, sub   *peer
	pubSources map[string]string   // mid -> source, from the latest pub offer
	pubRIDs    map[string][]string // mid -> simulcast rids, from the latest pub offer
	published  map[string]*upTrack // mid -> track
	downs      map[*upTrack]*downTrack

	subConnected atomic.Bool
	connected    atomic.Bool // a peer connection has connected at least once
}

// peer is one of a participant's peer connections and the ICE candidates it gathered
// before its first session description went out (a client cannot use them earlier).
type peer struct {
	name string
	pc   *webrtc.PeerConnection

	mu        sync.Mutex
	described bool
	pending   []webrtc.ICECandidateInit // ours, held until described
	remoteSet bool                      // a remote description was applied
	early     []webrtc.ICECandidateInit // the client's, held until remoteSet
}

// maxEarlyCandidates bounds the client candidates held before the remote description.
const maxEarlyCandidates = 64

func newParticipant(s *SFU, r *room, id string, send SendFunc) *Participant {
	return &Participant{
		sfu: s, room: r, id: id, send: send,
		log:        r.log.With("participant", id),
		done:       make(chan struct{}),
		negKick:    make(chan struct{}, 1),
		pubSources: map[string]string{},
		pubRIDs:    map[string][]string{},
		published:  map[string]*upTrack{},
		downs:      map[*upTrack]*downTrack{},
	}
}

// start launches the participant's negotiation loop and, if others already publish, its
// first sub offer.
func (p *Participant) start() {
	p.goRun(p.negotiationLoop)
	p.goRun(p.senderReportLoop)
	p.kickNegotiation()
}

// goRun runs f in a goroutine Close waits for, unless the participant is closed.
func (p *Participant) goRun(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// Connected reports whether one of the participant's peer connections has connected.
func (p *Participant) Connected() bool { return p.connected.Load() }

// Started reports whether the participant's media has been set up, so that a connection is
// expected: it offered on pub, or the node offered it sub (which it does once there is a
// track to receive). A participant who only listens in a room where nobody publishes has
// nothing to connect.
func (p *Participant) Started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pub != nil || p.sub != nil
}

// ID returns the participant's id.
func (p *Participant) ID() string { return p.id }

func (p *Participant) sendMsg(m *signal.Message) {
	select {
	case <-p.done:
		return
	default:
	}
	p.send(m)
}

// Handle applies one message from the participant's client: offer (pc pub), answer
// (pc sub), candidate, or layer. Errors caused by the client's SDP or candidates wrap
// ErrBadSDP; the participant stays usable after any error.
func (p *Participant) Handle(m *signal.Message) error {
	if m == nil {
		return errors.New("media: nil message")
	}
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	switch m.Type {
	case signal.TypeOffer:
		if m.PC != signal.PCPub {
			return fmt.Errorf("%w: offers are accepted only on pc %q", ErrBadSDP, signal.PCPub)
		}
		return p.handlePubOffer(m.SDP, m.Tracks)
	case signal.TypeAnswer:
		if m.PC != signal.PCSub {
			return fmt.Errorf("%w: answers are accepted only on pc %q", ErrBadSDP, signal.PCSub)
		}
		return p.handleSubAnswer(m.SDP)
	case signal.TypeCandidate:
		return p.handleCandidate(m.PC, m.Candidate)
	case signal.TypeLayer:
		return p.handleLayer(m.Track, m.Quality)
	}
	return fmt.Errorf("media: message type %q is not for the SFU", m.Type)
}

func (p *Participant) handleCandidate(pcName string, c *signal.Candidate) error {
	if c == nil {
		return fmt.Errorf("%w: candidate message without candidate", ErrBadSDP)
	}
	p.mu.Lock()
	var pr *peer
	switch pcName {
	case signal.PCPub:
		pr = p.pub
	case signal.PCSub:
		pr = p.sub
	}
	p.mu.Unlock()
	if pr == nil {
		return fmt.Errorf("%w: candidate for pc %q, which has no session yet", ErrBadSDP, pcName)
	}
	if c.Candidate == "" {
		return nil // end of candidates
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment}
	pr.mu.Lock()
	if !pr.remoteSet {
		// The client's answer and its first candidates may cross: keep them for the answer.
		defer pr.mu.Unlock()
		if len(pr.early) >= maxEarlyCandidates {
			return fmt.Errorf("%w: more than %d candidates before a description on pc %q", ErrBadSDP, maxEarlyCandidates, pcName)
		}
		pr.early = append(pr.early, init)
		return nil
	}
	pr.mu.Unlock()
	if err := pr.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("%w: add candidate on pc %q: %v", ErrBadSDP, pcName, err)
	}
	return nil
}

func (p *Participant) handleLayer(trackID, quality string) error {
	layer, ok := qualityLayer(quality)
	if !ok {
		return fmt.Errorf("media: unknown quality %q", quality)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for up, d := range p.downs {
		if up.id == trackID {
			if up.video {
				d.requested.Store(int32(layer))
			}
			return nil
		}
	}
	return fmt.Errorf("media: layer for unknown track %q", trackID)
}

// newPeer creates one of the participant's peer connections, trickling its candidates to
// the client once its first description went out.
func (p *Participant) newPeer(name string) (*peer, error) {
	pc, err := p.sfu.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("media: new %s peer connection: %w", name, err)
	}
	pr := &peer{name: name, pc: pc}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		pr.mu.Lock()
		if !pr.described {
			pr.pending = append(pr.pending, init)
			pr.mu.Unlock()
			return
		}
		pr.mu.Unlock()
		p.sendCandidate(name, init)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("connection state", "pc", name, "state", st.String())
		if st == webrtc.PeerConnectionStateConnected {
			p.connected.Store(true)
		}
		if name == signal.PCSub && (st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed) {
			p.subConnected.Store(false) // nothing can reach the client: stop munging for it
		}
		if name == signal.PCSub && st == webrtc.PeerConnectionStateConnected {
			p.subConnected.Store(true)
			p.requestKeyframes()
			p.kickNegotiation() // changes held back while connecting
		}
	})
	return pr, nil
}

// described is called after the peer's session description was sent: the candidates held
// back until then go out.
func (p *Participant) described(pr *peer) {
	pr.mu.Lock()
	pending := pr.pending
	pr.pending = nil
	pr.described = true
	pr.mu.Unlock()
	for _, c := range pending {
		p.sendCandidate(pr.name, c)
	}
}

// remoteApplied is called after a remote description was applied: the client's candidates
// that arrived early are added now.
func (p *Participant) remoteApplied(pr *peer) {
	pr.mu.Lock()
	early := pr.early
	pr.early = nil
	pr.remoteSet = true
	pr.mu.Unlock()
	for _, c := range early {
		if err := pr.pc.AddICECandidate(c); err != nil {
			p.log.Debug("early candidate rejected", "pc", pr.name, "err", err)
		}
	}
}

func (p *Participant) sendCandidate(pc string, c webrtc.ICECandidateInit) {
	p.sendMsg(&signal.Message{Type: signal.TypeCandidate, PC: pc, Candidate: &signal.Candidate{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}})
}

// requestKeyframes asks every track this participant receives for a keyframe, so that its
// video starts as soon as its connection is up.
func (p *Participant) requestKeyframes() {
	now := p.sfu.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for up, d := range p.downs {
		up.requestKeyframe(selectLayer(int(d.requested.Load()), up.availMask(now)), now)
	}
}

// Close leaves the room: the participant's tracks vanish from the others (who renegotiate),
// its connections close and its goroutines end before Close returns.
func (p *Participant) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.done)
		for _, up := range p.room.remove(p) {
			up.close()
		}
		p.opMu.Lock()
		p.mu.Lock()
		downs := p.downs
		p.downs = map[*upTrack]*downTrack{}
		pub, sub := p.pub, p.sub
		p.mu.Unlock()
		for up, d := range downs {
			up.removeSub(d)
		}
		for _, pr := range []*peer{pub, sub} {
			if pr != nil {
				if err := pr.pc.Close(); err != nil {
					p.log.Debug("close peer connection", "pc", pr.name, "err", err)
				}
			}
		}
		p.opMu.Unlock()
		p.wg.Wait()
		p.sfu.participants.Add(-1)
		p.sfu.roomEmpty(p.room)
		p.log.Debug("left")
	})
	return nil
}
