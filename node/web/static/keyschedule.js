// keyschedule.js — Parley web client: when a sender moves to a new key (package
// parley/identity, "Key schedule"; the receiver's side is e2ee/keyring.js).
//
// KeySchedule is a state machine with no I/O and no timer of its own: e2ee-session.js reports
// membership changes, calls tick when something is due and does what it returns. One epoch at
// a time; a new epoch, with a fresh random base key, when the admitted membership changes
// (at once after a quiet 200 ms; changes within 200 ms of the last new epoch are taken as
// one, at the end of those 200 ms) and every 10 minutes. The new key is announced at
// once and used 300 ms after its envelope went out, so receivers hold it before the first
// frame made with it. A key announced and superseded before its switch is never used (it may
// name someone who has left since).
//
// KIDs are Numbers: tag * 2^16 + epoch (tag: 32 bits from the certificate; epoch: 16 bits),
// below 2^48, so exact. Times are milliseconds (Date.now()).

import { BASE_KEY_SIZE, makeKID } from './e2ee/sframe.js';

export const SCHEDULE = Object.freeze({
  debounce: 200, // membership changes within this of the last new epoch are one rekey
  switchDelay: 300, // announce, then encrypt with the new key this much later
  rotate: 10 * 60 * 1000, // a new epoch at least this often
});

const EPOCHS = 0x10000;

/** randomBaseKey makes a fresh 16-byte base key. */
export function randomBaseKey() {
  return crypto.getRandomValues(new Uint8Array(BASE_KEY_SIZE));
}

/**
 * KeySchedule is one sender's epochs. tick(now) says what is due:
 *   announce  {kid, baseKey}: a new epoch's key, to send in one envelope to everyone admitted
 *             (and to keep, to read one's own chat);
 *   switchTo  {kid, baseKey}: the key to encrypt with from now on;
 *   next      when to call tick again at the latest.
 * The first epoch is due at once.
 */
export class KeySchedule {
  constructor(tag, now, cfg = {}, newKey = randomBaseKey) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) throw new RangeError(`bad sender tag ${tag}`);
    this.cfg = { ...SCHEDULE, ...cfg };
    this.tag = tag;
    this.newKey = newKey;
    this.epoch = -1;
    this.announceAt = now;
    this.lastAnnounce = -Infinity;
    this.pending = null; // announced, not yet switched to
    this.switchAt = Infinity;
    this.current = null; // being encrypted with
  }

  /**
   * sent says the envelope of kid went out at now: the switch to it comes no earlier than
   * cfg.switchDelay after that, however long sealing took.
   */
  sent(kid, now) {
    if (this.pending && this.pending.kid === kid) this.switchAt = Math.max(this.switchAt, now + this.cfg.switchDelay);
  }

  /** due is when tick next has something to do. */
  due() {
    return Math.min(this.announceAt, this.switchAt);
  }

  /**
   * membershipChanged schedules a new epoch: at once, or, within cfg.debounce of the last
   * one, at the end of it (changes then are taken as one).
   */
  membershipChanged(now) {
    this.announceAt = Math.min(this.announceAt, Math.max(now, this.lastAnnounce + this.cfg.debounce));
  }

  tick(now) {
    const out = { announce: null, switchTo: null, next: 0 };
    if (now >= this.announceAt) {
      this.epoch = (this.epoch + 1) % EPOCHS;
      const key = { kid: makeKID(this.tag, this.epoch), baseKey: this.newKey() };
      out.announce = key;
      this.lastAnnounce = now;
      // A key announced but superseded before its switch is never used.
      this.pending = key;
      this.switchAt = now + this.cfg.switchDelay;
      this.announceAt = now + this.cfg.rotate;
    }
    if (this.pending && now >= this.switchAt) {
      out.switchTo = this.pending;
      this.current = this.pending;
      this.pending = null;
      this.switchAt = Infinity;
    }
    out.next = this.due();
    return out;
  }
}
