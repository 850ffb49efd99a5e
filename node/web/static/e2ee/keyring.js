// keyring.js — the keys a receiver holds, by KID, with the retention rule of the key schedule.
//
// A sender's newest epoch stays until a newer one arrives or the sender leaves (removeTag);
// older ones are kept for RETAIN_MS after that, for late frames, and then erased by expire.
// Epochs compare modulo 2^16, so a sender whose epochs wrap around keeps going. The same rules
// as package parley/identity's KeyRing; lookup fits FrameReceiver.
//
//	KID = tag<<16 | epoch      (tag: 32 bits, epoch: 16 bits; below 2^48)

import { SFrameKey, splitKID } from './sframe.js';
import { equalBytes } from './encoding.js';

export const RETAIN_MS = 10000;

function newerEpoch(a, b) {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

/** KeyRing holds receive keys; see the file comment. */
export class KeyRing {
  constructor(retainMs = RETAIN_MS) {
    this.retainMs = retainMs > 0 ? retainMs : RETAIN_MS;
    this.keys = new Map(); // kid (Number) -> {base, key: SFrameKey, expires: ms or 0}
    this.newest = new Map(); // tag -> newest epoch
  }

  /**
   * add keeps a 16-byte base key for kid. The same key again changes nothing; a different key
   * for a KID already held is an error (a sender that starts over needs removeTag first).
   */
  async add(kid, baseKey, nowMs = Date.now()) {
    const { tag, epoch } = splitKID(kid);
    const k = Number(kid);
    const have = this.keys.get(k);
    if (have) {
      if (equalBytes(have.base, baseKey)) return;
      throw new Error(`keyring: a different key for KID ${k}, which is already held`);
    }
    const key = await SFrameKey.create(baseKey, k);
    if (this.keys.has(k)) return this.add(kid, baseKey, nowMs); // added meanwhile: check again
    const entry = { base: new Uint8Array(baseKey), key, expires: 0 };
    const cur = this.newest.get(tag);
    if (cur !== undefined && !newerEpoch(epoch, cur)) {
      entry.expires = nowMs + this.retainMs;
    } else {
      this.newest.set(tag, epoch);
      for (const [other, o] of this.keys) {
        if (splitKID(other).tag === tag && o.expires === 0) o.expires = nowMs + this.retainMs;
      }
    }
    this.keys.set(k, entry);
  }

  /** lookup returns the SFrameKey of kid (Number or BigInt), or undefined. */
  lookup(kid) {
    return this.keys.get(Number(kid))?.key;
  }

  /** has says whether the ring holds kid. */
  has(kid) {
    return this.keys.has(Number(kid));
  }

  /** expire erases every key whose retention has passed and returns their KIDs, in order. */
  expire(nowMs = Date.now()) {
    const gone = [];
    for (const [kid, k] of this.keys) if (k.expires !== 0 && nowMs >= k.expires) gone.push(kid);
    return this.erase(gone);
  }

  /** removeTag erases every key of a sender tag (the sender left) and returns their KIDs. */
  removeTag(tag) {
    const gone = [];
    for (const kid of this.keys.keys()) if (splitKID(kid).tag === tag) gone.push(kid);
    this.newest.delete(tag);
    return this.erase(gone);
  }

  erase(kids) {
    kids.sort((a, b) => a - b);
    for (const kid of kids) {
      this.keys.get(kid).base.fill(0);
      this.keys.delete(kid);
    }
    return kids;
  }
}
