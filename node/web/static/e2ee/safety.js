// safety.js — the safety code two participants compare aloud.
//
// For participants A and B, with P = sig_pub (32 bytes) || UTF-8 age recipient for each,
// ordered so that P1 <= P2 bytewise:
//
//	code = first 8 bytes of SHA-256("parley-safety-v1" || P1 || P2), as a big-endian uint64,
//	       mod 10^12, as 12 decimal digits in three groups of four: "0123 4567 8901"
//
// Both sides get the same code; it changes if either side's keys change.

import { fromB64u, utf8, concat, compareBytes } from './encoding.js';

const DOMAIN = 'parley-safety-v1';

function party(p) {
  const sig = typeof p.sigPub === 'string' ? fromB64u(p.sigPub) : p.sigPub;
  if (!(sig instanceof Uint8Array) || sig.length !== 32) throw new TypeError('safety: sig_pub must be 32 bytes');
  if (typeof p.age !== 'string' || !p.age.startsWith('age1')) throw new TypeError('safety: age must be an age recipient');
  return concat(sig, utf8(p.age));
}

/**
 * safetyCode returns the safety code of two participants, each {sigPub, age}: sigPub raw
 * bytes or b64u (a certificate's sig_pub), age the "age1…" recipient.
 */
export async function safetyCode(a, b) {
  let p1 = party(a);
  let p2 = party(b);
  if (compareBytes(p1, p2) > 0) [p1, p2] = [p2, p1];
  const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', concat(utf8(DOMAIN), p1, p2)));
  const n = new DataView(sum.buffer).getBigUint64(0, false) % 10n ** 12n;
  const d = n.toString().padStart(12, '0');
  return `${d.slice(0, 4)} ${d.slice(4, 8)} ${d.slice(8)}`;
}
