package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"parley/media/signal"
)

// wsURL turns a node base URL and a room into the signalling URL and the Origin the node
// expects (its own base URL): https://h/x + room -> wss://h/x/ws/<room>, Origin https://h.
func wsURL(base, room string) (wsu, origin string, err error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		return "", "", fmt.Errorf("client: node URL %q: %w", base, err)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("client: node URL %q has no host", base)
	}
	var httpScheme string
	switch u.Scheme {
	case "http", "ws":
		httpScheme, u.Scheme = "http", "ws"
	case "https", "wss":
		httpScheme, u.Scheme = "https", "wss"
	default:
		return "", "", fmt.Errorf("client: node URL %q: scheme must be http, https, ws or wss", base)
	}
	origin = httpScheme + "://" + u.Host
	u.Path = u.Path + "/ws/" + url.PathEscape(room)
	u.RawQuery, u.Fragment = "", ""
	return u.String(), origin, nil
}

func dial(ctx context.Context, cfg Config) (*websocket.Conn, error) {
	target, origin, err := wsURL(cfg.URL, cfg.Room)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.TLSConfig}}
	ws, resp, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient: hc,
		HTTPHeader: http.Header{"Origin": []string{origin}},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: connect to %s: HTTP %s: %w", target, resp.Status, err)
		}
		return nil, fmt.Errorf("client: connect to %s: %w", target, err)
	}
	ws.SetReadLimit(signal.MaxNodeMessageSize)
	return ws, nil
}

// handshake sends join and waits for joined, through the lobby if the room has one (ctx
// bounds the wait). Anything else the node sends first is an error unless it is an "error"
// message, which is returned as a *NodeError.
func (c *Client) handshake(ctx context.Context) (*signal.Message, error) {
	join := &signal.Message{Type: signal.TypeJoin, Name: c.cfg.Name, Keys: c.e2ee.joinKeys(), Mod: c.cfg.Moderator, Agent: c.cfg.Agent, Lang: c.cfg.Lang}
	if err := c.write(ctx, join); err != nil {
		return nil, fmt.Errorf("client: send join: %w", err)
	}
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: waiting for joined: %w", err)
		}
		m, err := signal.DecodeFromNode(data)
		if err != nil {
			return nil, fmt.Errorf("client: waiting for joined: %w", err)
		}
		if hook := c.cfg.OnMessage; hook != nil {
			hook(m)
		}
		switch m.Type {
		case signal.TypeJoined:
			return m, nil
		case signal.TypeLobby:
			c.log.Debug("waiting in the lobby")
		case signal.TypeError:
			return nil, fmt.Errorf("client: join refused: %w", &NodeError{Code: m.Code, Message: m.Error})
		case signal.TypePong:
		default:
			return nil, fmt.Errorf("client: node sent %q before joined", m.Type)
		}
	}
}

// write sends one message now, bounded by writeTimeout.
func (c *Client) write(ctx context.Context, m *signal.Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type, err)
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, data)
}

// send queues a message for the writer goroutine, which keeps messages in the order queued.
func (c *Client) send(m *signal.Message) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	select {
	case <-c.done:
		return fmt.Errorf("client: signalling connection is gone: %w", ErrClosed)
	default:
	}
	select {
	case c.out <- m:
		return nil
	default:
		return fmt.Errorf("client: %d signalling messages already queued", outBuffered)
	}
}

func (c *Client) writeLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case m := <-c.out:
			if err := c.write(c.ctx, m); err != nil {
				if c.ctx.Err() == nil {
					c.report(fmt.Errorf("client: send %s: %w", m.Type, err))
				}
				return
			}
		}
	}
}

func (c *Client) pingLoop() {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
			_ = c.send(&signal.Message{Type: signal.TypePing})
		}
	}
}

func (c *Client) readLoop() {
	defer c.endSignalling()
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			if c.ctx.Err() == nil {
				c.report(fmt.Errorf("client: signalling connection lost: %w", err))
			}
			return
		}
		if typ != websocket.MessageText {
			c.report(fmt.Errorf("client: node sent a binary message: %w", signal.ErrBadMessage))
			continue
		}
		m, err := signal.DecodeFromNode(data)
		if err != nil {
			c.report(fmt.Errorf("client: from node: %w", err))
			continue
		}
		if hook := c.cfg.OnMessage; hook != nil {
			hook(m)
		}
		if err := c.handle(m); err != nil {
			c.report(err)
		}
	}
}

func (c *Client) endSignalling() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

// handle applies one message from the node. It runs on the read goroutine only, so offers,
// answers and candidates are applied in the order the node sent them.
func (c *Client) handle(m *signal.Message) error {
	switch m.Type {
	case signal.TypeAnswer:
		if m.PC != signal.PCPub || c.pub == nil {
			return fmt.Errorf("client: unexpected answer on pc %q", m.PC)
		}
		return c.pub.setRemote(webrtcAnswer(m.SDP))
	case signal.TypeOffer:
		if m.PC != signal.PCSub {
			return fmt.Errorf("client: unexpected offer on pc %q", m.PC)
		}
		return c.handleSubOffer(m)
	case signal.TypeCandidate:
		p := c.sub
		if m.PC == signal.PCPub {
			p = c.pub
		}
		if p == nil {
			return fmt.Errorf("client: candidate for pc %q which is not open", m.PC)
		}
		return p.addRemoteCandidate(m.Candidate)
	case signal.TypeParticipantJoined, signal.TypeParticipantUpdated:
		c.mu.Lock()
		isNew := false
		if m.Participant.ID != c.you.ID {
			_, known := c.participants[m.Participant.ID]
			isNew = !known
			c.participants[m.Participant.ID] = *m.Participant
		} else {
			c.you = *m.Participant
		}
		c.mu.Unlock()
		if isNew {
			return c.e2ee.joinedParticipant(m.Participant)
		}
	case signal.TypeParticipantLeft:
		c.mu.Lock()
		delete(c.participants, m.ID)
		c.mu.Unlock()
		c.e2ee.leftParticipant(m.ID)
	case signal.TypeChat:
		c.addChat(m.Chat)
	case signal.TypeCaption:
		c.addCaption(m.Caption)
	case signal.TypeKey:
		return c.e2ee.receiveEnvelope(m.Envelope)
	case signal.TypeWaiting:
		c.mu.Lock()
		c.waiting = append([]signal.Waiting(nil), m.Waiting...)
		c.mu.Unlock()
	case signal.TypeWaitingAdd:
		c.mu.Lock()
		c.waiting = append(c.waiting, m.Waiting...)
		c.mu.Unlock()
	case signal.TypeWaitingRemove:
		c.mu.Lock()
		c.waiting = slices.DeleteFunc(c.waiting, func(w signal.Waiting) bool { return w.ID == m.ID })
		c.mu.Unlock()
	case signal.TypeSpeakers:
		c.mu.Lock()
		c.speakers = append([]string(nil), m.Speakers...)
		c.mu.Unlock()
	case signal.TypeModerated:
		c.mu.Lock()
		c.moderated = append(c.moderated, Moderation{Action: m.Action, By: m.Name})
		c.mu.Unlock()
		if m.Action == signal.ActionMute || m.Action == signal.ActionMuteAll {
			// Obey: the node cannot mute end-to-end encrypted media, so the client says it
			// is muted (and a client with a real microphone would stop sending it).
			return c.Mute(signal.SourceMic, true)
		}
	case signal.TypeReaction:
		c.mu.Lock()
		c.reactions = append(c.reactions, Reaction{From: m.ID, Reaction: m.Reaction})
		c.mu.Unlock()
	case signal.TypeError:
		return &NodeError{Code: m.Code, Message: m.Error}
	case signal.TypeJoined, signal.TypePong:
	default:
		return fmt.Errorf("client: unhandled message type %q: %w", m.Type, signal.ErrBadMessage)
	}
	return nil
}

// leave tells the node the client is leaving, without waiting behind queued messages.
func (c *Client) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	if err := c.write(ctx, &signal.Message{Type: signal.TypeLeave}); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Debug("send leave", "err", err)
	}
}
