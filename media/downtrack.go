package media

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// downTrack is one published track as one subscriber receives it: a webrtc.TrackLocal
// bound to the subscriber's "sub" connection. Whatever layer it forwards, the subscriber
// sees one SSRC with continuous sequence numbers and timestamps.
type downTrack struct {
	up  *upTrack
	sub *Participant

	requested atomic.Int32 // highest layer the subscriber asked for

	mu      sync.Mutex // guards the fields below; never held across a write
	mg      munger
	ring    *seqRing // video only
	writer  webrtc.TrackLocalWriter
	ssrc    uint32
	pt      uint8
	bound   bool
	packets uint32 // sent, for sender reports
	octets  uint32

	sender *webrtc.RTPSender // set by the negotiation loop after AddTrack
	mid    string

	// Per-layer scratch owned by that layer's forwarding goroutine, so that writing needs no
	// allocation and no lock.
	hdr     [maxLayers]rtp.Header
	scratch [maxLayers][]byte
	// Owned by the RTCP goroutine (retransmissions).
	rtxHdr rtp.Header
	rtxBuf []byte
}

func newDownTrack(up *upTrack, sub *Participant) *downTrack {
	d := &downTrack{up: up, sub: sub}
	d.requested.Store(layerHigh)
	if up.video {
		d.ring = &seqRing{}
		for i := range d.scratch {
			d.scratch[i] = make([]byte, maxPayload+64)
		}
		d.rtxBuf = make([]byte, maxPayload+64)
	}
	return d
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal: the subscriber sees the
// publisher's participant id as the stream and the SFU's track id as the track.
func (d *downTrack) ID() string                { return d.up.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.up.ownerID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.up.kind }

// Bind implements webrtc.TrackLocal: it is called once the subscriber's answer fixed the
// codec, and gives the track its SSRC and writer.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.up.codec.MimeType) {
			d.mu.Lock()
			d.writer = ctx.WriteStream()
			d.ssrc = uint32(ctx.SSRC())
			d.pt = uint8(c.PayloadType)
			d.bound = true
			d.mu.Unlock()
			if d.sub.subConnected.Load() {
				// A track added by renegotiation: its first frame must be a keyframe. (On a new
				// connection the request waits until the connection is up.)
				now := d.up.sfu.now()
				d.up.requestKeyframe(selectLayer(int(d.requested.Load()), d.up.availMask(now)), now)
			}
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.writer = nil
	d.mu.Unlock()
	return nil
}

// forward munges and writes one packet received on layer l; it returns the bytes written
// (0 if the packet was not for this subscriber). idx is the packet's index in l's cache.
func (d *downTrack) forward(l *upLayer, p *rtpPacket, idx uint64, avail uint8, now int64) int {
	up := d.up
	target := 0
	isKey := true
	if up.video {
		target = selectLayer(int(d.requested.Load()), avail)
		isKey = p.vp8.keyframe
	}
	if !d.sub.subConnected.Load() {
		return 0
	}
	d.mu.Lock()
	if !d.bound {
		d.mu.Unlock()
		return 0
	}
	v, m := d.mg.process(p, l.idx, target, isKey, up.video, up.clock, now)
	if v == drop || v == dropWantKey {
		d.mu.Unlock()
		if v == dropWantKey {
			up.requestKeyframe(target, now)
		}
		return 0
	}
	if d.ring != nil {
		d.ring.add(seqEntry{outSeq: m.seq, inSeq: p.seq, layer: uint8(l.idx), tl0Off: m.tl0Off, pidOff: m.pidOff, idx: idx, outTS: m.ts})
	}
	d.packets++
	d.octets += uint32(len(p.payload))
	w, ssrc, pt := d.writer, d.ssrc, d.pt
	d.mu.Unlock()
	if v == forwardWantKey {
		up.requestKeyframe(target, now)
	}

	payload := p.payload
	if up.video && (m.pidOff != 0 || m.tl0Off != 0) {
		payload = rewriteVP8(d.scratch[l.idx], payload, &p.vp8, m.pidOff, m.tl0Off)
	}
	h := &d.hdr[l.idx]
	h.Version = 2
	h.Marker = p.marker
	h.PayloadType = pt
	h.SequenceNumber = m.seq
	h.Timestamp = m.ts
	h.SSRC = ssrc
	if _, err := w.WriteRTP(h, payload); err != nil {
		return 0
	}
	return 12 + len(payload)
}

// readRTCP serves the subscriber's RTCP for this track: NACKs are answered from the cache,
// PLI and FIR are relayed to the publisher.
func (d *downTrack) readRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.TransportLayerNack:
				for i := range pkt.Nacks {
					pkt.Nacks[i].Range(func(seq uint16) bool {
						d.retransmit(seq)
						return true
					})
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.mu.Lock()
				layer := d.mg.layer
				started := d.mg.started
				d.mu.Unlock()
				if !started {
					layer = selectLayer(int(d.requested.Load()), d.up.availMask(d.up.sfu.now()))
				}
				d.up.requestKeyframe(layer, d.up.sfu.now())
			}
		}
	}
}

// retransmit resends the packet this subscriber was sent with sequence number seq, if the
// cache still has it. For a track of another node, a packet the cache no longer has is asked
// again from that node; it then reaches the subscriber like any other packet.
func (d *downTrack) retransmit(seq uint16) {
	if d.ring == nil {
		return
	}
	d.mu.Lock()
	e, ok := d.ring.lookup(seq)
	w, ssrc, pt, bound := d.writer, d.ssrc, d.pt, d.bound
	d.mu.Unlock()
	if !ok || !bound {
		return
	}
	l := d.up.layers[e.layer].Load()
	if l == nil || l.cache == nil {
		return
	}
	n, _, marker, ok := l.cache.get(e.idx, d.rtxBuf)
	if !ok {
		if r := d.up.remote; r != nil {
			r.nack(int(e.layer), e.inSeq)
		}
		return
	}
	payload := d.rtxBuf[:n]
	if e.pidOff != 0 || e.tl0Off != 0 {
		var desc vp8Desc
		if parseVP8(payload, &desc) == nil {
			payload = rewriteVP8(payload, payload, &desc, e.pidOff, e.tl0Off)
		}
	}
	h := &d.rtxHdr
	*h = rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: seq, Timestamp: e.outTS, SSRC: ssrc}
	if _, err := w.WriteRTP(h, payload); err == nil {
		d.up.sfu.nacksAnswered.Add(1)
	}
}

// senderReport describes what this track sent, for the RTCP sender report that lets the
// subscriber synchronise audio and video. The RTP time is extrapolated from the last packet
// sent to the report's wall-clock time.
func (d *downTrack) senderReport(wall time.Time, now int64) (*rtcp.SenderReport, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound || d.packets == 0 {
		return nil, false
	}
	elapsed := now - d.mg.lastNanos
	if elapsed < 0 {
		elapsed = 0
	}
	rtpTime := d.mg.lastTS + uint32(uint64(elapsed)*uint64(d.up.clock)/1e9)
	return &rtcp.SenderReport{
		SSRC:        d.ssrc,
		NTPTime:     ntpTime(wall),
		RTPTime:     rtpTime,
		PacketCount: d.packets,
		OctetCount:  d.octets,
	}, true
}

// ntpTime converts wall-clock time to the 64-bit NTP format (seconds since 1900, 32.32).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	ns := uint64(t.UnixNano())
	sec := ns/1e9 + ntpEpochOffset
	frac := (ns % 1e9) << 32 / 1e9
	return sec<<32 | frac
}
