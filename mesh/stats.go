package mesh

import "sync/atomic"

// Stats are the host's counts of refused traffic since it started, for metrics.
type Stats struct {
	RefusedConns     uint64 // dials and connections the gater refused
	RefusedStreams   uint64 // request streams from peers that are not admitted
	RejectedRequests uint64 // requests over the size bound or not following the wire format
	RejectedMessages uint64 // gossip messages rejected: bad or missing signature, over the size cap, a validator's Reject
	IgnoredMessages  uint64 // gossip messages dropped without penalty: untrusted author or relay, a validator's Ignore
	DroppedMessages  uint64 // gossip messages lost to overload: validation queue full, or a Topic's reader behind
}

type counters struct {
	refusedStreams   atomic.Uint64
	rejectedRequests atomic.Uint64
	rejectedMessages atomic.Uint64
	ignoredMessages  atomic.Uint64
	droppedMessages  atomic.Uint64
}

// Stats returns the host's counts of refused traffic.
func (h *Host) Stats() Stats {
	return Stats{
		RefusedConns:     h.adm.refused.Load(),
		RefusedStreams:   h.counter.refusedStreams.Load(),
		RejectedRequests: h.counter.rejectedRequests.Load(),
		RejectedMessages: h.counter.rejectedMessages.Load(),
		IgnoredMessages:  h.counter.ignoredMessages.Load(),
		DroppedMessages:  h.counter.droppedMessages.Load(),
	}
}
