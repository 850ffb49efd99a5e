package media

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"parley/media/signal"
)

// maxRIDs bounds the simulcast rids read from one media section.
const maxRIDs = maxLayers

// sendingMids parses an offer and returns the mids of its audio and video sections that send
// media to the SFU, each with the simulcast rids it sends ("a=rid:<rid> send", at most
// maxRIDs; none without simulcast). It reads sections by the rules of JSEP (RFC 9429) and
// BUNDLE (RFC 8843):
//
//   - a section sends if its direction is sendrecv (the default) or sendonly;
//   - port 0 rejects a section, unless it carries a=bundle-only and its mid is in the offer's
//     BUNDLE group: then it shares the transport of the group's first section (Firefox offers
//     every section but the first so under max-bundle; Chromium gives them port 9);
//   - every audio and video section has a mid, unique in the offer.
func sendingMids(offer string) (map[string][]string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	bundled := map[string]bool{}
	for _, a := range sd.Attributes {
		if f := strings.Fields(a.Value); a.Key == "group" && len(f) > 0 && f[0] == "BUNDLE" {
			for _, mid := range f[1:] {
				bundled[mid] = true
			}
		}
	}
	mids := map[string][]string{}
	seen := map[string]bool{}
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		mid, ok := md.Attribute("mid")
		if !ok || mid == "" {
			return nil, fmt.Errorf("%w: %s section without a mid", ErrBadSDP, kind)
		}
		if seen[mid] {
			return nil, fmt.Errorf("%w: mid %q appears twice", ErrBadSDP, mid)
		}
		seen[mid] = true
		_, bundleOnly := md.Attribute("bundle-only")
		if md.MediaName.Port.Value == 0 && !(bundleOnly && bundled[mid]) {
			continue // rejected
		}
		_, recvonly := md.Attribute("recvonly")
		_, inactive := md.Attribute("inactive")
		if recvonly || inactive {
			continue
		}
		rids := []string{}
		for _, a := range md.Attributes {
			if a.Key != "rid" || len(rids) >= maxRIDs {
				continue
			}
			if f := strings.Fields(a.Value); len(f) >= 2 && f[1] == "send" && !slices.Contains(rids, f[0]) {
				rids = append(rids, f[0])
			}
		}
		mids[mid] = rids
	}
	return mids, nil
}

// handlePubOffer answers an offer on the participant's "pub" connection. Tracks the offer no
// longer sends are unpublished.
func (p *Participant) handlePubOffer(offer string, tracks map[string]signal.Track) error {
	mids, err := sendingMids(offer)
	if err != nil {
		return err
	}
	for mid := range mids {
		if _, ok := tracks[mid]; !ok {
			return fmt.Errorf("%w: mid %q sends media but has no entry in tracks", ErrBadSDP, mid)
		}
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	pr := p.pub
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if pr == nil {
		if pr, err = p.newPeer(signal.PCPub); err != nil {
			return err
		}
		pc := pr.pc
		pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) { p.onTrack(pc, t, r) })
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = pc.Close()
			return ErrClosed
		}
		p.pub = pr
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.pubSources = map[string]string{}
	p.pubRIDs = map[string][]string{}
	for mid, t := range tracks {
		if rids, ok := mids[mid]; ok {
			p.pubSources[mid] = t.Source
			p.pubRIDs[mid] = rids
		}
	}
	var gone []*upTrack
	for mid, up := range p.published {
		if _, ok := mids[mid]; !ok || p.pubSources[mid] != up.source {
			gone = append(gone, up)
			delete(p.published, mid)
		}
	}
	p.mu.Unlock()
	for _, up := range gone {
		p.room.unpublish(up)
	}

	if err := pr.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("%w: set pub offer: %v", ErrBadSDP, err)
	}
	p.remoteApplied(pr)
	answer, err := pr.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("%w: answer pub offer: %v", ErrBadSDP, err)
	}
	if err := pr.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("media: set pub answer: %w", err)
	}
	p.sendMsg(&signal.Message{Type: signal.TypeAnswer, PC: signal.PCPub, SDP: pr.pc.LocalDescription().SDP})
	p.described(pr)
	return nil
}

// onTrack is pion's callback for each received stream (each simulcast layer separately).
func (p *Participant) onTrack(pc *webrtc.PeerConnection, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == r {
			mid = tr.Mid()
			break
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	source, ok := p.pubSources[mid]
	up := p.published[mid]
	fresh := false
	if ok && up == nil {
		up = newUpTrack(p, mid, source, p.pubRIDs[mid], t)
		p.published[mid] = up
		fresh = true
	}
	p.mu.Unlock()
	if !ok {
		p.log.Warn("track on a mid without a source", "mid", mid, "rid", t.RID())
		return
	}
	l := up.addLayer(t, r)
	if l == nil {
		p.log.Warn("extra simulcast layer ignored", "mid", mid, "rid", t.RID())
		return
	}
	p.log.Debug("receiving", "track", up.id, "mid", mid, "kind", t.Kind().String(), "rid", t.RID(), "layer", l.idx)
	p.goRun(l.run)
	p.goRun(l.readRTCP)
	if fresh {
		p.goRun(func() { up.rtcpWriter(pc) })
		p.room.publish(up)
	}
}

// kickNegotiation asks the negotiation loop to bring the sub connection up to date.
func (p *Participant) kickNegotiation() {
	select {
	case p.negKick <- struct{}{}:
	default:
	}
}

// negotiationDelay lets changes that come together (a publisher's microphone and camera
// arrive milliseconds apart) go out in one offer.
const negotiationDelay = 30 * time.Millisecond

func (p *Participant) negotiationLoop() {
	t := time.NewTimer(negotiationDelay)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.negKick:
		}
		t.Reset(negotiationDelay)
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		select {
		case <-p.negKick:
		default:
		}
		if err := p.syncSub(); err != nil {
			p.log.Warn("renegotiation failed", "err", err)
		}
	}
}

// syncSub adds and removes the sub connection's tracks to match the room, and offers the
// result, unless an offer is already outstanding: then the change waits for its answer.
func (p *Participant) syncSub() error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil
	}
	if p.offering || (p.subAnswered && !p.subConnected.Load()) {
		// One offer at a time; and none while the connection is still being established
		// (a client's ICE agent may not yet hold the credentials of the first exchange, and
		// take a re-offer for an ICE restart). The connection coming up kicks the loop.
		p.dirty = true
		return nil
	}
	want := p.room.tracksFor(p)
	wanted := make(map[*upTrack]bool, len(want))
	for _, up := range want {
		wanted[up] = true
	}
	p.mu.Lock()
	pr := p.sub
	var remove []*downTrack
	for up, d := range p.downs {
		if !wanted[up] {
			remove = append(remove, d)
			delete(p.downs, up)
		}
	}
	var add []*upTrack
	for _, up := range want {
		if p.downs[up] == nil {
			add = append(add, up)
		}
	}
	p.mu.Unlock()
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	if pr == nil {
		var err error
		if pr, err = p.newPeer(signal.PCSub); err != nil {
			return err
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = pr.pc.Close()
			return nil
		}
		p.sub = pr
		p.mu.Unlock()
	}
	for _, d := range remove {
		d.up.removeSub(d)
		if d.sender != nil {
			if err := pr.pc.RemoveTrack(d.sender); err != nil {
				p.log.Debug("remove track", "track", d.up.id, "err", err)
			}
		}
	}
	for _, up := range add {
		d := newDownTrack(up, p)
		sender, err := pr.pc.AddTrack(d)
		if err != nil {
			return fmt.Errorf("media: add track %s: %w", up.id, err)
		}
		d.sender = sender
		p.mu.Lock()
		p.downs[up] = d
		p.mu.Unlock()
		up.addSub(d)
		p.goRun(func() { d.readRTCP(sender) })
	}
	return p.offerSub(pr)
}

// offerSub sends an offer for the sub connection with the mid -> track map.
func (p *Participant) offerSub(pr *peer) error {
	offer, err := pr.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("media: create sub offer: %w", err)
	}
	if err := pr.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("media: set sub offer: %w", err)
	}
	tracks := map[string]signal.Track{}
	for _, tr := range pr.pc.GetTransceivers() {
		s := tr.Sender()
		if s == nil {
			continue
		}
		d, ok := s.Track().(*downTrack)
		if !ok || d == nil {
			continue
		}
		kind := "audio"
		if d.up.video {
			kind = "video"
		}
		tracks[tr.Mid()] = signal.Track{ID: d.up.id, Participant: d.up.ownerID, Kind: kind, Source: d.up.source}
	}
	p.offering = true
	p.sendMsg(&signal.Message{Type: signal.TypeOffer, PC: signal.PCSub, SDP: pr.pc.LocalDescription().SDP, Tracks: tracks})
	p.described(pr)
	return nil
}

// handleSubAnswer applies the client's answer to the outstanding sub offer, then offers
// again if tracks changed meanwhile.
func (p *Participant) handleSubAnswer(answer string) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	pr := p.sub
	p.mu.Unlock()
	if pr == nil || !p.offering {
		return fmt.Errorf("%w: answer on pc %q without an outstanding offer", ErrBadSDP, signal.PCSub)
	}
	err := pr.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	if err != nil {
		// Go back to stable so that the next change can offer again.
		if rbErr := pr.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); rbErr != nil {
			p.log.Debug("rollback sub offer", "err", rbErr)
		}
		p.offering = false
		return fmt.Errorf("%w: set sub answer: %v", ErrBadSDP, err)
	}
	p.offering = false
	p.subAnswered = true
	p.remoteApplied(pr)
	if p.dirty {
		p.dirty = false
		p.kickNegotiation()
	}
	return nil
}

// senderReportLoop sends RTCP sender reports for every track the participant receives, so
// that its client can synchronise audio with video.
func (p *Participant) senderReportLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.mu.Lock()
		pr := p.sub
		downs := make([]*downTrack, 0, len(p.downs))
		for _, d := range p.downs {
			downs = append(downs, d)
		}
		p.mu.Unlock()
		if pr == nil || !p.subConnected.Load() {
			continue
		}
		wall, now := time.Now(), p.sfu.now()
		var pkts []rtcp.Packet
		for _, d := range downs {
			if sr, ok := d.senderReport(wall, now); ok {
				pkts = append(pkts, sr)
			}
		}
		if len(pkts) > 0 {
			if err := pr.pc.WriteRTCP(pkts); err != nil {
				p.log.Debug("sender reports", "err", err)
			}
		}
	}
}
