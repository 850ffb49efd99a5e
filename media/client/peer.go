package client

import (
	"fmt"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// Payload types the client offers. The node may renumber them in its own offers.
const (
	ptOpus  = 111
	ptVP8   = 96
	ptVP8RX = 97
)

const maxPendingCandidates = 64

// newAPI builds the pion API shared by a client's two peer connections: VP8 (with RTX) and
// Opus only, the header extensions simulcast and speaker detection need, NACK and RTCP
// reports, and ICE on host candidates only (no STUN, no mDNS).
func newAPI(cfg Config) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBGoogREMB},
		{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBNACK},
		{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	}
	codecs := []struct {
		c    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: ptOpus}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB},
			PayloadType: ptVP8}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", ptVP8)},
			PayloadType: ptVP8RX}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.c, c.kind); err != nil {
			return nil, fmt.Errorf("client: register codec %s: %w", c.c.MimeType, err)
		}
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("client: simulcast header extensions: %w", err)
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("client: audio level header extension: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("client: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("client: rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	types := cfg.NetworkTypes
	if len(types) == 0 {
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	}
	se.SetNetworkTypes(types)
	if f := cfg.IPFilter; f != nil {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() || f(ip) })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

// peer is one of the client's two peer connections with its trickle-ICE bookkeeping: local
// candidates wait until the description they belong to has been queued for the node, and the
// node's candidates wait until its description has been applied.
type peer struct {
	c    *Client
	name string // signal.PCPub or signal.PCSub
	pc   *webrtc.PeerConnection

	connected     chan struct{} // closed when the peer connection first connects
	connectedOnce sync.Once

	mu            sync.Mutex
	descSent      bool
	pendingLocal  []signal.Candidate
	remoteSet     bool
	pendingRemote []webrtc.ICECandidateInit
}

func (c *Client) newPeer(name string) (*peer, error) {
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("client: new %s peer connection: %w", name, err)
	}
	p := &peer{c: c, name: name, pc: pc, connected: make(chan struct{})}
	log := c.log.With("pc", name)
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return // gathering complete; the node needs no end-of-candidates
		}
		init := cand.ToJSON()
		p.localCandidate(signal.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid,
			SDPMLineIndex: init.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("peer connection state", "state", s.String())
		if s == webrtc.PeerConnectionStateConnected {
			p.connectedOnce.Do(func() { close(p.connected) })
		}
		if s == webrtc.PeerConnectionStateFailed {
			c.report(fmt.Errorf("client: %s peer connection failed", name))
		}
	})
	return p, nil
}

func (p *peer) localCandidate(cand signal.Candidate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.descSent {
		if len(p.pendingLocal) < maxPendingCandidates {
			p.pendingLocal = append(p.pendingLocal, cand)
		}
		return
	}
	if err := p.c.send(&signal.Message{Type: signal.TypeCandidate, PC: p.name, Candidate: &cand}); err != nil {
		p.c.log.Debug("send candidate", "pc", p.name, "err", err)
	}
}

// sendDescription queues an offer or answer, then the candidates gathered before it.
func (p *peer) sendDescription(m *signal.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.c.send(m); err != nil {
		return fmt.Errorf("client: send %s on pc %s: %w", m.Type, p.name, err)
	}
	p.descSent = true
	for i := range p.pendingLocal {
		cand := p.pendingLocal[i]
		if err := p.c.send(&signal.Message{Type: signal.TypeCandidate, PC: p.name, Candidate: &cand}); err != nil {
			return fmt.Errorf("client: send candidate on pc %s: %w", p.name, err)
		}
	}
	p.pendingLocal = nil
	return nil
}

// setRemote applies the node's description, then any candidates that arrived before it.
func (p *peer) setRemote(desc webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("client: apply node's %s on pc %s: %w", desc.Type, p.name, err)
	}
	p.mu.Lock()
	p.remoteSet = true
	pending := p.pendingRemote
	p.pendingRemote = nil
	p.mu.Unlock()
	for _, cand := range pending {
		if err := p.pc.AddICECandidate(cand); err != nil {
			return fmt.Errorf("client: add node's candidate on pc %s: %w", p.name, err)
		}
	}
	return nil
}

func (p *peer) addRemoteCandidate(cand *signal.Candidate) error {
	if cand.Candidate == "" {
		return nil // end of candidates
	}
	init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid,
		SDPMLineIndex: cand.SDPMLineIndex}
	p.mu.Lock()
	if !p.remoteSet {
		defer p.mu.Unlock()
		if len(p.pendingRemote) >= maxPendingCandidates {
			return fmt.Errorf("client: over %d candidates on pc %s before its description",
				maxPendingCandidates, p.name)
		}
		p.pendingRemote = append(p.pendingRemote, init)
		return nil
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("client: add node's candidate on pc %s: %w", p.name, err)
	}
	return nil
}

func webrtcAnswer(s string) webrtc.SessionDescription {
	return webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s}
}
