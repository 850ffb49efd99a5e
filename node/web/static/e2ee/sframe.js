// sframe.js — SFrame (RFC 9605) for media frames and chat, as package parley/identity defines
// it: cipher suite AES_128_GCM_SHA256_128 (0x0004) only, through WebCrypto.
//
// Header (RFC 9605 §4.3), KID and CTR big-endian in their minimal lengths:
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+------------------+------------------+
//	|X|  K  |Y|  C  | KID (K+1 bytes)  | CTR (C+1 bytes)  |
//	+-+-+-+-+-+-+-+-+------------------+------------------+
//	X=0: K is the KID itself (0..7) and no KID bytes follow; likewise Y=0 for the CTR.
//
// Keys (RFC 9605 §4.4), from a 16-byte base key:
//
//	secret = HKDF-Extract(salt="", base_key)
//	key    = HKDF-Expand(secret, "SFrame 1.0 Secret key "  || KID (8 bytes BE) || 0x0004, 16)
//	salt   = HKDF-Expand(secret, "SFrame 1.0 Secret salt " || KID (8 bytes BE) || 0x0004, 12)
//	nonce  = salt XOR (CTR as 12 bytes BE)
//
// An SFrame ciphertext is header || AES-GCM(key, nonce, aad = header || metadata, plaintext)
// (the 16-byte tag last). Media frames keep a codec-dependent clear prefix in front:
//
//	+------------------+---------------+---------------------------+----------+
//	| clear (C bytes)  | SFrame header | ciphertext of the rest    | tag (16) |
//	+------------------+---------------+---------------------------+----------+
//	AAD = SFrame header || clear
//
// KIDs and CTRs are BigInts inside (chat CTRs are >= 2^63); functions also take safe-integer
// Numbers. Every key is a non-extractable WebCrypto key.

import { concat, utf8, fromUTF8 } from './encoding.js';

export const SUITE = 0x0004;
export const BASE_KEY_SIZE = 16;
export const TAG_SIZE = 16;
export const MAX_HEADER_SIZE = 17;
/** CHAT_CTR_BASE is the first chat CTR: chat CTRs have the high bit set, media CTRs never. */
export const CHAT_CTR_BASE = 1n << 63n;
/** REPLAY_WINDOW is how many of a KID's latest CTRs a receiver remembers. */
export const REPLAY_WINDOW = 1024;
/** MAX_FRAME bounds an encoded media frame (a 4K keyframe is well under this). */
export const MAX_FRAME = 8 << 20;
/** MAX_CHAT bounds an encrypted chat message. */
export const MAX_CHAT = 64 << 10;
/** MAX_CHAT_ROOM bounds the room id (UTF-8 bytes) that goes into chat metadata. */
export const MAX_CHAT_ROOM = 256;

export const CODEC_VP8 = 'vp8';
export const CODEC_OPUS = 'opus';

const U64_MAX = (1n << 64n) - 1n;
const CHAT_PREFIX = 'parley-chat-v1\n';

/** SFrameError is a frame or message that does not open; code says why. */
export class SFrameError extends Error {
  /**
   * @param {'header'|'unknown_kid'|'auth'|'replay'|'ctr'|'size'} code
   * @param {string} message
   * @param {bigint|null} kid the frame's KID when its header parsed
   */
  constructor(code, message, kid = null) {
    super(message);
    this.name = 'SFrameError';
    this.code = code;
    this.kid = kid;
  }
}

/** u64 turns a KID or CTR (BigInt or safe non-negative integer) into a BigInt in [0, 2^64). */
export function u64(x, what = 'value') {
  let v;
  if (typeof x === 'bigint') v = x;
  else if (Number.isSafeInteger(x)) v = BigInt(x);
  else throw new TypeError(`sframe: ${what} ${x} is not an integer`);
  if (v < 0n || v > U64_MAX) throw new RangeError(`sframe: ${what} ${x} is out of range`);
  return v;
}

function byteLength(v) {
  let n = 1;
  while (v >> BigInt(8 * n) !== 0n) n++;
  return n;
}

function putBE(out, off, v, n) {
  for (let i = n - 1; i >= 0; i--) {
    out[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function getBE(buf, off, n) {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[off + i]);
  return v;
}

/** encodeHeader returns the SFrame header of (kid, ctr). */
export function encodeHeader(kid, ctr) {
  const k = u64(kid, 'KID');
  const c = u64(ctr, 'CTR');
  const kn = k < 8n ? 0 : byteLength(k);
  const cn = c < 8n ? 0 : byteLength(c);
  const out = new Uint8Array(1 + kn + cn);
  let config = 0;
  if (kn === 0) config |= Number(k) << 4;
  else config |= 0x80 | ((kn - 1) << 4);
  if (cn === 0) config |= Number(c);
  else config |= 0x08 | (cn - 1);
  out[0] = config;
  if (kn) putBE(out, 1, k, kn);
  if (cn) putBE(out, 1 + kn, c, cn);
  return out;
}

/**
 * parseHeader reads the SFrame header at buf[offset]: {kid, ctr, size}. A truncated header or
 * one not in minimal form (a long KID or CTR that would fit shorter) is an SFrameError.
 */
export function parseHeader(buf, offset = 0) {
  if (offset >= buf.length) throw new SFrameError('header', 'sframe: no header');
  const config = buf[offset];
  const x = (config & 0x80) !== 0;
  const kv = (config >> 4) & 7;
  const y = (config & 0x08) !== 0;
  const cv = config & 7;
  const kn = x ? kv + 1 : 0;
  const cn = y ? cv + 1 : 0;
  const size = 1 + kn + cn;
  if (offset + size > buf.length) throw new SFrameError('header', 'sframe: truncated header');
  const kid = x ? getBE(buf, offset + 1, kn) : BigInt(kv);
  const ctr = y ? getBE(buf, offset + 1 + kn, cn) : BigInt(cv);
  if ((x && (kid < 8n || byteLength(kid) !== kn)) || (y && (ctr < 8n || byteLength(ctr) !== cn))) {
    throw new SFrameError('header', 'sframe: header not in minimal form', kid);
  }
  return { kid, ctr, size };
}

function kidLabel(prefix, kid) {
  const label = new Uint8Array(prefix.length + 10);
  label.set(utf8(prefix));
  putBE(label, prefix.length, kid, 8);
  label[prefix.length + 8] = SUITE >> 8;
  label[prefix.length + 9] = SUITE & 0xff;
  return label;
}

function checkBaseKey(baseKey) {
  if (!(baseKey instanceof Uint8Array) || baseKey.length !== BASE_KEY_SIZE) {
    throw new TypeError(`sframe: base key must be ${BASE_KEY_SIZE} bytes`);
  }
}

/**
 * deriveKeyMaterial returns the raw SFrame key (16 bytes) and salt (12 bytes) of a base key
 * and KID. Only tests need the raw key; SFrameKey.create keeps it inside WebCrypto.
 */
export async function deriveKeyMaterial(baseKey, kid) {
  checkBaseKey(baseKey);
  const k = u64(kid, 'KID');
  const ikm = await crypto.subtle.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const hkdf = (info, bits) =>
    crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, ikm, bits);
  const [key, salt] = await Promise.all([
    hkdf(kidLabel('SFrame 1.0 Secret key ', k), 128),
    hkdf(kidLabel('SFrame 1.0 Secret salt ', k), 96),
  ]);
  return { key: new Uint8Array(key), salt: new Uint8Array(salt) };
}

/** SFrameKey is one KID's derived key (a non-extractable AES-GCM key) and salt. */
export class SFrameKey {
  constructor(kid, cryptoKey, salt) {
    this.kid = kid;
    this.cryptoKey = cryptoKey;
    this.salt = salt;
  }

  /** create derives the SFrame key of a 16-byte base key for a KID. */
  static async create(baseKey, kid) {
    const k = u64(kid, 'KID');
    const m = await deriveKeyMaterial(baseKey, k);
    const cryptoKey = await crypto.subtle.importKey('raw', m.key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    m.key.fill(0);
    return new SFrameKey(k, cryptoKey, m.salt);
  }

  /** nonce is salt XOR CTR (as 12 bytes big-endian). */
  nonce(ctr) {
    const n = new Uint8Array(12);
    putBE(n, 4, u64(ctr, 'CTR'), 8);
    for (let i = 0; i < 12; i++) n[i] ^= this.salt[i];
    return n;
  }
}

/** seal returns the SFrame ciphertext header || ciphertext || tag of plaintext. */
export async function seal(key, ctr, metadata, plaintext) {
  const header = encodeHeader(key.kid, ctr);
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: key.nonce(ctr), additionalData: concat(header, metadata), tagLength: 128 },
    key.cryptoKey,
    plaintext,
  );
  return concat(header, new Uint8Array(ct));
}

/**
 * open decrypts an SFrame ciphertext whose header has already been parsed (hdr from
 * parseHeader at the start of sframe) with key, which must be the key of hdr.kid.
 */
export async function open(key, hdr, sframe, metadata) {
  if (key.kid !== hdr.kid) throw new SFrameError('unknown_kid', 'sframe: key is for another KID', hdr.kid);
  if (sframe.length < hdr.size + TAG_SIZE) throw new SFrameError('size', 'sframe: too short', hdr.kid);
  const header = sframe.subarray(0, hdr.size);
  try {
    const pt = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: key.nonce(hdr.ctr), additionalData: concat(header, metadata), tagLength: 128 },
      key.cryptoKey,
      sframe.subarray(hdr.size),
    );
    return new Uint8Array(pt);
  } catch {
    throw new SFrameError('auth', `sframe: KID ${hdr.kid} CTR ${hdr.ctr} does not authenticate`, hdr.kid);
  }
}

// ---- media frames ----

/**
 * clearLength is how many leading bytes of an encoded frame stay in the clear:
 * VP8: 10 on a keyframe (bit 0 of the first byte is 0), else 3; Opus: 1 (the TOC byte); never
 * more than the frame has. The receiver applies it to the received bytes.
 */
export function clearLength(codec, frame) {
  let c;
  switch (codec) {
    case CODEC_VP8:
      c = frame.length > 0 && (frame[0] & 1) === 0 ? 10 : 3;
      break;
    case CODEC_OPUS:
      c = 1;
      break;
    default:
      throw new TypeError(`sframe: unknown codec ${codec}`);
  }
  return Math.min(c, frame.length);
}

/** sealFrame encrypts one encoded frame: clear || header || ciphertext || tag. */
export async function sealFrame(key, ctr, codec, frame) {
  const c = clearLength(codec, frame);
  const clear = frame.subarray(0, c);
  return concat(clear, await seal(key, ctr, clear, frame.subarray(c)));
}

/** parseFrame finds the clear prefix and the SFrame header of a received media frame. */
export function parseFrame(codec, data) {
  if (data.length > MAX_FRAME + MAX_HEADER_SIZE + TAG_SIZE) throw new SFrameError('size', 'sframe: frame too large');
  const c = clearLength(codec, data);
  const hdr = parseHeader(data, c);
  return { clear: c, hdr };
}

/** openFrame decrypts one received frame with key (the key of its KID) and returns the frame. */
export async function openFrame(key, codec, data, parsed = parseFrame(codec, data)) {
  const { clear, hdr } = parsed;
  const pt = await open(key, hdr, data.subarray(clear), data.subarray(0, clear));
  return concat(data.subarray(0, clear), pt);
}

/**
 * ReplayWindow remembers which of the last REPLAY_WINDOW CTRs of one KID were accepted. A CTR
 * older than the window is refused, since whether it was seen is no longer known.
 */
export class ReplayWindow {
  constructor() {
    this.top = -1n; // highest accepted CTR
    this.bits = new Uint32Array(REPLAY_WINDOW / 32);
  }

  /** fresh says whether ctr may still be accepted. */
  fresh(ctr) {
    if (ctr > this.top) return true;
    if (this.top - ctr >= BigInt(REPLAY_WINDOW)) return false;
    const i = Number(ctr % BigInt(REPLAY_WINDOW));
    return (this.bits[i >> 5] & (1 << (i & 31))) === 0;
  }

  /** accept records ctr; it returns false (and records nothing) if ctr is not fresh. */
  accept(ctr) {
    if (!this.fresh(ctr)) return false;
    if (ctr > this.top) {
      const gap = ctr - this.top;
      if (gap >= BigInt(REPLAY_WINDOW)) this.bits.fill(0);
      else for (let c = this.top + 1n; c < ctr; c++) this.clear(c);
      this.clear(ctr);
      this.top = ctr;
    }
    const i = Number(ctr % BigInt(REPLAY_WINDOW));
    this.bits[i >> 5] |= 1 << (i & 31);
    return true;
  }

  clear(ctr) {
    const i = Number(ctr % BigInt(REPLAY_WINDOW));
    this.bits[i >> 5] &= ~(1 << (i & 31));
  }
}

/**
 * FrameSender encrypts a sender's media frames and chat under its current key. Media CTRs
 * count from 0 per key (and stay below 2^63), chat CTRs from 2^63: every track of a sender
 * must go through the same FrameSender, or nonces repeat.
 */
export class FrameSender {
  constructor() {
    this.key = null;
    this.ctr = 0n;
    this.chatCtr = CHAT_CTR_BASE;
  }

  /** setKey makes key (an SFrameKey) the current key; its CTRs start again at 0. */
  setKey(key) {
    this.key = key;
    this.ctr = 0n;
    this.chatCtr = CHAT_CTR_BASE;
  }

  /** kid is the current key's KID, or null before the first key. */
  get kid() {
    return this.key ? this.key.kid : null;
  }

  /** sealFrame encrypts one encoded frame; it throws if there is no key yet. */
  async sealFrame(codec, frame) {
    const key = this.key;
    if (!key) throw new Error('sframe: no sending key yet');
    if (this.ctr >= CHAT_CTR_BASE) throw new Error('sframe: media CTRs of this key are exhausted');
    const ctr = this.ctr++;
    return sealFrame(key, ctr, codec, frame);
  }

  /** sealChat encrypts a chat message of the room; the result travels in standard base64. */
  async sealChat(roomId, text) {
    const key = this.key;
    if (!key) throw new Error('sframe: no sending key yet');
    if (this.chatCtr > U64_MAX) throw new Error('sframe: chat CTRs of this key are exhausted');
    const ctr = this.chatCtr++;
    return sealChat(key, ctr, roomId, text);
  }
}

/**
 * FrameReceiver decrypts received media frames and chat. lookup(kid: bigint) returns the
 * SFrameKey of a KID or undefined. It keeps replay windows per KID (media and chat apart) and
 * refuses a (KID, CTR) it already accepted or that is older than the window; only frames that
 * authenticated are recorded. Every track of a sender must go through the same receiver.
 */
export class FrameReceiver {
  constructor(lookup) {
    this.lookup = lookup;
    this.windows = new Map(); // kid (bigint) -> {media: ReplayWindow, chat: ReplayWindow}
  }

  keyFor(kid) {
    const key = this.lookup(kid);
    if (!key || key.kid !== kid) throw new SFrameError('unknown_kid', `sframe: no key for KID ${kid}`, kid);
    return key;
  }

  window(kid, chat) {
    let w = this.windows.get(kid);
    if (!w) {
      w = { media: new ReplayWindow(), chat: new ReplayWindow() };
      this.windows.set(kid, w);
    }
    return chat ? w.chat : w.media;
  }

  accept(kid, ctr, chat) {
    if (!this.window(kid, chat).accept(ctr)) {
      throw new SFrameError('replay', `sframe: KID ${kid} CTR ${ctr} replayed or too old`, kid);
    }
  }

  /** openFrame returns {kid, ctr, frame} or throws an SFrameError. */
  async openFrame(codec, data) {
    const parsed = parseFrame(codec, data);
    const { kid, ctr } = parsed.hdr;
    if (ctr >= CHAT_CTR_BASE) throw new SFrameError('ctr', 'sframe: media frame with a chat CTR', kid);
    const key = this.keyFor(kid);
    const w = this.windows.get(kid);
    if (w && !w.media.fresh(ctr)) throw new SFrameError('replay', `sframe: KID ${kid} CTR ${ctr} replayed or too old`, kid);
    const frame = await openFrame(key, codec, data, parsed);
    this.accept(kid, ctr, false);
    return { kid, ctr, frame };
  }

  /** openChat decrypts a chat message of the room: {kid, ctr, text}, or an SFrameError. */
  async openChat(roomId, sframe) {
    const res = await openChat((kid) => this.keyFor(kid), roomId, sframe);
    this.accept(res.kid, res.ctr, true);
    return res;
  }

  /** forget drops the replay windows of a KID whose key was erased. */
  forget(kid) {
    this.windows.delete(u64(kid, 'KID'));
  }
}

// ---- chat ----

function chatMetadata(roomId) {
  return utf8(CHAT_PREFIX + roomId);
}

/** sealChat encrypts chat text under key with a chat CTR (>= 2^63). */
export async function sealChat(key, ctr, roomId, text) {
  const c = u64(ctr, 'CTR');
  if (utf8(roomId).length > MAX_CHAT_ROOM) throw new RangeError('sframe: room id too long for chat');
  if (utf8(text).length + MAX_HEADER_SIZE + TAG_SIZE > MAX_CHAT) throw new RangeError('sframe: chat text too long');
  if (c < CHAT_CTR_BASE) throw new RangeError('sframe: chat CTR below 2^63');
  return seal(key, c, chatMetadata(roomId), utf8(text));
}

/**
 * openChat decrypts a chat message of the room; lookup(kid: bigint) returns the SFrameKey of a
 * KID. It returns {kid, ctr, text} or throws an SFrameError. It keeps no replay state:
 * FrameReceiver.openChat does.
 */
export async function openChat(lookup, roomId, sframe) {
  if (sframe.length > MAX_CHAT) throw new SFrameError('size', 'sframe: chat message too large');
  if (utf8(roomId).length > MAX_CHAT_ROOM) throw new RangeError('sframe: room id too long for chat');
  const hdr = parseHeader(sframe, 0);
  if (hdr.ctr < CHAT_CTR_BASE) throw new SFrameError('ctr', 'sframe: chat with a media CTR', hdr.kid);
  const key = lookup(hdr.kid);
  if (!key) throw new SFrameError('unknown_kid', `sframe: no key for KID ${hdr.kid}`, hdr.kid);
  const pt = await open(key, hdr, sframe, chatMetadata(roomId));
  let text;
  try {
    text = fromUTF8(pt);
  } catch {
    throw new SFrameError('auth', 'sframe: chat text is not UTF-8', hdr.kid);
  }
  return { kid: hdr.kid, ctr: hdr.ctr, text };
}

// ---- KIDs ----

/** makeKID is tag<<16 | epoch, as a Number (always below 2^48). */
export function makeKID(tag, epoch) {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffffffff) throw new RangeError('sframe: tag out of range');
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffff) throw new RangeError('sframe: epoch out of range');
  return tag * 65536 + epoch;
}

/** splitKID returns {tag, epoch} of a KID (Number or BigInt below 2^48). */
export function splitKID(kid) {
  const k = u64(kid, 'KID');
  if (k >= 1n << 48n) throw new RangeError('sframe: KID above 2^48');
  return { tag: Number(k >> 16n), epoch: Number(k & 0xffffn) };
}
