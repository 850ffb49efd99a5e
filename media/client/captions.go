package client

import (
	"encoding/json"
	"fmt"
	"time"

	"parley/media/signal"
)

// Live captions: the meeting's transcriber sends them sealed with its chat key over the
// metadata ROOM/captions; every client reads them like chat.

// Caption is a caption of the meeting's transcriber as the client read it.
type Caption struct {
	From string // the agent's participant id
	Time int64  // unix milliseconds, when the node relayed it
	signal.CaptionText
	// Err says why the caption could not be read; CaptionText is empty then.
	Err error
}

// Captions returns the captions the client received, oldest first (at most the last
// maxChatKept).
func (c *Client) Captions() []Caption {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Caption(nil), c.captions...)
}

// addCaption decrypts m and keeps it.
func (c *Client) addCaption(m *signal.Caption) {
	cp := Caption{From: m.From, Time: m.Time}
	text, _, err := c.e2ee.recv.DecryptChat(c.cfg.Room+signal.CaptionContext, m.SFrame)
	if err == nil {
		err = json.Unmarshal(text, &cp.CaptionText)
	}
	cp.Err = err
	c.mu.Lock()
	defer c.mu.Unlock()
	c.captions = append(c.captions, cp)
	if len(c.captions) > maxChatKept {
		c.captions = append([]Caption(nil), c.captions[len(c.captions)-maxChatKept:]...)
	}
}

// SendCaption sends a caption to the meeting, sealed with the client's chat key (only the
// meeting's transcriber agent may). It waits for a key as SendChat does.
func (c *Client) SendCaption(ct signal.CaptionText) error {
	c.e2ee.activate()
	select {
	case <-c.e2ee.ready:
	case <-c.ctx.Done():
		return ErrClosed
	case <-time.After(firstKeyWait):
		return ErrNoKey
	}
	text, err := json.Marshal(ct)
	if err != nil {
		return err
	}
	sealed, err := c.e2ee.chat.EncryptChat(c.cfg.Room+signal.CaptionContext, text)
	if err != nil {
		return fmt.Errorf("client: encrypt a caption: %w", err)
	}
	return c.send(&signal.Message{Type: signal.TypeCaption, SFrame: sealed})
}
