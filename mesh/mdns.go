package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/net/dns/dnsmessage"
)

// mDNS discovery for islands (RFC 6762 multicast DNS, DNS-SD style records).
//
// A host asks for the PTR records of mdnsServiceName, and answers such questions with
//
//	PTR  _parley._udp.local.             -> <peer ID>._parley._udp.local.
//	TXT  <peer ID>._parley._udp.local.   -> "dnsaddr=<multiaddr>/p2p/<peer ID>", one string per address
//
// It asks when it starts, when a peer is trusted, and at growing intervals (1 s, 2 s, 4 s …
// 60 s); hosts answer at most ten times a second. A peer found this way is dialled only if it
// is trusted: mDNS finds, the gater decides. Addresses are kept for mdnsAddrTTL after the
// last answer. Packets are read from every multicast-capable interface that is up, and
// loopback (nodes of an island on one machine); loopback addresses in an answer are used only
// when it came from this machine.
const (
	mdnsServiceName  = "_parley._udp.local."
	mdnsDefaultGroup = "224.0.0.251:5353"
	mdnsMaxPacket    = 9000 // RFC 6762 §17
	mdnsMaxRecords   = 64   // records read from one packet
	mdnsMaxAddrs     = 16   // addresses kept per peer and per answer
	mdnsAddrTTL      = 3 * time.Minute
	mdnsRecordTTL    = 120 // seconds, in answers
	mdnsMaxInterval  = 60 * time.Second
	mdnsAnswerGap    = 100 * time.Millisecond
	mdnsCacheFlush   = 1 << 15 // class bit: this record replaces cached ones (RFC 6762 §10.2)
	dnsaddrPrefix    = "dnsaddr="
)

// mdnsService runs mDNS on every multicast-capable interface that is up, and loopback.
type mdnsService struct {
	h     *Host
	group *net.UDPAddr
	conns []*net.UDPConn
	local map[string]bool // this machine's IP addresses: their loopback addresses are usable

	askNow    chan struct{} // ask again at once (a peer was trusted)
	answerReq chan struct{} // answer (a question arrived, or the host starts)
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

func startMDNS(h *Host, group string) (*mdnsService, error) {
	if group == "" {
		group = mdnsDefaultGroup
	}
	gaddr, err := net.ResolveUDPAddr("udp4", group)
	if err != nil {
		return nil, fmt.Errorf("mesh: mDNS group %q: %w", group, err)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("mesh: mDNS: list interfaces: %w", err)
	}
	m := &mdnsService{h: h, group: gaddr, local: make(map[string]bool),
		askNow: make(chan struct{}, 1), answerReq: make(chan struct{}, 1)}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				m.local[ipn.IP.String()] = true
			}
		}
	}
	for i := range ifaces {
		ifi := &ifaces[i]
		if ifi.Flags&net.FlagUp == 0 || (ifi.Flags&net.FlagMulticast == 0 && ifi.Flags&net.FlagLoopback == 0) {
			continue
		}
		c, err := net.ListenMulticastUDP("udp4", ifi, gaddr)
		if err != nil {
			h.log.Debug("mDNS: interface skipped", "iface", ifi.Name, "err", err)
			continue
		}
		m.conns = append(m.conns, c)
	}
	if len(m.conns) == 0 {
		return nil, errors.New("mesh: mDNS: no interface accepted the multicast group")
	}
	ctx, cancel := context.WithCancel(h.ctx)
	m.cancel = cancel
	for _, c := range m.conns {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.read(ctx, c)
		}()
	}
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.ask(ctx)
	}()
	go func() {
		defer m.wg.Done()
		m.answerLoop(ctx)
	}()
	return m, nil
}

func (m *mdnsService) close() {
	m.cancel()
	for _, c := range m.conns {
		c.Close()
	}
	m.wg.Wait()
}

// send multicasts pkt on every interface.
func (m *mdnsService) send(pkt []byte) {
	for _, c := range m.conns {
		if _, err := c.WriteToUDP(pkt, m.group); err != nil {
			m.h.log.Debug("mDNS: send", "err", err)
		}
	}
}

// ask announces this host, then sends the question now, at growing intervals, and whenever
// askAgain asks.
func (m *mdnsService) ask(ctx context.Context) {
	query, err := mdnsQuery()
	if err != nil {
		m.h.log.Error("mDNS: build query", "err", err)
		return
	}
	m.answer()
	wait := time.Second
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.askNow:
			timer.Stop()
		case <-timer.C:
		}
		m.send(query)
		timer.Reset(wait)
		wait = min(2*wait, mdnsMaxInterval)
	}
}

// ask sends the question again at once, for a peer that has just been trusted.
func (m *mdnsService) askAgain() {
	select {
	case m.askNow <- struct{}{}:
	default:
	}
}

// answerLoop multicasts this host's records when asked to (answerReq), at most once per
// mdnsAnswerGap: questions arriving during the gap are answered together at its end.
func (m *mdnsService) answerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.answerReq:
		}
		pkt, err := mdnsAnswer(m.h.self, m.h.host.Addrs())
		if err != nil {
			m.h.log.Error("mDNS: build answer", "err", err)
		} else {
			m.send(pkt)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(mdnsAnswerGap):
		}
	}
}

// answer asks answerLoop to send this host's records.
func (m *mdnsService) answer() {
	select {
	case m.answerReq <- struct{}{}:
	default:
	}
}

func (m *mdnsService) read(ctx context.Context, c *net.UDPConn) {
	buf := make([]byte, mdnsMaxPacket+1)
	for {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			m.h.log.Debug("mDNS: read", "err", err)
			continue
		}
		if n > mdnsMaxPacket {
			continue
		}
		query, found, err := parseMDNS(buf[:n])
		if err != nil {
			m.h.log.Debug("mDNS: packet dropped", "from", src, "err", err)
			continue
		}
		if query {
			m.answer()
		}
		for _, info := range found {
			m.found(info, m.local[src.IP.String()])
		}
	}
}

// found takes the addresses of a peer mDNS found, if it is trusted, and dials it.
func (m *mdnsService) found(info peer.AddrInfo, sameMachine bool) {
	h := m.h
	if info.ID == h.self {
		return
	}
	if !h.adm.isTrusted(info.ID) {
		h.log.Debug("mDNS: untrusted peer ignored", "remote", shortID(info.ID))
		return
	}
	addrs := info.Addrs[:0:0]
	for _, a := range info.Addrs {
		if manet.IsIPLoopback(a) && !sameMachine {
			continue // the loopback of another machine
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return
	}
	h.host.Peerstore().AddAddrs(info.ID, addrs, mdnsAddrTTL)
	if h.Connected(info.ID) {
		return
	}
	h.mu.Lock()
	d := h.dialers[info.ID]
	h.mu.Unlock()
	if d != nil {
		h.log.Debug("mDNS: trusted peer found", "remote", shortID(info.ID), "addrs", len(addrs))
		d.dialNow()
	}
}

// mdnsQuery builds the question for mdnsServiceName's PTR records.
func mdnsQuery() ([]byte, error) {
	name, err := dnsmessage.NewName(mdnsServiceName)
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// mdnsAnswer builds the answer announcing id at addrs.
func mdnsAnswer(id peer.ID, addrs []ma.Multiaddr) ([]byte, error) {
	var txt []string
	for _, a := range addrs {
		if !isQUIC(a) && !isTCP(a) {
			continue
		}
		s := dnsaddrPrefix + a.String() + "/p2p/" + id.String()
		if len(s) <= 255 && len(txt) < mdnsMaxAddrs {
			txt = append(txt, s)
		}
	}
	if len(txt) == 0 {
		return nil, errors.New("no address to announce")
	}
	return buildAnswer(id, txt)
}

// buildAnswer builds the PTR and TXT records announcing id with the TXT strings txt.
func buildAnswer(id peer.ID, txt []string) ([]byte, error) {
	service, err := dnsmessage.NewName(mdnsServiceName)
	if err != nil {
		return nil, err
	}
	instance, err := dnsmessage.NewName(id.String() + "." + mdnsServiceName)
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true, Authoritative: true})
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	ptr := dnsmessage.ResourceHeader{Name: service, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: mdnsRecordTTL}
	if err := b.PTRResource(ptr, dnsmessage.PTRResource{PTR: instance}); err != nil {
		return nil, err
	}
	th := dnsmessage.ResourceHeader{Name: instance, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET | mdnsCacheFlush, TTL: mdnsRecordTTL}
	if err := b.TXTResource(th, dnsmessage.TXTResource{TXT: txt}); err != nil {
		return nil, err
	}
	return b.Finish()
}

// parseMDNS reads an mDNS packet: whether it asks for mdnsServiceName, and the peers its TXT
// records announce. Records of other services are skipped; an announcement whose addresses
// are not QUIC or TCP, or name another peer than its instance name, is an error.
func parseMDNS(pkt []byte) (query bool, found []peer.AddrInfo, err error) {
	if len(pkt) > mdnsMaxPacket {
		return false, nil, errors.New("packet too large")
	}
	var p dnsmessage.Parser
	hdr, err := p.Start(pkt)
	if err != nil {
		return false, nil, err
	}
	if !hdr.Response {
		for i := 0; i < mdnsMaxRecords; i++ {
			q, err := p.Question()
			if errors.Is(err, dnsmessage.ErrSectionDone) {
				break
			}
			if err != nil {
				return false, nil, err
			}
			if (q.Type == dnsmessage.TypePTR || q.Type == dnsmessage.TypeALL) && strings.EqualFold(q.Name.String(), mdnsServiceName) {
				query = true
			}
		}
		return query, nil, nil
	}
	if err := p.SkipAllQuestions(); err != nil {
		return false, nil, err
	}
	sections := []struct {
		header func() (dnsmessage.ResourceHeader, error)
		skip   func() error
	}{{p.AnswerHeader, p.SkipAnswer}, {p.AuthorityHeader, p.SkipAuthority}, {p.AdditionalHeader, p.SkipAdditional}}
	records := 0
	for _, sec := range sections {
		for {
			rh, err := sec.header()
			if errors.Is(err, dnsmessage.ErrSectionDone) {
				break
			}
			if err != nil {
				return false, nil, err
			}
			if records++; records > mdnsMaxRecords {
				return false, nil, errors.New("too many records")
			}
			if rh.Type != dnsmessage.TypeTXT || rh.Class&^mdnsCacheFlush != dnsmessage.ClassINET {
				if err := sec.skip(); err != nil {
					return false, nil, err
				}
				continue
			}
			txt, err := p.TXTResource()
			if err != nil {
				return false, nil, err
			}
			name := rh.Name.String()
			if len(name) <= len(mdnsServiceName) || !strings.EqualFold(name[len(name)-len(mdnsServiceName)-1:], "."+mdnsServiceName) {
				continue
			}
			info, err := parseInstance(name[:len(name)-len(mdnsServiceName)-1], txt.TXT)
			if err != nil {
				return false, nil, err
			}
			found = append(found, info)
		}
	}
	return false, found, nil
}

// parseInstance reads one announcement: the instance label is the peer ID, and each
// dnsaddr string a QUIC or TCP address of that peer.
func parseInstance(label string, txt []string) (peer.AddrInfo, error) {
	id, err := peer.Decode(label)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("instance %q: %w", label, err)
	}
	info := peer.AddrInfo{ID: id}
	for _, s := range txt {
		v, ok := strings.CutPrefix(s, dnsaddrPrefix)
		if !ok {
			continue
		}
		a, err := ma.NewMultiaddr(v)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("address %q: %w", v, err)
		}
		transport, p := peer.SplitAddr(a)
		if p != id || len(transport) == 0 || (!isQUIC(transport) && !isTCP(transport)) {
			return peer.AddrInfo{}, fmt.Errorf("address %q is not a QUIC or TCP address of %s", v, label)
		}
		if len(info.Addrs) == mdnsMaxAddrs {
			break
		}
		info.Addrs = append(info.Addrs, transport)
	}
	return info, nil
}
