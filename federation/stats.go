package federation

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Reason says why an inbound message was refused. The values are stable: they are the
// "reason" label of parley_federation_rejects_total.
type Reason string

// Reasons for refusing an inbound message, in the order the checks run.
const (
	ReasonOversize     Reason = "oversize"      // larger than its limit
	ReasonMalformed    Reason = "malformed"     // not strict canonical JSON, unknown version or kind, a field out of bounds
	ReasonUnsigned     Reason = "unsigned"      // no signature
	ReasonBadSignature Reason = "bad_signature" // the signature does not verify with the origin's key, or the body names another origin
	ReasonNotOrigin    Reason = "not_origin"    // gossip published by a node other than the record's origin
	ReasonNotFederated Reason = "not_federated" // the origin is not a federated peer
	ReasonRemoved      Reason = "removed"       // the origin was removed from the federation
	ReasonWrongTopic   Reason = "wrong_topic"   // a kind or room that does not belong where it arrived
	ReasonUnknownRoom  Reason = "unknown_room"  // a room the directory does not hold
	ReasonNotMember    Reason = "not_member"    // the origin may not take part in the room
	ReasonDeletedRoom  Reason = "deleted_room"  // a state record or log entry of a room its owner deleted
	ReasonReplay       Reason = "replay"        // an older version than the one held, or a version or seq held with other content
	ReasonWindow       Reason = "window"        // a seq too far beyond the held ones; fetched in order later
	ReasonStale        Reason = "stale"         // a cast further than CastFresh from this node's clock
)

// reasons lists every Reason (a constant table, never changed).
var reasons = [...]Reason{
	ReasonOversize, ReasonMalformed, ReasonUnsigned, ReasonBadSignature, ReasonNotOrigin, ReasonNotFederated,
	ReasonRemoved, ReasonWrongTopic, ReasonUnknownRoom, ReasonNotMember, ReasonDeletedRoom, ReasonReplay, ReasonWindow,
	ReasonStale,
}

// Reasons returns every Reason a reject can have.
func Reasons() []Reason { return append([]Reason(nil), reasons[:]...) }

// rejectError is a refused inbound message.
type rejectError struct {
	reason Reason
	msg    string
}

func (e *rejectError) Error() string { return string(e.reason) + ": " + e.msg }

func reject(r Reason, format string, args ...any) error {
	return &rejectError{reason: r, msg: fmt.Sprintf(format, args...)}
}

// reasonOf is the reason of a reject error, or "" for another error.
func reasonOf(err error) Reason {
	var re *rejectError
	if errors.As(err, &re) {
		return re.reason
	}
	return ""
}

// Stats are counters since New.
type Stats struct {
	Rejected   map[Reason]uint64 // inbound messages refused, by reason
	Accepted   uint64            // inbound signed objects that changed state
	Duplicates uint64            // inbound copies of records held byte for byte (gossip and catch-up overlap)
	Syncs      uint64            // catch-up exchanges completed as the asking side
	GapSyncs   uint64            // catch-ups asked for because a gap in a room's log lasted
	Casts      uint64            // casts sent (Cast)
}

// counters are the federation's counters; safe for concurrent use.
type counters struct {
	rejected   [len(reasons)]atomic.Uint64
	accepted   atomic.Uint64
	duplicates atomic.Uint64
	syncs      atomic.Uint64
	gapSyncs   atomic.Uint64
	casts      atomic.Uint64
}

func (c *counters) reject(r Reason) {
	for i, x := range reasons {
		if x == r {
			c.rejected[i].Add(1)
			return
		}
	}
}

func (c *counters) stats() Stats {
	s := Stats{Rejected: make(map[Reason]uint64, len(reasons)), Accepted: c.accepted.Load(),
		Duplicates: c.duplicates.Load(), Syncs: c.syncs.Load(), GapSyncs: c.gapSyncs.Load(), Casts: c.casts.Load()}
	for i, r := range reasons {
		s.Rejected[r] = c.rejected[i].Load()
	}
	return s
}

// collector exports the counters to Prometheus at scrape time:
//
//	parley_federation_rejects_total{reason}  counter  inbound federation messages refused, by reason
//	parley_federation_accepted_total         counter  inbound signed objects that changed state
//	parley_federation_duplicates_total       counter  inbound copies of records already held
//	parley_federation_syncs_total            counter  catch-up exchanges completed
//	parley_federation_gap_syncs_total        counter  catch-ups asked for because of a gap in a log
//	parley_federation_casts_total            counter  casts sent (live captions to other nodes)
type collector struct {
	c          *counters
	rejects    *prometheus.Desc
	accepted   *prometheus.Desc
	duplicates *prometheus.Desc
	syncs      *prometheus.Desc
	gapSyncs   *prometheus.Desc
	casts      *prometheus.Desc
}

func newCollector(c *counters) *collector {
	return &collector{
		c: c,
		rejects: prometheus.NewDesc("parley_federation_rejects_total",
			"Inbound federation messages refused before changing state, by reason.", []string{"reason"}, nil),
		accepted: prometheus.NewDesc("parley_federation_accepted_total",
			"Inbound signed federation objects (node, room, state records, log entries) that changed state.", nil, nil),
		duplicates: prometheus.NewDesc("parley_federation_duplicates_total",
			"Inbound copies of federation records already held byte for byte (gossip and catch-up overlap).", nil, nil),
		syncs: prometheus.NewDesc("parley_federation_syncs_total",
			"Catch-up exchanges completed with peers, as the asking side.", nil, nil),
		gapSyncs: prometheus.NewDesc("parley_federation_gap_syncs_total",
			"Catch-ups asked for because entries of a room's log arrived past a gap that lasted.", nil, nil),
		casts: prometheus.NewDesc("parley_federation_casts_total",
			"Casts sent to the other nodes of a room: messages not kept, such as live captions.", nil, nil),
	}
}

func (k *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.rejects
	ch <- k.accepted
	ch <- k.duplicates
	ch <- k.syncs
	ch <- k.gapSyncs
	ch <- k.casts
}

func (k *collector) Collect(ch chan<- prometheus.Metric) {
	for i, r := range reasons {
		ch <- prometheus.MustNewConstMetric(k.rejects, prometheus.CounterValue, float64(k.c.rejected[i].Load()), string(r))
	}
	ch <- prometheus.MustNewConstMetric(k.accepted, prometheus.CounterValue, float64(k.c.accepted.Load()))
	ch <- prometheus.MustNewConstMetric(k.duplicates, prometheus.CounterValue, float64(k.c.duplicates.Load()))
	ch <- prometheus.MustNewConstMetric(k.syncs, prometheus.CounterValue, float64(k.c.syncs.Load()))
	ch <- prometheus.MustNewConstMetric(k.gapSyncs, prometheus.CounterValue, float64(k.c.gapSyncs.Load()))
	ch <- prometheus.MustNewConstMetric(k.casts, prometheus.CounterValue, float64(k.c.casts.Load()))
}
