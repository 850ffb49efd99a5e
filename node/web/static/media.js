// media.js — Parley web client: local devices and the two WebRTC peer connections.
//
//   pc "pub": this client offers, the node answers. One sending transceiver per source
//             (mic, camera with simulcast rids q/h/f, screen). The offer's "tracks" maps each
//             sending transceiver's mid to {source}. A stopped screen share keeps its
//             transceiver, set inactive and left out of "tracks", and is reused next time.
//   pc "sub": the node offers, this client answers. The offer's "tracks" maps each mid to
//             {id, participant, kind, source}; that map, never track or stream ids, says
//             whose camera, screen or microphone a received track is.
//
// Candidates trickle both ways as {"type":"candidate","pc":…,"candidate":{candidate, sdpMid,
// sdpMLineIndex}}. There are no ICE servers: the node is the only ICE peer.
//
// Every frame is end-to-end encrypted: each sender gets the encrypting transform as soon as
// its transceiver exists (before any frame can flow, and for every simulcast layer), each
// receiver the decrypting one in ontrack. The transforms (e2ee/transform.js) drop frames until
// there is a key, so nothing leaves the browser in the clear.

import { t } from './i18n.js';
import { MediaEncryption } from './e2ee/transform.js';

export const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 600000 },
  { rid: 'f', maxBitrate: 2000000 },
];
const SCREEN_ENCODING = [{ maxBitrate: 2500000, maxFramerate: 15 }];
const ANSWER_TIMEOUT = 15000;
const MAX_PENDING = 64;
const SOURCES = ['mic', 'camera', 'screen'];

// ---- devices ----

/** mediaSupported says whether this page may ask for camera and microphone at all. */
export function mediaSupported() {
  return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

/** canPickSpeaker says whether audio output can be routed to a chosen device. */
export function canPickSpeaker() {
  return typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;
}

/** listDevices returns the devices by kind; labels are empty until permission is granted. */
export async function listDevices() {
  const out = { audioinput: [], videoinput: [], audiooutput: [] };
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return out;
  try {
    for (const d of await navigator.mediaDevices.enumerateDevices()) {
      if (out[d.kind] && d.deviceId) out[d.kind].push(d);
    }
  } catch (err) {
    console.warn('parley: enumerateDevices', err);
  }
  return out;
}

function audioConstraints(deviceId) {
  const c = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  if (deviceId) c.deviceId = deviceId; // "ideal": falls back to another device if it is gone
  return c;
}

function videoConstraints(deviceId) {
  const c = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  if (deviceId) c.deviceId = deviceId;
  return c;
}

/**
 * acquire asks for the microphone and/or camera. It never throws: it returns the tracks it
 * got and, per kind, the error that kept the other from being acquired.
 */
export async function acquire({ audio = false, video = false, micId = '', camId = '' }) {
  const res = { audio: null, video: null, audioError: null, videoError: null };
  if (!audio && !video) return res;
  if (!mediaSupported()) {
    const err = new Error('insecure');
    err.name = 'InsecureContext';
    if (audio) res.audioError = err;
    if (video) res.videoError = err;
    return res;
  }
  const take = (stream) => {
    for (const t of stream.getTracks()) {
      if (t.kind === 'audio' && !res.audio) res.audio = t;
      else if (t.kind === 'video' && !res.video) res.video = t;
      else t.stop();
    }
  };
  try {
    take(await navigator.mediaDevices.getUserMedia({
      audio: audio ? audioConstraints(micId) : false,
      video: video ? videoConstraints(camId) : false,
    }));
    return res;
  } catch (err) {
    if (!(audio && video) || err.name === 'NotAllowedError' || err.name === 'SecurityError') {
      if (audio) res.audioError = err;
      if (video) res.videoError = err;
      return res;
    }
  }
  // One of the two is missing or busy: try each alone so the other still works.
  try { take(await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(micId) })); } catch (err) { res.audioError = err; }
  try { take(await navigator.mediaDevices.getUserMedia({ video: videoConstraints(camId) })); } catch (err) { res.videoError = err; }
  return res;
}

/**
 * describeMediaError says, in the language shown, why a device could not be used. what is
 * the device: 'camera', 'mic' or 'both'.
 */
export function describeMediaError(err, what) {
  const name = err && err.name;
  const [denied, notFound, busy, failed] = MEDIA_ERRORS[what] || MEDIA_ERRORS.both;
  switch (name) {
    case 'InsecureContext':
      return t('media.insecure');
    case 'NotAllowedError':
    case 'SecurityError':
      return t(denied);
    case 'NotFoundError':
    case 'OverconstrainedError':
      return t(notFound);
    case 'NotReadableError':
    case 'AbortError':
      return t(busy);
    default:
      return t(failed, { error: err && err.message ? err.message : name || '?' });
  }
}

// MEDIA_ERRORS are the messages of describeMediaError for each kind of device: denied, not
// found, busy, failed.
const MEDIA_ERRORS = {
  camera: ['media.cameraDenied', 'media.cameraNotFound', 'media.cameraBusy', 'media.cameraFailed'],
  mic: ['media.micDenied', 'media.micNotFound', 'media.micBusy', 'media.micFailed'],
  both: ['media.bothDenied', 'media.bothNotFound', 'media.bothBusy', 'media.bothFailed'],
};

// ---- peer connections ----

/**
 * Call owns one joined session's two peer connections. send(msg) writes a signalling message.
 * Callbacks: onTrack(mid, info, track) and onTrackGone(mid, info) as the node's offers add and
 * remove tracks; onFailed(pc) when a connection fails for good; onError(err) for the rest.
 */
export class Call {
  constructor({ send, encryption, onTrack, onTrackGone, onFailed, onError }) {
    if (!encryption) throw new Error('a call needs its frame encryption');
    Object.assign(this, { send, encryption, onTrack, onTrackGone, onFailed, onError });
    this.transformed = new WeakSet(); // receivers that have the decrypting transform
    this.untransformed = new WeakSet(); // receivers it could not be given: never shown
    this.closed = false;
    this.pub = null;
    this.tx = { mic: null, camera: null, screen: null }; // pub transceivers by source
    this.stream = new MediaStream();
    this.pubBusy = null;
    this.pubAgain = false;
    this.pubWaiter = null;
    this.subTracks = new Map(); // mid -> {id, participant, kind, source}
    this.routed = new Map(); // mid -> {key, info, track}
    this.sub = this.newPeer('sub');
    this.sub.pc.ontrack = (e) => {
      const mid = e.transceiver ? e.transceiver.mid : null;
      this.decrypt(e.receiver, e.track, mid);
      if (mid != null && !this.untransformed.has(e.receiver)) this.route(mid, e.track);
    };
  }

  newPeer(name) {
    // pub bundles everything (we offer); sub takes whatever the node's offer bundles — an
    // offer with no media yet has no BUNDLE group, which max-bundle would refuse.
    const config = { iceServers: [], bundlePolicy: name === 'pub' ? 'max-bundle' : 'balanced', rtcpMuxPolicy: 'require' };
    if (MediaEncryption.needsInsertableStreams()) config.encodedInsertableStreams = true;
    const pc = new RTCPeerConnection(config);
    const peer = { name, pc, descSent: false, pendingLocal: [], pendingRemote: [], queue: Promise.resolve() };
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      if (!c || !c.candidate) return; // end of gathering: the node needs no end-of-candidates
      // Only the fields the node accepts (a browser's toJSON adds usernameFragment).
      const cand = { candidate: c.candidate };
      if (c.sdpMid != null) cand.sdpMid = c.sdpMid;
      if (c.sdpMLineIndex != null) cand.sdpMLineIndex = c.sdpMLineIndex;
      if (!peer.descSent) {
        if (peer.pendingLocal.length < MAX_PENDING) peer.pendingLocal.push(cand);
        return;
      }
      this.send({ type: 'candidate', pc: name, candidate: cand });
    };
    let failedOnce = false;
    const watch = () => {
      const s = pc.connectionState || pc.iceConnectionState;
      if (s === 'failed' && !failedOnce && !this.closed) {
        failedOnce = true;
        this.onFailed(name);
      }
    };
    pc.onconnectionstatechange = watch;
    pc.oniceconnectionstatechange = watch;
    return peer;
  }

  /** enqueue runs f after every earlier message for the same peer connection. */
  enqueue(peer, f) {
    peer.queue = peer.queue.then(() => (this.closed ? undefined : f())).catch((err) => {
      if (!this.closed) this.onError(err);
    });
    return peer.queue;
  }

  flushLocal(peer) {
    peer.descSent = true;
    for (const cand of peer.pendingLocal) this.send({ type: 'candidate', pc: peer.name, candidate: cand });
    peer.pendingLocal = [];
  }

  async flushRemote(peer) {
    const pending = peer.pendingRemote;
    peer.pendingRemote = [];
    for (const c of pending) {
      try { await peer.pc.addIceCandidate(c); } catch (err) { console.warn('parley: candidate', peer.name, err); }
    }
  }

  /** handle applies an answer (pub), offer (sub) or candidate from the node. */
  handle(m) {
    if (this.closed) return;
    if (m.type === 'answer' && m.pc === 'pub' && this.pub && typeof m.sdp === 'string') {
      const waiter = this.pubWaiter;
      this.enqueue(this.pub, async () => {
        try {
          if (this.pub.pc.signalingState !== 'have-local-offer') throw new Error('an answer arrived with no offer pending');
          await this.pub.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
          await this.flushRemote(this.pub);
          if (waiter) waiter.resolve();
        } catch (err) {
          if (waiter) waiter.reject(err);
          throw err;
        }
      });
    } else if (m.type === 'offer' && m.pc === 'sub' && typeof m.sdp === 'string') {
      this.enqueue(this.sub, () => this.answerSub(m));
    } else if (m.type === 'candidate' && m.candidate && typeof m.candidate === 'object') {
      const peer = m.pc === 'pub' ? this.pub : m.pc === 'sub' ? this.sub : null;
      if (!peer || typeof m.candidate.candidate !== 'string' || m.candidate.candidate === '') return;
      const init = { candidate: m.candidate.candidate };
      if (m.candidate.sdpMid != null) init.sdpMid = String(m.candidate.sdpMid);
      if (m.candidate.sdpMLineIndex != null) init.sdpMLineIndex = Number(m.candidate.sdpMLineIndex);
      if (init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
      this.enqueue(peer, async () => {
        if (!peer.pc.remoteDescription) {
          if (peer.pendingRemote.length < MAX_PENDING) peer.pendingRemote.push(init);
          return;
        }
        try { await peer.pc.addIceCandidate(init); } catch (err) { console.warn('parley: candidate', peer.name, err); }
      });
    } else {
      console.warn('parley: unexpected', m.type, 'on pc', m.pc);
    }
  }

  /** nodeError tells the call the node rejected something (a bad_sdp error, say). */
  nodeError(err) {
    if (this.pubWaiter) this.pubWaiter.reject(err);
  }

  // ---- sub ----

  /** decrypt gives a receiver the decrypting transform, once. */
  decrypt(receiver, track, mid) {
    if (!receiver || this.transformed.has(receiver)) return;
    this.transformed.add(receiver);
    const info = mid != null ? this.subTracks.get(mid) : null;
    try {
      this.encryption.attachReceiver(receiver, track ? track.kind : (info && info.kind), info ? info.participant : undefined);
    } catch (err) {
      // Without the transform the decoder would be fed ciphertext: the track is not shown.
      this.untransformed.add(receiver);
      this.onError(new Error(`cannot decrypt a received track: ${err.message || err}`));
    }
  }

  async answerSub(m) {
    const map = new Map();
    if (m.tracks && typeof m.tracks === 'object') {
      for (const [mid, t] of Object.entries(m.tracks)) {
        if (t && typeof t === 'object') {
          map.set(mid, {
            id: String(t.id || ''), participant: String(t.participant || ''),
            kind: t.kind === 'audio' ? 'audio' : t.kind === 'video' ? 'video' : '',
            source: String(t.source || ''),
          });
        }
      }
    }
    this.subTracks = map; // set before the offer is applied: ontrack reads it
    const pc = this.sub.pc;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      await this.flushRemote(this.sub);
      await pc.setLocalDescription(await pc.createAnswer());
    } catch (err) {
      // The sub connection is now in an unknown state: report, then start over.
      this.onError(new Error(`could not apply the node's offer: ${err.message || err}`));
      this.onFailed('sub');
      return;
    }
    this.send({ type: 'answer', pc: 'sub', sdp: pc.localDescription.sdp });
    this.flushLocal(this.sub);
    this.reconcile();
  }

  /** route hands a received track to the app, once per (mid, remote track). */
  route(mid, track) {
    const info = this.subTracks.get(mid);
    if (!info || !track) return;
    if (!info.kind) info.kind = track.kind;
    const key = `${info.id}|${info.participant}|${info.kind}|${info.source}|${track.id}`;
    const old = this.routed.get(mid);
    if (old && old.key === key) return;
    if (old) {
      this.routed.delete(mid);
      this.safe(() => this.onTrackGone(mid, old.info));
    }
    this.routed.set(mid, { key, info, track });
    this.safe(() => this.onTrack(mid, info, track));
  }

  /** reconcile makes the routed tracks match what the latest offer says is received. */
  reconcile() {
    const active = new Map();
    for (const tr of this.sub.pc.getTransceivers()) {
      const dir = tr.currentDirection;
      if (tr.mid == null || (dir !== 'recvonly' && dir !== 'sendrecv')) continue;
      if (!this.subTracks.has(tr.mid)) continue;
      this.decrypt(tr.receiver, tr.receiver.track, tr.mid); // ontrack did it; never route without
      if (!this.untransformed.has(tr.receiver)) active.set(tr.mid, tr.receiver.track);
    }
    for (const [mid, r] of [...this.routed]) {
      if (!active.has(mid)) {
        this.routed.delete(mid);
        this.safe(() => this.onTrackGone(mid, r.info));
      }
    }
    for (const [mid, track] of active) this.route(mid, track);
  }

  safe(f) {
    try { f(); } catch (err) { console.error('parley: track handler', err); }
  }

  // ---- pub ----

  ensurePub() {
    if (!this.pub) this.pub = this.newPeer('pub');
    return this.pub.pc;
  }

  /** addSending adds a sending transceiver for source. The caller renegotiates. */
  addSending(source, track) {
    const pc = this.ensurePub();
    const init = { direction: 'sendonly', streams: [this.stream] };
    let tr;
    if (source === 'camera') {
      try {
        tr = pc.addTransceiver(track, { ...init, sendEncodings: SIMULCAST });
      } catch (err) {
        console.warn('parley: simulcast refused, sending one layer', err);
        tr = pc.addTransceiver(track, init);
      }
    } else if (source === 'screen') {
      try {
        tr = pc.addTransceiver(track, { ...init, sendEncodings: SCREEN_ENCODING });
      } catch (_) {
        tr = pc.addTransceiver(track, init);
      }
    } else {
      tr = pc.addTransceiver(track, init);
    }
    try {
      this.encryption.attachSender(tr.sender, source === 'mic' ? 'audio' : 'video');
    } catch (err) {
      // Never send what could not be encrypted.
      tr.direction = 'inactive';
      tr.sender.replaceTrack(null).catch(() => {});
      throw new Error(`cannot encrypt your ${source}: ${err.message || err}`);
    }
    this.tx[source] = tr;
    return tr;
  }

  /**
   * setTrack publishes track for source, or (track null) keeps the slot but sends nothing —
   * camera off. A new transceiver, or a reused inactive one, means renegotiating.
   */
  async setTrack(source, track) {
    if (this.closed) return;
    const tr = this.tx[source];
    if (!tr) {
      if (!track) return;
      this.addSending(source, track);
      await this.negotiatePub();
      return;
    }
    await tr.sender.replaceTrack(track);
    if (track && tr.direction !== 'sendonly') {
      tr.direction = 'sendonly';
      await this.negotiatePub();
    }
  }

  /** stopSending takes a source away (a screen share that ended) and renegotiates. */
  async stopSending(source) {
    const tr = this.tx[source];
    if (this.closed || !tr || tr.direction === 'inactive') return;
    try { await tr.sender.replaceTrack(null); } catch (_) { /* closing */ }
    tr.direction = 'inactive';
    await this.negotiatePub();
  }

  /** publish adds every given track at once and makes one offer (at join). */
  async publish(tracks) {
    let added = false;
    let failed = null;
    for (const source of SOURCES) {
      if (!tracks[source]) continue;
      try {
        this.addSending(source, tracks[source]);
        added = true;
      } catch (err) {
        failed = failed || err;
      }
    }
    if (added) await this.negotiatePub();
    if (failed) throw failed;
  }

  /** negotiatePub offers on pc pub until no change is left unoffered; one offer at a time. */
  negotiatePub() {
    if (this.pubBusy) {
      this.pubAgain = true;
      return this.pubBusy;
    }
    this.pubBusy = (async () => {
      try {
        do {
          this.pubAgain = false;
          await this.offerPub();
        } while (this.pubAgain && !this.closed);
      } finally {
        this.pubBusy = null;
      }
    })();
    return this.pubBusy;
  }

  async offerPub() {
    if (this.closed || !this.pub) return;
    const pc = this.pub.pc;
    await pc.setLocalDescription(await pc.createOffer());
    // The mids exist only now that the local description is set.
    const tracks = {};
    for (const source of SOURCES) {
      const tr = this.tx[source];
      if (tr && tr.mid != null && tr.direction === 'sendonly') tracks[tr.mid] = { source };
    }
    const answered = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the node did not answer our offer')), ANSWER_TIMEOUT);
      this.pubWaiter = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
    this.send({ type: 'offer', pc: 'pub', sdp: pc.localDescription.sdp, tracks });
    this.flushLocal(this.pub);
    try {
      await answered;
    } finally {
      this.pubWaiter = null;
    }
  }

  /** close ends both peer connections. Local tracks belong to the caller and keep running. */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.pubWaiter) this.pubWaiter.reject(new Error('closed'));
    for (const peer of [this.pub, this.sub]) {
      if (!peer) continue;
      peer.pc.onicecandidate = null;
      peer.pc.ontrack = null;
      peer.pc.onconnectionstatechange = null;
      peer.pc.oniceconnectionstatechange = null;
      try { peer.pc.close(); } catch (_) { /* already closed */ }
    }
    for (const [mid, r] of this.routed) this.safe(() => this.onTrackGone(mid, r.info));
    this.routed.clear();
  }
}
