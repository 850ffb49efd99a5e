// identity.js — the participant's identity: an Ed25519 signing key and an age X25519 identity.
//
// Both private keys are WebCrypto keys generated non-extractable: page script can use them
// (sign, and derive X25519 shared secrets inside the age library) but never read them. They
// are made once per browser profile and kept in IndexedDB, which stores CryptoKey objects as
// they are, so a participant keeps the same keys, and so the same safety codes, across visits.
//
// Public parts, as package parley/identity spells them: sig_pub is the raw 32-byte Ed25519
// public key in b64u, age is the X25519 recipient "age1…".

import { identityToRecipient } from '../vendor/age-encryption.js';
import { b64u } from './encoding.js';

const DB_NAME = 'parley-e2ee';
const DB_VERSION = 1;
const STORE = 'identities';
const RECORD_VERSION = 1;

/** Identity is a participant identity. Construct it with generateIdentity or loadIdentity. */
export class Identity {
  /**
   * @param {{sign: CryptoKeyPair, age: CryptoKeyPair, created: number}} keys
   * @param {Uint8Array} sigPub raw Ed25519 public key
   * @param {string} ageRecipient "age1…"
   */
  constructor(keys, sigPub, ageRecipient) {
    this.keys = keys;
    this.sigPubBytes = sigPub;
    this.sigPub = b64u(sigPub);
    this.ageRecipient = ageRecipient;
    this.created = keys.created;
  }

  /** ageIdentity is the X25519 private key, for the age library's Decrypter.addIdentity. */
  get ageIdentity() {
    return this.keys.age.privateKey;
  }

  /** sign returns the Ed25519 signature of bytes. */
  async sign(bytes) {
    return new Uint8Array(await crypto.subtle.sign('Ed25519', this.keys.sign.privateKey, bytes));
  }

  /** publicKeys are the keys a client sends in join: {sig_pub, age}. */
  publicKeys() {
    return { sig_pub: this.sigPub, age: this.ageRecipient };
  }

  /** extractable says whether either private key could be read out (it never should be). */
  get extractable() {
    return this.keys.sign.privateKey.extractable || this.keys.age.privateKey.extractable;
  }

  static async fromKeys(keys) {
    const sigPub = new Uint8Array(await crypto.subtle.exportKey('raw', keys.sign.publicKey));
    const ageRecipient = await identityToRecipient(keys.age.privateKey);
    return new Identity(keys, sigPub, ageRecipient);
  }
}

async function generateKeys() {
  const [sign, age] = await Promise.all([
    crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']),
    crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']),
  ]);
  return { sign, age, created: Date.now() };
}

/** generateIdentity makes a fresh identity that is not stored anywhere. */
export async function generateIdentity() {
  return Identity.fromKeys(await generateKeys());
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDB() {
  const req = indexedDB.open(DB_NAME, DB_VERSION);
  req.onupgradeneeded = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE);
  };
  req.onblocked = () => console.warn('parley: the identity database is blocked by another tab');
  return request(req);
}

function validRecord(r) {
  const pair = (p, priv) =>
    p && p.privateKey instanceof CryptoKey && p.publicKey instanceof CryptoKey &&
    p.privateKey.algorithm.name === priv && p.publicKey.algorithm.name === priv;
  return r && r.v === RECORD_VERSION && pair(r.sign, 'Ed25519') && pair(r.age, 'X25519') &&
    Number.isFinite(r.created);
}

/**
 * loadIdentity returns the identity stored under name in this browser profile, making and
 * storing it on first use. Two tabs that race both end up with the one that was stored first.
 * It throws where IndexedDB is unavailable; a caller may then use generateIdentity, whose keys
 * last for the visit only.
 */
export async function loadIdentity(name = 'default') {
  const fresh = await generateKeys();
  const db = await openDB();
  try {
    const keys = await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      let chosen = null;
      const get = store.get(name);
      get.onsuccess = () => {
        if (validRecord(get.result)) {
          chosen = get.result;
          return;
        }
        if (get.result !== undefined) console.warn('parley: replacing an unreadable stored identity');
        chosen = { v: RECORD_VERSION, ...fresh };
        store.put(chosen, name);
      };
      tx.oncomplete = () => resolve(chosen);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('identity transaction aborted'));
    });
    return await Identity.fromKeys(keys);
  } finally {
    db.close();
  }
}

/** forgetIdentity deletes the identity stored under name (the next load makes a new one). */
export async function forgetIdentity(name = 'default') {
  const db = await openDB();
  try {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).delete(name);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}
