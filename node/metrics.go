package node

import (
	"math/bits"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley/media"
	"parley/media/cascade"
	"parley/media/signal"
	"parley/node/meeting"
)

// metrics are one node's Prometheus metrics, on a registry of its own (never the global
// default) so that several nodes can run in one process. Exposed at /metrics:
//
//	parley_participants                 gauge    participants connected to the SFU
//	parley_rooms                        gauge    rooms with at least one participant
//	parley_rooms_stored                 gauge    rooms in the store
//	parley_tracks                       gauge    published tracks
//	parley_forwarded_packets_total      counter  RTP packets forwarded to subscribers
//	parley_forwarded_bytes_total        counter  RTP bytes forwarded to subscribers
//	parley_nacks_answered_total         counter  packets retransmitted on NACK
//	parley_keyframe_requests_total      counter  PLI/FIR sent to publishers
//	parley_signalling_errors_total{code} counter error messages sent to clients, by code
//	parley_ws_sessions_total            counter  signalling WebSockets accepted
//	parley_chat_messages_total          counter  chat messages stored
//	parley_key_envelopes_total          counter  key envelopes relayed to participants
//	parley_key_envelope_bytes_total     counter  bytes of key envelopes relayed (one per recipient)
//	parley_lobby_waiting                gauge    people waiting in lobbies
//	parley_transcribers_linked          gauge    transcribers on other machines linked
//	parley_meeting_refusals_total{reason}    counter  joins and participant messages refused
//	                                                   (room_full, lobby_full, rate_limited,
//	                                                   duplicate_key, bad_keys, not_allowed,
//	                                                   too_many_sessions, room_busy, ...)
//	parley_meeting_disconnects_total{reason} counter  participants the node disconnected
//	                                                   (slow, flood, media_timeout,
//	                                                   lobby_timeout, removed, no_join,
//	                                                   ping_timeout, bad_messages, ...)
//	parley_signalling_dropped_total{type}    counter  messages dropped for a full queue
//	parley_caption_casts_total{result}       counter  captions for other nodes: sent, dropped, failed
//	                                                   (speakers: the next one replaces it)
//	parley_remote_tracks                gauge    other nodes' tracks forwarded here over the cascade
//	go_*, process_*                              the Go runtime and the process
//
// and one series per cascade link (label peer: the peer's short node ID; peer_name: its node
// name; direction: "in" from the peer, "out" to it), see cascadeCollector:
//
//	parley_cascade_link_up{peer,peer_name}                       gauge    1 while connected
//	parley_cascade_connects_total{peer,peer_name}                counter  connections established
//	parley_cascade_rtt_seconds{peer,peer_name}                   gauge    smoothed round-trip time
//	parley_cascade_capacity_bits_per_second{peer,peer_name}      gauge    estimated capacity from the peer
//	parley_cascade_bytes_total{peer,peer_name,direction}         counter  media datagram bytes
//	parley_cascade_datagrams_total{peer,peer_name,direction}     counter  media datagrams
//	parley_cascade_lost_total{peer,peer_name,direction}          counter  datagrams lost on the link
//	parley_cascade_loss_ratio{peer,peer_name,direction}          gauge    loss over the last interval
//	parley_cascade_dropped_total{peer,peer_name,direction}       counter  datagrams dropped before sending
//	parley_cascade_retransmits_total{peer,peer_name,direction}   counter  packets resent on NACK
//	parley_cascade_keyframe_requests_total{peer,peer_name,direction} counter keyframe requests
//	parley_cascade_tracks{peer,peer_name,direction}              gauge    subscribed tracks
//	parley_cascade_layers{peer,peer_name,direction}              gauge    subscribed (track, layer) pairs
type metrics struct {
	reg         *prometheus.Registry
	sigErrors   *prometheus.CounterVec
	wsSessions  prometheus.Counter
	chatMessage prometheus.Counter
	envelopes   prometheus.Counter
	envBytes    prometheus.Counter
	refusals    *prometheus.CounterVec
	disconnects *prometheus.CounterVec
	drops       *prometheus.CounterVec
	casts       *prometheus.CounterVec
}

// statsSource is what metrics read at scrape time.
type statsSource interface {
	sfuStats() media.Stats
	activeRooms() int
	storedRooms() int
	lobbyWaiting() int
	cascadeLinks() []linkMetrics
	transcribersLinked() int
}

func newMetrics(src statsSource) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		sigErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_signalling_errors_total",
			Help: "Signalling error messages sent to clients (malformed or oversized messages, unknown rooms, bad SDP, ...), by error code.",
		}, []string{"code"}),
		wsSessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_ws_sessions_total", Help: "Signalling WebSocket sessions accepted.",
		}),
		chatMessage: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_chat_messages_total", Help: "Chat messages stored and broadcast.",
		}),
		envelopes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_key_envelopes_total", Help: "End-to-end key envelopes relayed, counted once per recipient.",
		}),
		envBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_key_envelope_bytes_total", Help: "Bytes of end-to-end key envelopes relayed, counted once per recipient.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_meeting_refusals_total",
			Help: "Joins and participant messages refused (room or lobby full, over a rate limit, repeated or oversized key envelopes, ...), by reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_meeting_disconnects_total",
			Help: "Participants the node disconnected (too slow, flooding, media not connected in time, lobby wait over, removed, ...), by reason.",
		}, []string{"reason"}),
		casts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_caption_casts_total",
			Help: "Captions of this node's transcriber for the room's other nodes: sent, dropped (the queue was full) or failed (the room refused this node), by result.",
		}, []string{"result"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_signalling_dropped_total",
			Help: "Signalling messages dropped because a client's queue was full (only those a later one replaces), by type.",
		}, []string{"type"}),
	}
	for _, r := range []string{signal.CodeRoomFull, meeting.CodeLobbyFull, signal.CodeRateLimited, meeting.CodeDuplicateKey,
		signal.CodeBadKeys, signal.CodeNotAllowed, codeTooManySessions} {
		m.refusals.WithLabelValues(r)
	}
	for _, r := range []string{"slow", meeting.CodeFlood, meeting.CodeMediaTimeout, meeting.CodeLobbyTimeout, signal.CodeRemoved, signal.CodeRoomDeleted} {
		m.disconnects.WithLabelValues(r)
	}
	m.drops.WithLabelValues(signal.TypeSpeakers)
	for _, r := range []string{"sent", "dropped", "failed"} {
		m.casts.WithLabelValues(r)
	}
	// Every code is a series from the start, so a scrape sees zeros before the first error.
	for _, code := range []string{signal.CodeBadMessage, signal.CodeNotJoined, signal.CodeUnknownRoom,
		signal.CodeBadSDP, signal.CodeRoomFull, signal.CodeInternal, signal.CodeBadKeys, signal.CodeNotAllowed,
		signal.CodeRateLimited, codeBadOrigin, meeting.CodeLobbyFull, meeting.CodeLobbyTimeout, meeting.CodeMediaTimeout,
		meeting.CodeDuplicateKey, meeting.CodeFlood} {
		m.sigErrors.WithLabelValues(code)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		m.sigErrors, m.wsSessions, m.chatMessage, m.envelopes, m.envBytes, m.refusals, m.disconnects, m.drops, m.casts,
		gauge("parley_transcribers_linked", "Transcribers on other machines linked to this node.",
			func() float64 { return float64(src.transcribersLinked()) }),
		gauge("parley_lobby_waiting", "People waiting in room lobbies.",
			func() float64 { return float64(src.lobbyWaiting()) }),
		gauge("parley_participants", "Participants connected to the SFU.",
			func() float64 { return float64(src.sfuStats().Participants) }),
		gauge("parley_rooms", "Rooms with at least one participant.",
			func() float64 { return float64(src.activeRooms()) }),
		gauge("parley_rooms_stored", "Rooms this node owns (in the federation's directory).",
			func() float64 { return float64(src.storedRooms()) }),
		gauge("parley_tracks", "Published tracks (a simulcast camera counts once).",
			func() float64 { return float64(src.sfuStats().Tracks) }),
		counter("parley_forwarded_packets_total", "RTP packets forwarded to subscribers.",
			func() float64 { return float64(src.sfuStats().ForwardedPackets) }),
		counter("parley_forwarded_bytes_total", "RTP bytes (header and payload) forwarded to subscribers.",
			func() float64 { return float64(src.sfuStats().ForwardedBytes) }),
		counter("parley_nacks_answered_total", "Packets retransmitted from the cache on NACK.",
			func() float64 { return float64(src.sfuStats().NACKsAnswered) }),
		counter("parley_keyframe_requests_total", "Keyframe requests (PLI/FIR) sent to publishers.",
			func() float64 { return float64(src.sfuStats().KeyframeRequests) }),
		gauge("parley_remote_tracks", "Tracks of other nodes' participants forwarded here over the cascade.",
			func() float64 { return float64(src.sfuStats().RemoteTracks) }),
		newCascadeCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// cascadeCollector exports every cascade link's statistics at scrape time.
type cascadeCollector struct {
	src                                   statsSource
	up, connects, rtt, capacity           *prometheus.Desc
	bytes, datagrams, lost, loss, dropped *prometheus.Desc
	retransmits, keyframes, tracks        *prometheus.Desc
	layers                                *prometheus.Desc
}

func newCascadeCollector(src statsSource) *cascadeCollector {
	link := []string{"peer", "peer_name"}
	dir := []string{"peer", "peer_name", "direction"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("parley_cascade_"+name, help, labels, nil)
	}
	return &cascadeCollector{
		src:         src,
		up:          d("link_up", "1 while the cascade link to the peer is connected.", link),
		connects:    d("connects_total", "Cascade connections established with the peer.", link),
		rtt:         d("rtt_seconds", "Smoothed round-trip time of the cascade link.", link),
		capacity:    d("capacity_bits_per_second", "Estimated capacity of the link from the peer to this node.", link),
		bytes:       d("bytes_total", "Media datagram bytes (RTP and cascade header) on the link.", dir),
		datagrams:   d("datagrams_total", "Media datagrams on the link.", dir),
		lost:        d("lost_total", "Datagrams lost on the link (out: as the peer reports).", dir),
		loss:        d("loss_ratio", "Fraction of datagrams lost over the last statistics interval.", dir),
		dropped:     d("dropped_total", "Datagrams dropped before sending (queue full or late).", dir),
		retransmits: d("retransmits_total", "Packets resent in answer to NACKs.", dir),
		keyframes:   d("keyframe_requests_total", "Keyframe requests (in: sent to the peer; out: received from it).", dir),
		tracks:      d("tracks", "Tracks subscribed on the link (in: from the peer; out: to it).", dir),
		layers:      d("layers", "Subscribed (track, simulcast layer) pairs on the link: one copy crosses for each.", dir),
	}
}

func (c *cascadeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.connects, c.rtt, c.capacity, c.bytes, c.datagrams, c.lost,
		c.loss, c.dropped, c.retransmits, c.keyframes, c.tracks, c.layers} {
		ch <- d
	}
}

func (c *cascadeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.src.cascadeLinks() {
		st := l.st
		g := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{st.PeerID, l.name}, labels...)...)
		}
		n := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{st.PeerID, l.name}, labels...)...)
		}
		up := 0.0
		if st.Connected {
			up = 1
		}
		g(c.up, up)
		n(c.connects, st.Connects)
		g(c.rtt, st.RTT.Seconds())
		g(c.capacity, st.CapacityIn)
		for _, x := range []struct {
			dir string
			d   cascade.DirectionStats
			ts  []cascade.TrackStats
		}{{"in", st.In, st.Inbound}, {"out", st.Out, st.Outbound}} {
			n(c.bytes, x.d.Bytes, x.dir)
			n(c.datagrams, x.d.Datagrams, x.dir)
			n(c.lost, x.d.Lost, x.dir)
			g(c.loss, x.d.Loss, x.dir)
			n(c.dropped, x.d.Dropped, x.dir)
			n(c.retransmits, x.d.Retransmits, x.dir)
			n(c.keyframes, x.d.Keyframes, x.dir)
			g(c.tracks, float64(len(x.ts)), x.dir)
			layers := 0
			for _, t := range x.ts {
				layers += bits.OnesCount8(uint8(t.Layers))
			}
			g(c.layers, float64(layers), x.dir)
		}
	}
}

func (m *metrics) signallingError(code string) { m.sigErrors.WithLabelValues(code).Inc() }
func (m *metrics) refused(reason string)       { m.refusals.WithLabelValues(reason).Inc() }
func (m *metrics) disconnected(reason string)  { m.disconnects.WithLabelValues(reason).Inc() }
func (m *metrics) dropped(typ string)          { m.drops.WithLabelValues(typ).Inc() }

// meetingMetrics is what the meetings count, into the node's metrics.
type meetingMetrics struct{ m *metrics }

func (x meetingMetrics) Refused(reason string)      { x.m.refused(reason) }
func (x meetingMetrics) Disconnected(reason string) { x.m.disconnected(reason) }
func (x meetingMetrics) Relayed(envelopes, bytes int) {
	x.m.envelopes.Add(float64(envelopes))
	x.m.envBytes.Add(float64(bytes))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}
