package mesh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// RequestHandler answers one request from a trusted peer. An error is sent back to the
// requester as a RemoteError carrying its text (at most 1 KiB), so it must not reveal more
// than the requester may know. ctx ends after the host's RequestTimeout or when it closes.
type RequestHandler func(ctx context.Context, from peer.ID, req []byte) ([]byte, error)

// Handle serves protocol (for example "/parley/catchup/1") with fn. Requests over maxRequest
// bytes (<= 0 means DefaultMaxRequest, 64 KiB) are refused before fn runs, and requests from
// peers that are not admitted never reach it. A nil fn stops serving protocol.
func (h *Host) Handle(proto string, maxRequest int, fn RequestHandler) {
	pid := protocol.ID(proto)
	if fn == nil {
		h.host.RemoveStreamHandler(pid)
		return
	}
	if maxRequest <= 0 {
		maxRequest = DefaultMaxRequest
	}
	maxRequest = min(maxRequest, maxFrame)
	h.host.SetStreamHandler(pid, func(s network.Stream) { h.serve(s, maxRequest, fn) })
}

// serve answers one request stream.
func (h *Host) serve(s network.Stream, maxRequest int, fn RequestHandler) {
	from := s.Conn().RemotePeer()
	proto := s.Protocol()
	if !h.adm.admitted(from) {
		h.counter.refusedStreams.Add(1)
		h.log.Warn("request from a peer that is not admitted refused", "remote", shortID(from), "protocol", proto)
		s.Reset()
		return
	}
	if !h.enter() {
		s.Reset()
		return
	}
	defer h.wg.Done()
	log := h.log.With("remote", shortID(from), "protocol", proto)
	if err := s.SetReadDeadline(time.Now().Add(h.cfg.RequestTimeout)); err != nil {
		log.Debug("set request deadline", "err", err)
	}

	reserved := 0
	reserve := func(n int) error {
		if err := s.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
			return fmt.Errorf("reserve %d bytes for the request: %w", n, err)
		}
		reserved = n
		return nil
	}
	defer func() { s.Scope().ReleaseMemory(reserved) }()

	req, err := readRequest(s, maxRequest, reserve)
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed) {
			h.counter.rejectedRequests.Add(1)
		}
		log.Debug("request refused", "err", err)
		if errors.Is(err, ErrTooLarge) {
			s.Write(appendResponse(nil, statusTooLarge, nil))
			s.Close()
			return
		}
		s.Reset()
		return
	}

	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RequestTimeout)
	defer cancel()
	resp, err := fn(ctx, from, req)
	// The handler may have used its whole time: writing the answer gets a fresh bound.
	if err := s.SetWriteDeadline(time.Now().Add(h.cfg.RequestTimeout)); err != nil {
		log.Debug("set response deadline", "err", err)
	}
	var frame []byte
	switch {
	case err != nil:
		log.Debug("request failed", "err", err)
		frame = appendResponse(nil, statusError, []byte(err.Error()))
	case len(resp) > maxFrame:
		log.Warn("response over the frame limit", "len", len(resp))
		frame = appendResponse(nil, statusError, []byte("response too large"))
	default:
		frame = appendResponse(nil, statusOK, resp)
	}
	if _, err := s.Write(frame); err != nil {
		log.Debug("write response", "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// Request sends req to a trusted peer on protocol and returns its response, which may be at
// most maxResponse bytes (<= 0 means DefaultMaxResponse, 1 MiB). It dials the peer if needed.
// The exchange ends with ctx or after the host's RequestTimeout, whichever comes first. A
// handler's error comes back as a *RemoteError; a request over the handler's bound, or a
// response over maxResponse, as ErrTooLarge.
func (h *Host) Request(ctx context.Context, to peer.ID, proto string, req []byte, maxResponse int) ([]byte, error) {
	resp, err := h.request(ctx, to, proto, req, maxResponse)
	if err != nil {
		return nil, fmt.Errorf("mesh: request %s to %s: %w", proto, shortID(to), err)
	}
	return resp, nil
}

func (h *Host) request(ctx context.Context, to peer.ID, proto string, req []byte, maxResponse int) ([]byte, error) {
	if !h.adm.isTrusted(to) {
		return nil, ErrNotTrusted
	}
	if h.adm.isBlocked(to) {
		return nil, ErrBlocked
	}
	if len(req) > maxFrame {
		return nil, fmt.Errorf("%d bytes: %w", len(req), ErrTooLarge)
	}
	if maxResponse <= 0 {
		maxResponse = DefaultMaxResponse
	}
	maxResponse = min(maxResponse, maxFrame)
	ctx, done, err := h.startDial(ctx) // opening the stream may dial
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()

	s, err := h.host.NewStream(network.WithForceDirectDial(ctx, "request"), to, protocol.ID(proto))
	if err != nil {
		return nil, ctxOr(ctx, err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(appendRequest(nil, req)); err != nil {
		s.Reset()
		return nil, ctxOr(ctx, fmt.Errorf("write request: %w", err))
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return nil, ctxOr(ctx, fmt.Errorf("close request: %w", err))
	}
	resp, err := readResponse(s, maxResponse)
	if err != nil {
		s.Reset()
		return nil, ctxOr(ctx, err)
	}
	s.Close()
	return resp, nil
}

// ctxOr returns the context's error if it has ended (the likely cause of err), else err. The
// stream's deadline is the context's, and may trip a moment before the context's own timer.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
