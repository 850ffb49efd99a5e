// e2ee-status.js — Parley web client: whether each remote participant's media decrypts, and
// the meeting's encryption status in words.
//
// The frame worker (e2ee/transform-worker.js) reports, at most once a second, how many frames
// each KID decrypted ("stats") and which frames it dropped because they did not decrypt
// ("undecryptable"). A KID names its sender through the sender tag of a certificate. From
// that, per participant:
//
//   ok        frames decrypt
//   failing   frames have failed for FAILING_AFTER ms with none decrypting since: the tile says
//             "Cannot decrypt NAME's media" (the worker drops such frames: no garbage shows)
//   waiting   frames fail, but not for long yet (a key on its way)
//   none      no frames seen (nothing published)
//
// The status text is exactly "encrypted" when our own key is in use and no verified remote
// participant is failing or waiting, and no participant is unverified.


import { t } from './i18n.js';

export const FAILING_AFTER = 1500; // ms of failures, with no success, before a tile says so
const STALE = 2500; // ms after the last failure report that a failing state lasts

/** DecryptionMonitor keeps each sender's decryption state. tagOwner(tag) names a participant. */
export class DecryptionMonitor {
  constructor(tagOwner, now = () => performance.now()) {
    this.tagOwner = tagOwner;
    this.now = now;
    this.counts = new Map(); // kid string -> frames decrypted so far
    this.state = new Map(); // participant id -> {lastOk, failStart, lastFail}
  }

  entry(id) {
    let s = this.state.get(id);
    if (!s) {
      s = { lastOk: null, failStart: null, lastFail: null };
      this.state.set(id, s);
    }
    return s;
  }

  /** stats takes the worker's {decrypted: {kid: n}}. */
  stats(m) {
    const t = this.now();
    const decrypted = m && typeof m.decrypted === 'object' ? m.decrypted : {};
    for (const [kid, n] of Object.entries(decrypted)) {
      if (!(n > (this.counts.get(kid) || 0))) continue;
      this.counts.set(kid, n);
      const id = this.tagOwner(Math.floor(Number(kid) / 65536));
      if (!id) continue;
      const s = this.entry(id);
      s.lastOk = t;
      s.failStart = null;
    }
  }

  /** undecryptable takes the worker's {tag, participant, reason, count}. */
  undecryptable(m) {
    const id = (m.tag !== null && m.tag !== undefined && this.tagOwner(m.tag)) || m.participant;
    if (!id) return;
    const t = this.now();
    const s = this.entry(id);
    if (s.failStart === null) s.failStart = t;
    s.lastFail = t;
  }

  /** forget drops a participant who left. */
  forget(id) {
    this.state.delete(id);
  }

  /** of returns a participant's state: 'ok', 'failing', 'waiting' or 'none'. */
  of(id) {
    const s = this.state.get(id);
    if (!s) return 'none';
    const t = this.now();
    if (s.failStart !== null && t - s.lastFail < STALE) {
      if (t - s.failStart >= FAILING_AFTER) return 'failing';
      return s.lastOk !== null ? 'ok' : 'waiting';
    }
    return s.lastOk !== null ? 'ok' : 'none';
  }
}

/**
 * describe turns the meeting's state into the indicator: {state, text, kind, detail} where
 * state is 'not-verified', 'not-decrypting', 'waiting' or 'encrypted' (the same in every
 * language: [data-testid=e2ee-status] carries it as data-state), text and detail are in the
 * language shown, and kind is 'ok', 'wait' or 'bad'. people: [{name, verified, media}] for
 * the remote participants.
 */
export function describe({ sending, people }) {
  const unverified = people.filter((p) => p.verified === false).map((p) => p.name);
  if (unverified.length > 0) {
    const names = list(unverified);
    return { state: 'not-verified', text: t('e2ee.notVerified', { names }), kind: 'bad', detail: t('e2ee.notVerifiedDetail', { names }) };
  }
  const failing = people.filter((p) => p.media === 'failing').map((p) => p.name);
  if (failing.length > 0) {
    const names = list(failing);
    return { state: 'not-decrypting', text: t('e2ee.notDecrypting', { names }), kind: 'bad', detail: t('e2ee.notDecryptingDetail', { names }) };
  }
  if (!sending || people.some((p) => p.media === 'waiting' || p.verified === undefined)) {
    return { state: 'waiting', text: t('e2ee.waiting'), kind: 'wait', detail: t('e2ee.waitingDetail') };
  }
  return { state: 'encrypted', text: t('e2ee.encrypted'), kind: 'ok', detail: t('e2ee.encryptedDetail') };
}

/** list names at most two people and how many more, in the language shown. */
function list(names) {
  const shown = names.slice(0, 2).map((n) => n || t('react.someone'));
  return names.length > 2 ? t('e2ee.andMore', { names: shown.join(', '), count: names.length - 2 }) : shown.join(', ');
}
