// e2ee-session.js — Parley web client: one joined session's end-to-end encryption, as package
// parley/identity defines it (the same job as the Go client's e2ee.go).
//
//   joined        verify our own certificate and everyone's against the node keys named in
//                 joined.node_keys; a participant whose certificate fails is never sent a key
//                 and none of its keys is accepted (shown as not verified)
//   key schedule  our own epochs (keyschedule.js): a new one on every change of the verified
//                 membership (200 ms debounce) and every 10 minutes, announced in ONE envelope
//                 to every verified participant, used 300 ms later; we keep our own keys too,
//                 to read our own chat
//   "key"         an envelope from someone else: opened with our age identity, its key goes to
//                 the frame worker and to the ring that reads chat; a sender's older keys are
//                 erased 10 s after a newer one, all of them when it leaves
//   chat          SFrame under our current key with CTR >= 2^63; history from before we joined
//                 was sent under keys we never held and stays locked
//
// Everything that reads or changes keys runs through one queue, in the order the node's
// messages arrived, so a participant's certificate is always checked before its envelope.

import { verifyCertificate } from './e2ee/cert.js';
import { NotForMeError, openEnvelope, parseEnvelope, sealEnvelope } from './e2ee/envelope.js';
import { FrameSender, SFrameKey, openChat, splitKID } from './e2ee/sframe.js';
import { safetyCode } from './e2ee/safety.js';
import { b64, fromB64 } from './e2ee/encoding.js';
import { KeyRing } from './e2ee/keyring.js';
import { KeySchedule } from './keyschedule.js';

const EXPIRE_EVERY = 1000; // ms between sweeps of expired receive keys
const FIRST_KEY_WAIT = 5000; // ms chat waits for our first key after joining
const CHAT_KEY_WAIT = 3000; // ms a live chat message under a key not here yet waits for it
// CAPTION_CONTEXT is signal.CaptionContext: a caption is sealed over the room ID and this, so
// that it can never pass for a chat message nor a chat message for a caption.
const CAPTION_CONTEXT = '/captions';
const MAX_HELD = 16384; // KIDs remembered as once held

/** Chat lock reasons (ChatResult.locked). */
export const LOCK_BEFORE = 'before'; // sent under a key we never held: before we joined
export const LOCK_NO_KEY = 'nokey'; // live, but under a key we were not given
export const LOCK_BROKEN = 'broken'; // does not decrypt, or is not an SFrame at all

/**
 * E2EESession holds the keys of one joined session. media is the frame worker
 * (e2ee/transform.js MediaEncryption), send(msg) writes a signalling message, onChange() is
 * called when what the UI shows (verification, safety codes, the sending key) changes.
 */
export class E2EESession {
  constructor({ identity, roomId, media, send, onChange = () => {} }) {
    Object.assign(this, { identity, roomId, media, send, onChange });
    this.trusted = [];
    this.own = null; // our certificate's body
    this.peers = new Map(); // participant id -> {id, name, cert, error, safety}
    this.byTag = new Map(); // sender tag -> participant id (verified peers and us)
    this.ring = new KeyRing(); // received keys and our own, for chat
    this.held = new Set(); // every KID ever held, to tell chat from before we joined
    this.chat = new FrameSender(); // media has its own in the worker; CTR spaces differ
    this.schedule = null;
    this.sendingKID = null;
    this.queue = Promise.resolve();
    this.keyWaiters = new Map(); // kid -> [resolve]: chat waiting for that key
    this.closed = false;
    this.timer = 0;
    this.expireTimer = 0;
    this.firstKey = new Promise((resolve) => { this.gotFirstKey = resolve; });
  }

  /**
   * run queues f after everything queued before it. Its result (or undefined when it threw:
   * the error is logged) resolves the returned promise, which never rejects.
   */
  run(f) {
    const p = this.queue.then(() => (this.closed ? undefined : f())).catch((err) => {
      if (!this.closed) console.warn('parley e2ee:', err && err.message ? err.message : err);
      return undefined;
    });
    this.queue = p;
    return p;
  }

  /**
   * start takes the joined message: the node keys to trust, our certificate and everyone's.
   * It rejects if our own certificate does not verify or certifies other keys than ours; the
   * caller must then not go on.
   */
  start(joined) {
    this.trusted = Array.isArray(joined.node_keys) ? joined.node_keys.filter((k) => typeof k === 'string') : [];
    const started = this.queue.then(async () => {
      const you = joined.you || {};
      const own = await verifyCertificate(you.cert, { trusted: this.trusted, room: this.roomId });
      if (own.id !== you.id) throw new Error(`our certificate is for "${own.id}", not "${you.id}"`);
      if (own.sig_pub !== this.identity.sigPub || own.age !== this.identity.ageRecipient) {
        throw new Error('the node certified other keys than ours');
      }
      this.own = own;
      this.byTag.set(own.tag, own.id);
      for (const p of Array.isArray(joined.participants) ? joined.participants : []) {
        if (p && typeof p === 'object' && p.id !== own.id) await this.verifyPeer(p);
      }
      this.schedule = new KeySchedule(own.tag, Date.now());
      this.expireTimer = setInterval(() => this.expire(), EXPIRE_EVERY);
      this.step();
      this.onChange();
    });
    this.queue = started.catch(() => {});
    return started;
  }

  /** verifyPeer checks p's certificate and records the outcome; it reports whether it passed. */
  async verifyPeer(p) {
    const peer = { id: p.id, name: typeof p.name === 'string' ? p.name : '', cert: null, error: '', safety: null };
    this.peers.set(p.id, peer);
    try {
      if (!p.cert) throw new Error('no certificate');
      const cert = await verifyCertificate(p.cert, { trusted: this.trusted, room: this.roomId });
      if (cert.id !== p.id) throw new Error(`the certificate is for "${cert.id}"`);
      if (this.byTag.has(cert.tag)) throw new Error(`sender tag ${cert.tag} is taken`);
      peer.cert = cert;
      this.byTag.set(cert.tag, p.id);
    } catch (err) {
      peer.error = err && err.message ? err.message : String(err);
      console.warn(`parley e2ee: participant ${p.id} (${peer.name}) not verified:`, peer.error);
      return false;
    }
    const us = { sigPub: this.identity.sigPubBytes, age: this.identity.ageRecipient };
    safetyCode(us, { sigPub: peer.cert.sigPubKey, age: peer.cert.age })
      .then((code) => {
        peer.safety = code;
        this.onChange();
      })
      .catch((err) => console.warn('parley e2ee: safety code', err));
    return true;
  }

  /** joinedParticipant takes participant_joined (or an update about someone unknown). */
  joinedParticipant(p) {
    return this.run(async () => {
      if (!this.own || this.peers.has(p.id)) return;
      if (await this.verifyPeer(p)) {
        this.schedule.membershipChanged(Date.now());
        this.step();
      }
      this.onChange();
    });
  }

  /** leftParticipant forgets a participant and its keys; the others get new keys from us. */
  leftParticipant(id) {
    return this.run(() => {
      const peer = this.peers.get(id);
      this.peers.delete(id);
      if (!peer || !peer.cert) return;
      this.byTag.delete(peer.cert.tag);
      this.erase(this.ring.removeTag(peer.cert.tag));
      this.schedule.membershipChanged(Date.now());
      this.step();
      this.onChange();
    });
  }

  /** receiveEnvelope opens a "key" message's envelope and keeps its key. */
  receiveEnvelope(env) {
    return this.run(async () => {
      const body = parseEnvelope(env);
      const peer = this.peers.get(body.from);
      if (!peer || !peer.cert) throw new Error(`key envelope from ${body.from}, who is not a verified participant here`);
      let opened;
      try {
        opened = await openEnvelope(env, { sender: peer.cert, identity: this.identity, room: this.roomId });
      } catch (err) {
        if (err instanceof NotForMeError) return; // a node only relays what names us; ignore
        throw err;
      }
      const kid = Number(opened.kid);
      await this.keep(kid, opened.key);
      await this.media.addKey(kid, opened.key, peer.id);
      this.onChange();
    });
  }

  /** step runs the key schedule now and arms its timer for the next thing due. */
  step() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.run(() => this.advance());
  }

  /** advance does what the key schedule has due and arms the timer for what comes next. */
  async advance() {
    if (!this.schedule) return;
    const a = this.schedule.tick(Date.now());
    if (a.announce) await this.announce(a.announce);
    if (a.switchTo) await this.switchTo(a.switchTo);
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.step(), Math.max(0, this.schedule.due() - Date.now()));
  }

  /**
   * announce sends a new epoch's key in one envelope to every verified participant. Chat
   * moves to it at once: a message goes after the envelope on the same path, so everyone
   * it was sealed for has the key first (media waits for the switch: its frames take
   * another path).
   */
  async announce(k) {
    await this.keep(k.kid, k.baseKey);
    const to = [];
    for (const p of this.peers.values()) if (p.cert) to.push({ id: p.id, age: p.cert.age });
    if (to.length > 0) {
      const envelope = await sealEnvelope(this.identity, {
        room: this.roomId, from: this.own.id, kid: k.kid, baseKey: k.baseKey, to,
      });
      if (this.closed) return;
      this.send({ type: 'key', envelope });
    }
    this.schedule.sent(k.kid, Date.now());
    this.chat.setKey(this.ring.lookup(k.kid) || await SFrameKey.create(k.baseKey, k.kid));
    this.gotFirstKey();
  }

  /** switchTo makes k the key our frames are encrypted with. */
  async switchTo(k) {
    await this.media.setKey(k.kid, k.baseKey);
    this.sendingKID = k.kid;
    this.onChange();
  }

  /** keep puts a key in the ring that reads chat (the ring retires the sender's older keys). */
  async keep(kid, baseKey) {
    await this.ring.add(kid, baseKey, Date.now());
    if (this.held.size >= MAX_HELD) this.held.clear(); // bounded; it only words a lock
    this.held.add(kid);
    const waiting = this.keyWaiters.get(kid);
    this.keyWaiters.delete(kid);
    for (const resolve of waiting || []) resolve(true);
  }

  /** waitKey resolves to true once kid is held, or to false after ms or when closed. */
  waitKey(kid, ms) {
    if (this.held.has(kid)) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const list = this.keyWaiters.get(kid) || [];
      list.push(resolve);
      this.keyWaiters.set(kid, list);
      setTimeout(() => resolve(false), ms);
    });
  }

  expire() {
    this.erase(this.ring.expire(Date.now()));
  }

  /** erase removes keys from the frame worker too. */
  erase(kids) {
    for (const kid of kids) this.media.removeKey(kid).catch(() => {});
  }

  /**
   * encryptChat returns the SFrame of text under our newest announced key, in standard
   * base64. When someone just joined and their key is about to be announced (within the
   * debounce), it waits for that announcement, so the newcomer can read the message.
   */
  async encryptChat(text) {
    let timer = 0;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('no encryption key yet; try again in a moment')), FIRST_KEY_WAIT);
    });
    try {
      await Promise.race([this.firstKey, timeout]);
    } finally {
      clearTimeout(timer);
    }
    const s = this.schedule;
    const due = s ? s.announceAt - Date.now() : Infinity;
    if (due > 0 && due <= s.cfg.debounce) await new Promise((r) => setTimeout(r, due));
    const sealed = await this.run(async () => {
      await this.advance();
      return this.chat.sealChat(this.roomId, text);
    });
    if (!sealed) throw new Error('the message could not be encrypted');
    return b64(sealed);
  }

  /**
   * decryptChat reads a chat message (signal ChatMessage). It resolves to {text} or {locked}
   * with a LOCK_* reason; live says it arrived now rather than in the history.
   */
  decryptChat(c, live) {
    return this.openChatMessage(c).then(async (r) => {
      if (r.missing === undefined) return r;
      // A live message under a key on its way (an envelope still being opened, or relayed
      // on another path) is read once the key is here.
      if (live && await this.waitKey(r.missing, CHAT_KEY_WAIT)) r = await this.openChatMessage(c);
      return r.missing === undefined ? r : { locked: live ? LOCK_NO_KEY : LOCK_BEFORE };
    });
  }

  /**
   * decryptCaption reads a caption of the meeting's transcriber (signal Caption): resolves
   * to its CaptionText object, or null when it cannot be read.
   */
  async decryptCaption(c) {
    const room = this.roomId + CAPTION_CONTEXT;
    let r = await this.openChatMessage(c, room);
    if (r.missing !== undefined && await this.waitKey(r.missing, CHAT_KEY_WAIT)) r = await this.openChatMessage(c, room);
    if (r.text === undefined) return null;
    try {
      const ct = JSON.parse(r.text);
      return ct && typeof ct === 'object' && typeof ct.text === 'string' ? ct : null;
    } catch {
      return null;
    }
  }

  /**
   * openChatMessage decrypts c (sealed over metadata room: the room's ID for chat): {text},
   * {locked}, or {missing: kid} for a key never held.
   */
  openChatMessage(c, room = this.roomId) {
    return this.run(async () => {
      let bytes;
      try {
        bytes = fromB64(String(c.sframe || ''));
      } catch {
        return { locked: LOCK_BROKEN };
      }
      try {
        const r = await openChat((kid) => this.ring.lookup(kid), room, bytes);
        const { tag } = splitKID(r.kid);
        if (this.byTag.get(tag) !== c.from) return { locked: LOCK_BROKEN }; // someone else's key
        return { text: r.text };
      } catch (err) {
        if (err && err.code === 'unknown_kid' && err.kid !== null && !this.held.has(Number(err.kid))) {
          return { missing: Number(err.kid) };
        }
        return { locked: LOCK_BROKEN };
      }
    }).then((r) => r || { locked: LOCK_BROKEN });
  }

  /** peer returns what is known of a participant: {cert, error, safety}, or undefined. */
  peer(id) {
    return this.peers.get(id);
  }

  /** participantOfTag names the participant whose certificate has tag (us included). */
  participantOfTag(tag) {
    return this.byTag.get(tag);
  }

  close() {
    this.closed = true;
    for (const list of this.keyWaiters.values()) for (const resolve of list) resolve(false);
    this.keyWaiters.clear();
    clearTimeout(this.timer);
    clearInterval(this.expireTimer);
    this.ring.erase([...this.ring.keys.keys()]);
  }
}
