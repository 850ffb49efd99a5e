// signed.js — signed objects: a body signed under a domain prefix.
//
//	{"body":"<JSON text>","sig":"<b64u Ed25519 signature of prefix || body>"}
//
// The signature covers the UTF-8 bytes of the prefix followed by the body exactly as
// transmitted, so the body travels as a string. A certificate's body is at most 4096 bytes, a
// key envelope's at most 256 KiB (it names every recipient), as package parley/identity has it.

import { fromB64u, b64u, utf8 } from './encoding.js';
import { parseObject, T } from './json.js';

export const CERT_PREFIX = 'parley-cert-v1\n';
export const ENVELOPE_PREFIX = 'parley-key-v1\n';
export const MAX_BODY = 4096;
export const MAX_ENVELOPE_BODY = 256 << 10;
/** MAX_SIGNED_OBJECT bounds the JSON text of a whole signed object. */
export const MAX_SIGNED_OBJECT = 2 * MAX_ENVELOPE_BODY + 256;

/** SignatureError is a signed object whose signature is malformed or does not verify. */
export class SignatureError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SignatureError';
  }
}

/** maxBodyFor is the body limit of signed objects under prefix. */
export function maxBodyFor(prefix) {
  return prefix === ENVELOPE_PREFIX ? MAX_ENVELOPE_BODY : MAX_BODY;
}

/**
 * signedObject checks that o (a parsed object, or its JSON text) is a signed object of exactly
 * the members body and sig, both strings, and returns {body, sig}. It does not verify.
 */
export function signedObject(o) {
  if (typeof o === 'string') {
    if (o.length > MAX_SIGNED_OBJECT) throw new SignatureError('signed object too large');
    return parseObject(o, { body: T.string, sig: T.string });
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new SignatureError('not a signed object');
  const keys = Object.keys(o);
  if (keys.length !== 2 || typeof o.body !== 'string' || typeof o.sig !== 'string') {
    throw new SignatureError('a signed object has exactly the string members body and sig');
  }
  return { body: o.body, sig: o.sig };
}

/** sign makes a signed object of the body text under prefix with an Identity. */
export async function sign(identity, prefix, body) {
  if (typeof body !== 'string') throw new TypeError('signed: body must be JSON text');
  if (utf8(body).length > maxBodyFor(prefix)) throw new RangeError('signed: body too large');
  const sig = await identity.sign(utf8(prefix + body));
  return { body, sig: b64u(sig) };
}

/** importSigPub makes a WebCrypto verification key of a raw 32-byte Ed25519 public key. */
export function importSigPub(raw) {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new SignatureError('public key must be 32 bytes');
  return crypto.subtle.importKey('raw', raw, 'Ed25519', false, ['verify']);
}

/**
 * verify checks that the signed object o is signed by pub (raw 32 bytes) under prefix, with a
 * body within the limit and a 64-byte signature in canonical b64u. It returns the body text,
 * still to be parsed; it throws a SignatureError otherwise.
 */
export async function verify(o, prefix, pub) {
  const { body, sig } = signedObject(o);
  const bytes = utf8(prefix + body);
  if (bytes.length - utf8(prefix).length > maxBodyFor(prefix)) throw new SignatureError('body too large');
  let raw;
  try {
    raw = fromB64u(sig);
  } catch (err) {
    throw new SignatureError(`sig: ${err.message}`);
  }
  if (raw.length !== 64 || sig.length !== 86) throw new SignatureError('sig is not 64 bytes');
  let ok = false;
  try {
    ok = await crypto.subtle.verify('Ed25519', await importSigPub(pub), raw, bytes);
  } catch (err) {
    throw new SignatureError(`public key: ${err.message}`);
  }
  if (!ok) {
    throw new SignatureError('signature does not verify');
  }
  return body;
}
