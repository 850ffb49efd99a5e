package mesh

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRequestBounds: requests over the handler's bound are refused before the handler runs,
// responses over the requester's bound are refused, handler errors come back as RemoteError,
// and deadlines hold on both sides.
func TestRequestBounds(t *testing.T) {
	a, b := connectedPair(t, func(c *Config) { c.RequestTimeout = 2 * time.Second })
	var calls atomic.Int32
	b.Handle("/test/size/1", 1<<10, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
		calls.Add(1)
		switch string(req) {
		case "big":
			return bytes.Repeat([]byte{'r'}, 64<<10), nil
		case "fail":
			return nil, errors.New("no such sequence " + strings.Repeat("x", 2000))
		}
		return req, nil
	})
	ctx := ctxTimeout(t, 10*time.Second)

	_, err := a.Request(ctx, b.ID(), "/test/size/1", make([]byte, 1<<10+1), 0)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized request: %v", err)
	}
	if calls.Load() != 0 {
		t.Fatal("the handler ran for an oversized request")
	}
	if resp, err := a.Request(ctx, b.ID(), "/test/size/1", make([]byte, 1<<10), 0); err != nil || len(resp) != 1<<10 {
		t.Fatalf("request at the bound: %d bytes, %v", len(resp), err)
	}
	if _, err := a.Request(ctx, b.ID(), "/test/size/1", []byte("big"), 32<<10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized response: %v", err)
	}
	if resp, err := a.Request(ctx, b.ID(), "/test/size/1", []byte("big"), 64<<10); err != nil || len(resp) != 64<<10 {
		t.Fatalf("response at the bound: %d bytes, %v", len(resp), err)
	}
	_, err = a.Request(ctx, b.ID(), "/test/size/1", []byte("fail"), 0)
	var remote *RemoteError
	if !errors.As(err, &remote) || !strings.HasPrefix(remote.Msg, "no such sequence") || len(remote.Msg) > maxErrorText {
		t.Fatalf("handler error: %v", err)
	}
	if st := b.Stats(); st.RejectedRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := a.Request(ctx, b.ID(), "/test/none/1", nil, 0); err == nil {
		t.Fatal("request on a protocol nobody serves succeeded")
	}
}

// TestRequestDeadlines: the requester's context bounds the exchange, and a handler's context
// ends after the responder's RequestTimeout, which bounds the exchange for a requester with
// no deadline of its own.
func TestRequestDeadlines(t *testing.T) {
	a := newHost(t, func(c *Config) { c.RequestTimeout = 10 * time.Second })
	b := newHost(t, func(c *Config) { c.RequestTimeout = 300 * time.Millisecond })
	ea := watch(a)
	trust(t, a, b)
	trust(t, b, a)
	ea.await(t, b.ID(), true, 10*time.Second)
	handlerCtxEnded := make(chan time.Duration, 2)
	b.Handle("/test/slow/1", 0, func(ctx context.Context, _ peer.ID, _ []byte) ([]byte, error) {
		start := time.Now()
		<-ctx.Done()
		handlerCtxEnded <- time.Since(start)
		return nil, ctx.Err()
	})

	// The requester's deadline: Request returns with it, whatever the handler does.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.Request(ctx, b.ID(), "/test/slow/1", []byte("x"), 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request past its deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("request returned after %v with a 100 ms deadline; its RequestTimeout is 10 s", d)
	}

	// No deadline from the requester: the handler's context ends after b's RequestTimeout
	// and its error comes back.
	for len(handlerCtxEnded) > 0 {
		<-handlerCtxEnded // from the first request, if it reached the handler
	}
	start = time.Now()
	_, err = a.Request(context.Background(), b.ID(), "/test/slow/1", []byte("x"), 0)
	var remote *RemoteError
	if !errors.As(err, &remote) || !strings.Contains(remote.Msg, "deadline") {
		t.Fatalf("request to a handler out of time: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("request returned after %v; the handler's limit is 300 ms", d)
	}
	if d := <-handlerCtxEnded; d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("handler context ended after %v, want about 300 ms", d)
	}
}

// TestRequestNotTrusted: no request is sent to a peer that is not trusted.
func TestRequestNotTrusted(t *testing.T) {
	a, b := newHost(t), newHost(t)
	if _, err := a.Request(ctxTimeout(t, time.Second), b.ID(), "/x/1", nil, 0); !errors.Is(err, ErrNotTrusted) {
		t.Fatalf("request to an unknown peer: %v", err)
	}
}

// TestHandlerRefusesUnadmittedStream: the handler's own check, behind the gater, refuses a
// stream from a peer untrusted after its connection was established.
func TestHandlerRefusesUnadmittedStream(t *testing.T) {
	a, b := connectedPair(t)
	var calls atomic.Int32
	b.Handle("/test/h/1", 0, func(context.Context, peer.ID, []byte) ([]byte, error) {
		calls.Add(1)
		return nil, nil
	})
	// Take a out of b's trust without closing the connection, as if Untrust raced a stream.
	b.adm.untrust(a.ID())
	_, err := a.Request(ctxTimeout(t, 5*time.Second), b.ID(), "/test/h/1", []byte("x"), 0)
	if err == nil {
		t.Fatal("request from an unadmitted peer succeeded")
	}
	if calls.Load() != 0 {
		t.Fatal("the handler ran")
	}
	// Refused by the handler's check, or, if gossip noticed first and the connection was
	// closed, by the gater on the redial; a may see its failure before b has counted it.
	deadline := time.Now().Add(5 * time.Second)
	for st := b.Stats(); st.RefusedStreams == 0 && st.RefusedConns == 0; st = b.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("refusal not counted: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
