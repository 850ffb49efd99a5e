package node

import (
	"bytes"
	"encoding/json"
	"errors"

	"parley/federation"
	"parley/media/signal"
)

// Live captions across nodes. The transcriber runs on one node (the one whose moderator
// asked for it); its captions reach that node's participants through their sessions and the
// room's other nodes as casts (federation.Cast: signed, not kept), which each node relays to
// its own participants if the sender is a transcriber of the casting node. Captions stay
// sealed end to end: no node reads them.

// castCaption is the cast kind of a caption.
const castCaption = "caption"

// castQueue bounds the captions waiting to be cast; more are dropped (and counted), since a
// caption late by seconds is worth nothing.
const castQueue = 256

// captionCast is a caption cast to the other nodes.
type captionCast struct {
	From   string `json:"from"`
	SFrame []byte `json:"sframe"`
}

type castItem struct {
	room string
	data json.RawMessage
}

// caster casts captions in the order the transcriber sent them, on its own goroutine.
type caster struct {
	fed    *federation.Federation
	ch     chan castItem
	done   chan struct{}
	result func(room, result string, err error) // "sent", "dropped" or "failed"
}

func newCaster(fed *federation.Federation, result func(room, result string, err error)) *caster {
	c := &caster{fed: fed, ch: make(chan castItem, castQueue), done: make(chan struct{}), result: result}
	go c.run()
	return c
}

func (c *caster) run() {
	defer close(c.done)
	for it := range c.ch {
		if err := c.fed.Cast(it.room, castCaption, it.data); err != nil {
			c.result(it.room, "failed", err)
		} else {
			c.result(it.room, "sent", nil)
		}
	}
}

// caption queues a caption of participant from in room; it never waits.
func (c *caster) caption(room, from string, sframe []byte) {
	data, err := json.Marshal(captionCast{From: from, SFrame: sframe})
	if err != nil {
		return
	}
	select {
	case c.ch <- castItem{room: room, data: data}:
	default:
		c.result(room, "dropped", nil)
	}
}

// close casts what is queued and stops. Nothing may be queued after.
func (c *caster) close() {
	close(c.ch)
	<-c.done
}

// castResult counts what became of a caption cast.
func (n *Node) castResult(room, result string, err error) {
	n.metrics.casts.WithLabelValues(result).Inc()
	if err != nil {
		n.log.Warn("cast a caption to the room's other nodes", "room", room, "err", err)
	}
}

// castReceived hands another node's cast to the room's live meeting.
func (n *Node) castReceived(c federation.Cast) {
	if c.Kind != castCaption {
		n.log.Debug("cast of an unknown kind ignored", "room", c.Room, "node", c.Node, "kind", c.Kind)
		return
	}
	cc, err := decodeCaptionCast(c.Data)
	if err != nil {
		n.log.Debug("caption from another node refused", "room", c.Room, "node", c.Node, "err", err)
		return
	}
	n.meetings.RemoteCaption(c.Room, c.Node, cc.From, cc.SFrame)
}

// decodeCaptionCast reads a caption cast strictly.
func decodeCaptionCast(data []byte) (captionCast, error) {
	var cc captionCast
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc); err != nil {
		return captionCast{}, err
	}
	if dec.More() {
		return captionCast{}, errors.New("data after the caption")
	}
	if cc.From == "" || len(cc.From) > signal.MaxIDLen || len(cc.SFrame) == 0 || len(cc.SFrame) > signal.MaxChatCiphertext {
		return captionCast{}, errors.New("caption without a sender or with a bad ciphertext")
	}
	return cc, nil
}
