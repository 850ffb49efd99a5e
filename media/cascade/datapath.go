package cascade

import (
	"encoding/binary"
	"errors"

	"github.com/quic-go/quic-go"
)

// sendDatagrams drains the send queue into QUIC datagrams, numbering them as they go out so
// that the peer's loss measurement sees the link, not this node's queue. A datagram that
// waited longer than Config.MaxQueueDelay (QUIC's congestion control holds the queue back
// when the link carries less than it is given) is dropped: late media is useless, and the
// drops tell the peer's capacity estimate that the link is full.
func (s *session) sendDatagrams() {
	c := &s.l.c
	maxDelay := int64(s.ep.cfg.MaxQueueDelay)
	var seq uint32
	for {
		b, at := s.queue.peek()
		if b == nil {
			select {
			case <-s.ctx.Done():
				return
			case <-s.queue.kick:
			}
			continue
		}
		if s.ep.now()-at > maxDelay {
			// Too late to be of use: the link carries less than it is given.
			s.queue.pop()
			s.txDropped.Add(1)
			c.outDropped.Add(1)
			continue
		}
		binary.BigEndian.PutUint32(b[4:], seq)
		err := s.conn.SendDatagram(b)
		n := len(b)
		s.queue.pop()
		if err != nil {
			var tooLarge *quic.DatagramTooLargeError
			if errors.As(err, &tooLarge) {
				// The path MTU is smaller than the packet; not congestion, so the peer's
				// capacity estimate is not told.
				c.outDropped.Add(1)
				continue
			}
			s.fail(err)
			return
		}
		seq++
		c.outDatagrams.Add(1)
		c.outBytes.Add(uint64(n))
	}
}

// readDatagrams is the receive hot path: parse the header, count the datagram for loss, and
// hand the RTP packet to its subscription's receiver.
func (s *session) readDatagrams() {
	c := &s.l.c
	for {
		b, err := s.conn.ReceiveDatagram(s.ctx)
		if err != nil {
			s.fail(err)
			return
		}
		h, pkt, err := parseDatagram(b)
		if err != nil {
			c.badDatagrams.Add(1)
			continue
		}
		s.loss.add(h.seq)
		s.rxBytes.Add(uint64(len(b)))
		c.inDatagrams.Add(1)
		c.inBytes.Add(uint64(len(b)))
		in := (*s.inSnap.Load())[h.num]
		if in == nil {
			c.unknownDatagrams.Add(1)
			continue
		}
		if h.retransmit {
			c.inRetransmits.Add(1)
		}
		in.deliver(int(h.layer), pkt)
	}
}
