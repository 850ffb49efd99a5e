// envelope.js — key envelopes: a sender's media base key for one KID, wrapped with age for
// every admitted participant and signed with the sender's identity.
//
// A signed object under the prefix "parley-key-v1\n", signed by the sender's sig_pub:
//
//	body: {"v":1,"room":"<room id>","from":"<participant id>","kid":<KID>,
//	       "to":["<participant id>",…],"age":"<standard base64 of the binary age file>",
//	       "iat_ms":<unix ms>}
//
// The age file is ONE age message to the X25519 recipients of everyone in "to", whose
// plaintext repeats room, from and kid and carries the key:
//
//	{"room":"<room id>","from":"<participant id>","kid":<KID>,"key":"<b64u 16-byte base key>"}

import { Encrypter, Decrypter } from '../vendor/age-encryption.js';
import { b64, fromB64, b64u, fromB64u, utf8, fromUTF8 } from './encoding.js';
import { parseObject, T } from './json.js';
import { ENVELOPE_PREFIX, MAX_ENVELOPE_BODY, sign, verify, signedObject } from './signed.js';
import { checkID, checkAgeRecipient } from './cert.js';
import { splitKID } from './sframe.js';

export const MAX_RECIPIENTS = 1024;
export const BASE_KEY_SIZE = 16;
const MAX_PLAINTEXT = 512;

/** EnvelopeError is an envelope that must not be accepted. */
export class EnvelopeError extends Error {
  constructor(message) {
    super(`bad key envelope: ${message}`);
    this.name = 'EnvelopeError';
  }
}

/** NotForMeError is a valid envelope that is not addressed to this identity. */
export class NotForMeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotForMeError';
  }
}

const bodySchema = { v: T.int, room: T.string, from: T.string, kid: T.kid, to: T.strings, age: T.string, iat_ms: T.int };
const plainSchema = { room: T.string, from: T.string, kid: T.kid, key: T.string };

function checkBody(b) {
  if (b.v !== 1) throw new Error(`version ${b.v}, want 1`);
  checkID('room', b.room);
  checkID('from', b.from);
  if (b.to.length === 0 || b.to.length > MAX_RECIPIENTS) throw new Error(`${b.to.length} recipients, want 1 to ${MAX_RECIPIENTS}`);
  const seen = new Set();
  for (const id of b.to) {
    checkID('recipient', id);
    if (seen.has(id)) throw new Error(`recipient "${id}" is named twice`);
    seen.add(id);
  }
  if (b.iat_ms < 0) throw new Error(`iat_ms ${b.iat_ms} is negative`);
}

/**
 * parseEnvelope reads an envelope's body strictly WITHOUT checking its signature, to find whom
 * it is from. Nothing in it may be trusted before openEnvelope. The age field is returned
 * decoded, as ageFile.
 */
export function parseEnvelope(signed) {
  try {
    const o = signedObject(signed);
    if (utf8(o.body).length > MAX_ENVELOPE_BODY) throw new Error(`body is over ${MAX_ENVELOPE_BODY} bytes`);
    const b = parseObject(o.body, bodySchema);
    let file;
    try {
      file = fromB64(b.age);
    } catch {
      file = null;
    }
    if (!file || file.length === 0) throw new Error('age is not a non-empty message in canonical standard base64');
    checkBody(b);
    b.ageFile = file;
    return b;
  } catch (err) {
    if (err instanceof EnvelopeError) throw err;
    throw new EnvelopeError(err.message);
  }
}

/**
 * sealEnvelope announces baseKey (16 bytes) for kid to the recipients ([{id, age}], from their
 * certificates) and signs it with identity. It returns the signed object.
 *
 * @param {import('./identity.js').Identity} identity the sender
 * @param {{room: string, from: string, kid: number, baseKey: Uint8Array,
 *          to: Array<{id: string, age: string}>, nowMs?: number}} args
 */
export async function sealEnvelope(identity, { room, from, kid, baseKey, to, nowMs = Date.now() }) {
  if (!(baseKey instanceof Uint8Array) || baseKey.length !== BASE_KEY_SIZE) {
    throw new TypeError(`envelope: base key must be ${BASE_KEY_SIZE} bytes`);
  }
  splitKID(kid); // in range
  const enc = new Encrypter();
  for (const r of to) {
    try {
      checkAgeRecipient(r.age);
    } catch (err) {
      throw new Error(`envelope: recipient "${r.id}": ${err.message}`);
    }
    enc.addRecipient(r.age);
  }
  const body = { v: 1, room, from, kid: Number(kid), to: to.map((r) => r.id), age: '', iat_ms: nowMs };
  checkBody(body);
  const inner = JSON.stringify({ room, from, kid: Number(kid), key: b64u(baseKey) });
  body.age = b64(await enc.encrypt(utf8(inner)));
  const text = JSON.stringify(body);
  if (utf8(text).length > MAX_ENVELOPE_BODY) throw new RangeError('envelope: body too large');
  return sign(identity, ENVELOPE_PREFIX, text);
}

/**
 * openEnvelope checks an envelope from the participant whose (already verified) certificate
 * is sender and returns {kid, key} for identity. It accepts the envelope only if the signature
 * verifies with sender's sig_pub, the body is well formed, room is the body's and the
 * certificate's room, from is the certificate's id, kid>>16 is its tag, and the age message
 * opens with identity to a plaintext that repeats room, from and kid and holds a 16-byte key.
 * A valid envelope identity cannot open throws NotForMeError; anything else EnvelopeError.
 *
 * @param {object|string} signed
 * @param {{sender: object, identity: import('./identity.js').Identity, room: string}} opts
 *   sender: the body returned by verifyCertificate for the participant named in "from".
 */
export async function openEnvelope(signed, { sender, identity, room }) {
  if (!sender || !identity) throw new EnvelopeError('no sender certificate or no identity');
  try {
    await verify(signed, ENVELOPE_PREFIX, sender.sigPubKey);
  } catch (err) {
    throw new EnvelopeError(err.message);
  }
  const b = parseEnvelope(signed);
  if (b.room !== room) throw new EnvelopeError(`it is for room "${b.room}", not "${room}"`);
  if (sender.room !== room) throw new EnvelopeError(`the sender's certificate is for room "${sender.room}", not "${room}"`);
  if (b.from !== sender.id) throw new EnvelopeError(`it is from "${b.from}", but the certificate is "${sender.id}"'s`);
  const { tag } = splitKID(b.kid);
  if (tag !== sender.tag) throw new EnvelopeError(`kid ${b.kid} has tag ${tag}, the sender's is ${sender.tag}`);

  const dec = new Decrypter();
  dec.addIdentity(identity.ageIdentity);
  let plain;
  try {
    plain = await dec.decrypt(b.ageFile);
  } catch (err) {
    if (/no identity matched/.test(String(err && err.message))) {
      throw new NotForMeError(`key envelope for kid ${b.kid} from ${b.from} is not addressed to this identity`);
    }
    throw new EnvelopeError(`age: ${err && err.message}`);
  }
  if (plain.length > MAX_PLAINTEXT) throw new EnvelopeError(`plaintext is over ${MAX_PLAINTEXT} bytes`);
  let k;
  try {
    k = parseObject(fromUTF8(plain), plainSchema);
  } catch (err) {
    throw new EnvelopeError(`plaintext: ${err.message}`);
  }
  if (k.room !== b.room || k.from !== b.from || k.kid !== b.kid) {
    throw new EnvelopeError(`plaintext names room "${k.room}", from "${k.from}", kid ${k.kid}; the body "${b.room}", "${b.from}", ${b.kid}`);
  }
  let key;
  try {
    key = fromB64u(k.key);
  } catch {
    key = null;
  }
  if (!key || key.length !== BASE_KEY_SIZE || k.key.length !== 22) throw new EnvelopeError('key is not 16 bytes in b64u');
  return { kid: b.kid, key };
}
