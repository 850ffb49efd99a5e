// encoding.js — byte and text encodings of the end-to-end encryption formats.
//
// b64u is base64url without padding (RFC 4648 §5), used for keys and signatures; standard
// base64 with padding carries age files and chat ciphertext. Decoders are strict: wrong
// alphabet, padding where there should be none (or none where there should be), and
// non-canonical trailing bits are errors, as they are for Go's encoding/base64 Strict decoders.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function encode(bytes, alphabet, pad) {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (pad ? '=' : '');
  }
  return out;
}

function decode(s, alphabet, pad, what) {
  if (typeof s !== 'string') throw new TypeError(`${what}: not a string`);
  let body = s;
  if (pad) {
    if (s.length % 4 !== 0) throw new Error(`${what}: length is not a multiple of 4`);
    if (s.endsWith('==')) body = s.slice(0, -2);
    else if (s.endsWith('=')) body = s.slice(0, -1);
  }
  if (body.length % 4 === 1) throw new Error(`${what}: impossible length`);
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const v = alphabet.indexOf(body[i]);
    if (v < 0) throw new Error(`${what}: invalid character at ${i}`);
    acc = ((acc << 6) | v) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) throw new Error(`${what}: non-zero trailing bits`);
  return out;
}

/** b64u encodes bytes as base64url without padding. */
export function b64u(bytes) {
  return encode(bytes, B64U, false);
}

/** fromB64u decodes base64url without padding, strictly. */
export function fromB64u(s) {
  return decode(s, B64U, false, 'b64u');
}

/** b64 encodes bytes as standard base64 with padding. */
export function b64(bytes) {
  return encode(bytes, B64, true);
}

/** fromB64 decodes standard base64 with padding, strictly. */
export function fromB64(s) {
  return decode(s, B64, true, 'base64');
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** utf8 encodes a string as UTF-8. */
export function utf8(s) {
  return encoder.encode(s);
}

/** fromUTF8 decodes UTF-8; invalid UTF-8 is an error. */
export function fromUTF8(bytes) {
  return decoder.decode(bytes);
}

/** concat joins byte arrays. */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** compareBytes orders byte arrays bytewise, a shorter prefix first (-1, 0 or 1). */
export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** equalBytes says whether two byte arrays are equal. */
export function equalBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** hex encodes bytes as lowercase hexadecimal (for logs and tests). */
export function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** fromHex decodes hexadecimal. */
export function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new Error('hex: invalid');
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
