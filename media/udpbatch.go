package media

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchConn is the SFU's one media socket with the writes of a fan-out batched. The loop
// that forwards one packet to every subscriber holds the socket (hold) while it writes: each
// write copies its datagram into a queue, and the loop's release sends the queue with
// sendmmsg, up to 64 datagrams a call, on the loop's own goroutine. Writes while nobody holds
// it are sent at once. A fan-out of one packet to N subscribers then costs N/64 system calls
// instead of N, with no goroutine hand-off. A queue that reaches queueMax is sent by the
// writer that filled it, so it never grows without bound; nothing pion hands over is dropped.
//
// Errors of a queued write cannot reach their writer (it has returned); they are counted
// (sendErrors) and the datagram is lost, as UDP may lose it anyway.
type batchConn struct {
	*net.UDPConn
	v4 *ipv4.PacketConn // one of v4 and v6, by the socket's family
	v6 *ipv6.PacketConn

	holders atomic.Int32 // fan-outs in progress

	mu     sync.Mutex
	queue  []outDatagram // guarded by mu
	closed bool          // guarded by mu

	sending sync.Mutex // one batch on the socket at a time, in queue order
	// Owned by whoever holds sending.
	spare []outDatagram
	msgs  [batchMax]ipv4.Message
	addrs [batchMax]net.UDPAddr
	ips   [batchMax][16]byte

	bufs       sync.Pool
	sendErrors atomic.Uint64
	batches    atomic.Uint64
	datagrams  atomic.Uint64
}

type outDatagram struct {
	buf  *[]byte
	n    int
	addr netip.AddrPort
}

const (
	batchMax   = 64   // datagrams per sendmmsg
	queueMax   = 1024 // datagrams waiting before a writer sends them itself
	bufferSize = 1500 // a media datagram; larger ones are sent at once
)

// newBatchConn wraps c; it owns c from now on (Close closes it).
func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c}
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		b.v4 = ipv4.NewPacketConn(c)
	} else {
		b.v6 = ipv6.NewPacketConn(c)
	}
	for i := range b.msgs {
		b.msgs[i].Buffers = make([][]byte, 1)
		b.msgs[i].Addr = &b.addrs[i]
	}
	b.bufs.New = func() any { s := make([]byte, bufferSize); return &s }
	return b
}

// hold starts a fan-out: writes queue until the matching release. A nil batchConn (the
// SFU's socket is no *net.UDPConn) holds nothing.
func (b *batchConn) hold() {
	if b != nil {
		b.holders.Add(1)
	}
}

// release ends a fan-out; the last one out sends the queue.
func (b *batchConn) release() {
	if b != nil && b.holders.Add(-1) == 0 {
		b.flush()
	}
}

// WriteTo implements net.PacketConn.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// ReadFromAddrPort and WriteToAddrPort implement pion's ice.AddrPortReaderWriter, its
// allocation-free path.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > bufferSize {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	buf := b.bufs.Get().(*[]byte)
	n := copy(*buf, p)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.bufs.Put(buf)
		return 0, net.ErrClosed
	}
	b.queue = append(b.queue, outDatagram{buf: buf, n: n, addr: addr})
	full := len(b.queue) >= queueMax
	b.mu.Unlock()
	if full || b.holders.Load() == 0 {
		b.flush()
	}
	return n, nil
}

// flush sends everything queued.
func (b *batchConn) flush() {
	b.sending.Lock()
	defer b.sending.Unlock()
	for {
		b.mu.Lock()
		q := b.queue
		b.queue = b.spare[:0]
		b.mu.Unlock()
		if len(q) == 0 {
			b.spare = q
			return
		}
		b.send(q)
		for i := range q {
			b.bufs.Put(q[i].buf)
			q[i] = outDatagram{}
		}
		b.spare = q
	}
}

// send writes q with sendmmsg, batchMax datagrams at a time. b.sending must be held.
func (b *batchConn) send(q []outDatagram) {
	for len(q) > 0 {
		k := min(len(q), batchMax)
		for i := range k {
			d := &q[i]
			ip := d.addr.Addr()
			b.ips[i] = ip.As16()
			a := &b.addrs[i]
			a.IP, a.Port, a.Zone = b.ips[i][:], int(d.addr.Port()), ip.Zone()
			if ip.Is4() && b.v4 != nil {
				a.IP = b.ips[i][12:16]
			}
			b.msgs[i].Buffers[0] = (*d.buf)[:d.n]
		}
		batch := b.msgs[:k]
		for len(batch) > 0 {
			var sent int
			var err error
			if b.v4 != nil {
				sent, err = b.v4.WriteBatch(batch, 0)
			} else {
				sent, err = b.v6.WriteBatch(batch, 0)
			}
			if err != nil {
				// The first datagram of what is left failed (an unreachable address): it
				// is lost; the others go on.
				b.sendErrors.Add(1)
				sent = max(sent, 1)
			}
			b.batches.Add(1)
			b.datagrams.Add(uint64(sent))
			batch = batch[sent:]
		}
		q = q[k:]
	}
}

// stop sends what is queued and refuses writes from now on, leaving the socket open.
func (b *batchConn) stop() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.flush()
}

// Close sends what is queued and closes the socket.
func (b *batchConn) Close() error {
	b.stop()
	return b.UDPConn.Close()
}
