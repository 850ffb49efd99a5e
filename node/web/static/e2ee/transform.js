// transform.js — the page's side of media encryption: one transform worker
// (transform-worker.js) for all of a client's senders and receivers, and the keys it holds.
//
//	const media = new MediaEncryption({onUndecryptable, onStats});
//	media.attachSender(transceiver.sender, 'video');
//	media.attachReceiver(transceiver.receiver, 'video', participantId);
//	await media.setKey(kid, baseKey);       // own key, 300 ms after announcing it
//	await media.addKey(kid, baseKey, from); // keys from others' envelopes
//	await media.removeKey(kid);             // 10 s after the sender's next key
//
// RTCRtpScriptTransform is used where the browser has it. Otherwise encoded insertable
// streams are, which need every RTCPeerConnection made with {encodedInsertableStreams: true}
// (MediaEncryption.needsInsertableStreams() says so) and the transform attached before the
// connection negotiates.

const WORKER_URL = new URL('./transform-worker.js', import.meta.url);

/** MediaEncryption drives the transform worker. */
export class MediaEncryption {
  /**
   * @param {{onUndecryptable?: (ev: object) => void, onStats?: (ev: object) => void}} handlers
   *   onUndecryptable gets {kid, tag, participant, reason, count}; onStats gets
   *   {decrypted, encrypted, dropped} (see transform-worker.js).
   */
  constructor({ onUndecryptable, onStats } = {}) {
    if (!MediaEncryption.supported()) throw new Error('this browser cannot transform encoded media frames');
    this.worker = new Worker(WORKER_URL, { type: 'module', name: 'parley-e2ee' });
    this.pending = new Map(); // id -> {resolve, reject}
    this.nextId = 1;
    this.worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === 'done') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (p) (m.error ? p.reject(new Error(m.error)) : p.resolve());
      } else if (m.type === 'undecryptable') {
        onUndecryptable?.(m);
      } else if (m.type === 'stats') {
        onStats?.(m);
      }
    };
    this.worker.onerror = (ev) => console.error('parley: e2ee worker failed', ev.message);
  }

  /** supported says whether this browser can encrypt media frames at all. */
  static supported() {
    return typeof Worker !== 'undefined' &&
      (typeof RTCRtpScriptTransform !== 'undefined' || MediaEncryption.needsInsertableStreams());
  }

  /** needsInsertableStreams: peer connections need {encodedInsertableStreams: true}. */
  static needsInsertableStreams() {
    return typeof RTCRtpScriptTransform === 'undefined' && typeof RTCRtpSender !== 'undefined' &&
      'createEncodedStreams' in RTCRtpSender.prototype;
  }

  call(msg, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  attach(rtp, options) {
    if (typeof RTCRtpScriptTransform !== 'undefined') {
      rtp.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = rtp.createEncodedStreams();
    this.worker.postMessage({ type: 'stream', ...options, readable, writable }, [readable, writable]);
  }

  /** attachSender encrypts everything rtpSender sends; kind is 'audio' or 'video'. */
  attachSender(rtpSender, kind, codec) {
    this.attach(rtpSender, { side: 'send', kind, codec });
  }

  /** attachReceiver decrypts what rtpReceiver gets from participant (for events). */
  attachReceiver(rtpReceiver, kind, participant, codec) {
    this.attach(rtpReceiver, { side: 'receive', kind, participant, codec });
  }

  /** setKey makes (kid, 16-byte base key) the sending key; CTRs start again at 0. */
  setKey(kid, key) {
    return this.call({ type: 'setKey', kid, key });
  }

  /** clearKey stops sending: frames are dropped until the next setKey. */
  clearKey() {
    return this.call({ type: 'clearKey' });
  }

  /** addKey lets frames under kid (from participant) be decrypted. */
  addKey(kid, key, participant) {
    return this.call({ type: 'addKey', kid, key, participant });
  }

  /** removeKey erases a receive key. */
  removeKey(kid) {
    return this.call({ type: 'removeKey', kid });
  }

  /** close stops the worker; attached transforms stop passing frames. */
  close() {
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error('e2ee worker closed'));
    this.pending.clear();
  }
}
