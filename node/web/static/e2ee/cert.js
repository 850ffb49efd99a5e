// cert.js — certificates: a home node vouching for a participant's keys in a room.
//
// A signed object under the prefix "parley-cert-v1\n", signed by the home node's key:
//
//	body: {"v":1,"id":"<participant id>","tag":<uint32>,"name":"<display name>",
//	       "org":"<node name>","node":"<b64u node public key>","room":"<room id>",
//	       "sig_pub":"<b64u>","age":"age1…","iat":<s>,"exp":<s>}
//
// A person their home node signed in gets a version 2 body: "v":2 and the same fields plus
// "iss", "sub" and "email" (the identity provider's issuer, the person's subject there, and
// their e-mail address, possibly empty). Only a version 2 certificate makes a participant
// "verified"; a version 1 body is a guest, whose name is what they typed.
//
// A client accepts a certificate only if its body is well formed, node is a node key it
// trusts, the signature verifies with it, room is its room and iat-60 <= now <= exp. The body
// names the key that signed it, so it is parsed (strictly, at most 4096 bytes) first; nothing
// in it is used before the signature has verified.

import { Encrypter } from '../vendor/age-encryption.js';
import { fromB64u, utf8, equalBytes } from './encoding.js';
import { parseObject, T } from './json.js';
import { CERT_PREFIX, MAX_BODY, verify, signedObject } from './signed.js';

export const CERT_LIFETIME = 12 * 60 * 60; // seconds
export const CLOCK_SKEW = 60; // seconds a certificate may be early
export const MAX_ID_LEN = 64;
export const MAX_NAME_LEN = 64; // code points
export const MAX_ORG_LEN = 200; // UTF-8 bytes
export const MAX_ISS_LEN = 200; // UTF-8 bytes
export const MAX_SUB_LEN = 255; // UTF-8 bytes
export const MAX_MAIL_LEN = 254; // UTF-8 bytes

/** CertificateError is a certificate the client must not accept; reason says why. */
export class CertificateError extends Error {
  constructor(message) {
    super(`bad certificate: ${message}`);
    this.name = 'CertificateError';
  }
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const AGE_RE = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

/** checkID accepts 1 to 64 characters of A-Z a-z 0-9 _ -. */
export function checkID(field, s) {
  if (typeof s !== 'string' || !ID_RE.test(s)) throw new Error(`${field} must be 1 to ${MAX_ID_LEN} characters of A-Z a-z 0-9 _ -`);
}

function checkText(field, s, limit, n) {
  if (/^\p{White_Space}*$/u.test(s) || n > limit) throw new Error(`${field} must be 1 to ${limit} characters and not blank`);
  if (/\p{Cc}/u.test(s)) throw new Error(`${field} contains a control character`);
}

/** checkAgeRecipient accepts exactly the canonical (lower-case) spelling of an X25519 recipient. */
export function checkAgeRecipient(s) {
  if (typeof s !== 'string' || !AGE_RE.test(s)) throw new Error('not a canonical age X25519 recipient');
  new Encrypter().addRecipient(s); // checks the checksum and the key length
}

function sigPub(field, s) {
  let b;
  try {
    b = fromB64u(s);
  } catch {
    b = null;
  }
  if (!b || b.length !== 32 || s.length !== 43) throw new Error(`${field} must be a 32-byte key in b64u`);
  return b;
}

const schema = {
  v: T.int, id: T.string, tag: T.uint32, name: T.string, org: T.string, node: T.string,
  room: T.string, sig_pub: T.string, age: T.string, iat: T.int, exp: T.int,
};
const schemaV2 = { ...schema, iss: T.string, sub: T.string, email: T.string };

// version reads the body's "v" leniently, only to choose the schema; the strict parse that
// follows checks everything, a repeated "v" included.
function version(text) {
  try {
    const o = JSON.parse(text);
    return o && typeof o === 'object' ? o.v : undefined;
  } catch {
    return undefined;
  }
}

/** AGENT_ISSUER is identity.AgentIssuer: the issuer of the certificate of an agent a node runs. */
export const AGENT_ISSUER = 'urn:parley:agent';

/**
 * parseCertBody reads a certificate body strictly and checks the form of every field, as
 * package parley/identity does; it checks no signature, room or time. The result has the
 * JSON's fields, plus nodeKey and sigPubKey as raw bytes, verified (a version 2 body of a
 * signed-in person) and agent (a version 2 body of an agent the node runs).
 */
export function parseCertBody(text) {
  if (utf8(text).length > MAX_BODY) throw new Error(`body is over ${MAX_BODY} bytes`);
  const b = parseObject(text, version(text) === 2 ? schemaV2 : schema);
  if (b.v !== 1 && b.v !== 2) throw new Error(`version ${b.v}, want 1 or 2`);
  if (b.v === 2) {
    checkText('iss', b.iss, MAX_ISS_LEN, utf8(b.iss).length);
    checkText('sub', b.sub, MAX_SUB_LEN, utf8(b.sub).length);
    if (b.email !== '') checkText('email', b.email, MAX_MAIL_LEN, utf8(b.email).length);
  }
  // An agent the node runs (the transcriber) has a version 2 certificate with this issuer:
  // it is shown as an agent, never as a signed-in person.
  b.agent = b.v === 2 && b.iss === AGENT_ISSUER;
  b.verified = b.v === 2 && !b.agent;
  checkID('id', b.id);
  checkID('room', b.room);
  checkText('name', b.name, MAX_NAME_LEN, [...b.name].length);
  checkText('org', b.org, MAX_ORG_LEN, utf8(b.org).length);
  b.nodeKey = sigPub('node', b.node);
  b.sigPubKey = sigPub('sig_pub', b.sig_pub);
  try {
    checkAgeRecipient(b.age);
  } catch (err) {
    throw new Error(`age: ${err.message}`);
  }
  if (b.iat <= 0 || b.exp <= b.iat || b.exp - b.iat > CERT_LIFETIME) {
    throw new Error(`iat ${b.iat} and exp ${b.exp}: want 0 < iat < exp <= iat+${CERT_LIFETIME}`);
  }
  return b;
}

function trustedKeys(trusted) {
  return trusted.map((k) => (typeof k === 'string' ? fromB64u(k) : k));
}

/**
 * verifyCertificate checks a certificate (a signed object, parsed or as JSON text) and returns
 * its body, or throws a CertificateError.
 *
 * @param {object|string} signed
 * @param {{trusted: Array<string|Uint8Array>, room: string, now?: number}} opts
 *   trusted: the node keys to trust (b64u or raw); room: the client's room; now: unix seconds.
 */
export async function verifyCertificate(signed, { trusted, room, now = Math.floor(Date.now() / 1000) }) {
  let o;
  let b;
  try {
    o = signedObject(signed);
    b = parseCertBody(o.body);
  } catch (err) {
    throw new CertificateError(err.message);
  }
  let keys;
  try {
    keys = trustedKeys(trusted || []);
  } catch {
    throw new CertificateError('a trusted node key is not b64u');
  }
  if (!keys.some((k) => equalBytes(k, b.nodeKey))) {
    throw new CertificateError(`issued by node ${b.node}, which is not trusted`);
  }
  try {
    await verify(o, CERT_PREFIX, b.nodeKey);
  } catch (err) {
    throw new CertificateError(err.message);
  }
  if (b.room !== room) throw new CertificateError(`it is for room "${b.room}", not "${room}"`);
  if (now < b.iat - CLOCK_SKEW) throw new CertificateError(`not valid before ${b.iat - CLOCK_SKEW}`);
  if (now > b.exp) throw new CertificateError(`expired at ${b.exp}`);
  return b;
}
