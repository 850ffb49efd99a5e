package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley/media"
	"parley/media/signal"
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
//	go_*, process_*                              the Go runtime and the process
type metrics struct {
	reg         *prometheus.Registry
	sigErrors   *prometheus.CounterVec
	wsSessions  prometheus.Counter
	chatMessage prometheus.Counter
	envelopes   prometheus.Counter
	envBytes    prometheus.Counter
}

// statsSource is what metrics read at scrape time.
type statsSource interface {
	sfuStats() media.Stats
	activeRooms() int
	storedRooms() int
	lobbyWaiting() int
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
	}
	// Every code is a series from the start, so a scrape sees zeros before the first error.
	for _, code := range []string{signal.CodeBadMessage, signal.CodeNotJoined, signal.CodeUnknownRoom,
		signal.CodeBadSDP, signal.CodeRoomFull, signal.CodeInternal, signal.CodeBadKeys, signal.CodeNotAllowed,
		codeRateLimited, codeBadOrigin} {
		m.sigErrors.WithLabelValues(code)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		m.sigErrors, m.wsSessions, m.chatMessage, m.envelopes, m.envBytes,
		gauge("parley_lobby_waiting", "People waiting in room lobbies.",
			func() float64 { return float64(src.lobbyWaiting()) }),
		gauge("parley_participants", "Participants connected to the SFU.",
			func() float64 { return float64(src.sfuStats().Participants) }),
		gauge("parley_rooms", "Rooms with at least one participant.",
			func() float64 { return float64(src.activeRooms()) }),
		gauge("parley_rooms_stored", "Rooms in the node's store.",
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
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) signallingError(code string) { m.sigErrors.WithLabelValues(code).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}
