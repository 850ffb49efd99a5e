// signalling.js — Parley web client: the WebSocket to the home node.
//
// One JSON object per WebSocket text message, as package parley/media/signal defines them.
// This module only moves messages; it never interprets them. The caller decides what to do when
// the socket closes (the app reconnects with backoff).

// What the node sends is not held to signal.MaxMessageSize (64 KiB, for what clients send):
// joined carries every participant's certificate and up to 200 chat messages of ciphertext.
const MAX_MESSAGE = 8 << 20;
const PING_EVERY = 15000;
const SILENCE_LIMIT = 40000; // no message at all for this long: the connection is dead

/** wsURL is the signalling URL of a room on the node that served this page. */
export function wsURL(roomId) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(roomId)}`;
}

/**
 * Signalling wraps one WebSocket. onMessage gets every decoded object with a string "type";
 * onClose(reason) is called exactly once, whether the socket failed to open, dropped, went
 * silent, or close() was called (then reason.byUs is true).
 */
export class Signalling {
  constructor(url, { onMessage, onClose }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.closed = false;
    this.lastHeard = 0;
    this.pinger = 0;
    this.rejectOpen = null;
  }

  /** open connects; it resolves when the socket is open and rejects if it never opens. */
  open() {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        reject(err);
        this.finish({ byUs: false, error: err });
        return;
      }
      this.ws = ws;
      this.rejectOpen = reject;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.rejectOpen = null;
        this.lastHeard = Date.now();
        this.pinger = setInterval(() => this.tick(), PING_EVERY);
        resolve();
      };
      ws.onmessage = (ev) => {
        this.lastHeard = Date.now();
        if (typeof ev.data !== 'string' || ev.data.length > MAX_MESSAGE) {
          console.warn('parley: ignoring a non-text or oversized signalling message');
          return;
        }
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch (err) {
          console.warn('parley: ignoring undecodable signalling message', err);
          return;
        }
        if (!m || typeof m !== 'object' || typeof m.type !== 'string') {
          console.warn('parley: ignoring signalling message without a type');
          return;
        }
        try {
          this.onMessage(m);
        } catch (err) {
          console.error('parley: handling', m.type, err);
        }
      };
      ws.onerror = () => {}; // onclose follows and says the rest
      ws.onclose = (ev) => {
        if (!opened) reject(new Error(`could not connect to the node (code ${ev.code})`));
        this.finish({ byUs: false, code: ev.code, text: ev.reason });
      };
    });
  }

  tick() {
    if (Date.now() - this.lastHeard > SILENCE_LIMIT) {
      // The node stopped answering pings: treat the connection as lost.
      const ws = this.ws;
      this.finish({ byUs: false, code: 4000, text: 'no answer from the node' });
      try { ws.close(); } catch (_) { /* already closing */ }
      return;
    }
    this.send({ type: 'ping' });
  }

  /** send writes one message; false if the socket is not open. */
  send(m) {
    const ws = this.ws;
    if (this.closed || !ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(m));
      return true;
    } catch (err) {
      console.warn('parley: send', m.type, err);
      return false;
    }
  }

  /** close ends the connection on purpose. */
  close() {
    const ws = this.ws;
    this.finish({ byUs: true });
    if (ws) {
      try { ws.close(1000, 'bye'); } catch (_) { /* already closed */ }
    }
  }

  finish(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    if (this.rejectOpen) {
      this.rejectOpen(new Error('connection closed before it opened'));
      this.rejectOpen = null;
    }
    if (this.ws) {
      this.ws.onmessage = null;
      this.ws.onclose = null;
    }
    try {
      this.onClose(reason);
    } catch (err) {
      console.error('parley: onClose', err);
    }
  }
}
