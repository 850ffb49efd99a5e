// transform-worker.js — the worker that encrypts outgoing and decrypts incoming encoded media
// frames with SFrame (see sframe.js). Start ONE per client, as a module worker, and give it
// every sender and receiver: all tracks of a sender share its key's CTR space, and all tracks
// of a remote sender share one replay window per KID.
//
//	new Worker('/static/e2ee/transform-worker.js', {type: 'module', name: 'parley-e2ee'})
//
// Frames reach it as RTCRtpScriptTransform (new RTCRtpScriptTransform(worker, options)), or,
// where only encoded insertable streams exist, as {type: 'stream', readable, writable, ...}
// posted with the two streams transferred. options: {side: 'send'|'receive',
// kind: 'audio'|'video', codec?: 'opus'|'vp8' (default by kind), participant?: id of the
// remote sender, for events}.
//
// Messages from the page (processed in order; with an id, answered {type:'done', id, error?}):
//
//	{type:'setKey', kid, key}                  own sending key (16-byte Uint8Array)
//	{type:'clearKey'}                          stop sending (frames are dropped, never sent clear)
//	{type:'addKey', kid, key, participant?}    a receive key (the same again is fine; another
//	                                           key under a KID already held is an error)
//	{type:'removeKey', kid}                    erase a receive key
//
// Messages to the page:
//
//	{type:'undecryptable', kid, tag, participant, reason, count}
//	    frames that were dropped because they did not decrypt: on the first for a KID, then at
//	    most once a second while more come; count is the total for that KID (kid null: no
//	    readable header). reason: unknown_kid, auth, replay, header, ctr or size.
//	{type:'stats', decrypted: {kid: n}, encrypted: {kid: n}, dropped: {reason: n}}
//	    every second while anything changed; totals since the worker started.
//
// A frame that does not decrypt is never passed on, and a frame is never sent unencrypted.

import { SFrameKey, FrameSender, FrameReceiver, CODEC_OPUS, CODEC_VP8, u64 } from './sframe.js';
import { equalBytes } from './encoding.js';

const STATS_EVERY = 1000;
const MAX_FAILING_KIDS = 256; // garbage frames name random KIDs: remember only the latest ones

const sender = new FrameSender();
const keys = new Map(); // kid (bigint) -> {key: SFrameKey, base: Uint8Array, participant}
const receiver = new FrameReceiver((kid) => keys.get(kid)?.key);
const transforms = new Set(); // receive-side transforms: {transformer, kind, wantKeyframe}

const decrypted = new Map(); // kid (bigint) -> frames
const encrypted = new Map();
const dropped = new Map(); // reason -> frames (sending side)
const failures = new Map(); // kid (bigint) or 'none' -> {count, reported, participant, tag, reason}
let changed = false;

function bump(map, k) {
  map.set(k, (map.get(k) || 0) + 1);
  changed = true;
}

function counts(map) {
  const out = {};
  for (const [k, n] of map) out[String(k)] = n;
  return out;
}

function report(f, kid) {
  f.reported = f.count;
  self.postMessage({
    type: 'undecryptable', kid: kid === 'none' ? null : Number(kid), tag: f.tag,
    participant: f.participant, reason: f.reason, count: f.count,
  });
}

function undecryptable(err, t) {
  const kid = typeof err?.kid === 'bigint' ? err.kid : 'none';
  let f = failures.get(kid);
  if (!f) {
    if (failures.size >= MAX_FAILING_KIDS) failures.delete(failures.keys().next().value);
    f = { count: 0, reported: 0, participant: null, tag: null, reason: '' };
    failures.set(kid, f);
  }
  f.count++;
  f.reason = err?.code || 'error';
  f.participant = (kid !== 'none' && keys.get(kid)?.participant) || t.participant || null;
  f.tag = kid === 'none' || kid >= 1n << 48n ? null : Number(kid >> 16n);
  if (f.reason === 'unknown_kid' || f.reason === 'auth') t.wantKeyframe = true;
  if (f.reported === 0) report(f, kid);
}

setInterval(() => {
  for (const [kid, f] of failures) if (f.count > f.reported) report(f, kid);
  if (!changed) return;
  changed = false;
  self.postMessage({ type: 'stats', decrypted: counts(decrypted), encrypted: counts(encrypted), dropped: counts(dropped) });
}, STATS_EVERY);

function codecOf(options) {
  if (options.codec === CODEC_OPUS || options.codec === CODEC_VP8) return options.codec;
  if (options.codec) throw new Error(`e2ee worker: codec ${options.codec} is not supported`);
  return options.kind === 'audio' ? CODEC_OPUS : CODEC_VP8;
}

function sendTransform(codec) {
  return new TransformStream({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return bump(dropped, 'empty');
      if (!sender.key) return bump(dropped, 'no_key');
      const kid = sender.kid;
      let out;
      try {
        out = await sender.sealFrame(codec, data);
      } catch {
        return bump(dropped, 'error');
      }
      frame.data = out.buffer;
      controller.enqueue(frame);
      bump(encrypted, kid);
    },
  });
}

function receiveTransform(codec, t) {
  return new TransformStream({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return;
      let res;
      try {
        res = await receiver.openFrame(codec, data);
      } catch (err) {
        return undecryptable(err, t);
      }
      frame.data = res.frame.buffer;
      controller.enqueue(frame);
      bump(decrypted, res.kid);
      if (t.kind === 'video' && t.wantKeyframe) {
        // Video decrypts again after frames that did not: the decoder needs a keyframe. A
        // request made when the key arrived may have been answered under the sender's
        // previous key (a sender switches to a new key a moment after announcing it).
        if (frame.type === 'key') t.wantKeyframe = false;
        else requestKeyframe(t);
      }
    },
  });
}

// KEYFRAME_GAP spaces one receiver's keyframe requests (ms).
const KEYFRAME_GAP = 250;

function requestKeyframe(t) {
  const now = Date.now();
  if (!t.transformer?.sendKeyFrameRequest || now - t.askedAt < KEYFRAME_GAP) return;
  t.askedAt = now;
  t.transformer.sendKeyFrameRequest().catch(() => {});
}

function attach(readable, writable, options = {}, transformer = null) {
  const codec = codecOf(options);
  let stream;
  let t = null;
  let videoSender = null;
  if (options.side === 'send') {
    stream = sendTransform(codec);
    if (options.kind === 'video' && transformer?.generateKeyFrame) {
      videoSender = transformer;
      videoSenders.add(transformer);
    }
  } else if (options.side === 'receive') {
    t = { transformer, kind: options.kind, participant: options.participant || null, wantKeyframe: false, askedAt: 0 };
    transforms.add(t);
    stream = receiveTransform(codec, t);
  } else {
    throw new Error(`e2ee worker: side must be send or receive, not ${options.side}`);
  }
  readable
    .pipeThrough(stream)
    .pipeTo(writable)
    .catch((err) => console.warn('parley e2ee worker: frame pipeline ended', err))
    .finally(() => {
      if (t) transforms.delete(t);
      if (videoSender) videoSenders.delete(videoSender);
    });
}

// videoSenders are the send-side video transformers that can make their encoder send a
// keyframe. At each switch to a new key they do: whoever just received that key (a newcomer)
// can start decoding at once, instead of asking for a keyframe and waiting for it.
const videoSenders = new Set();

// A key for a KID that was missing may let video play again once the decoder has a keyframe:
// ask now, and again (receiveTransform) until a keyframe decrypts.
function requestKeyframes() {
  for (const t of transforms) {
    if (t.wantKeyframe && t.kind === 'video') requestKeyframe(t);
  }
}

async function handle(m) {
  switch (m.type) {
    case 'setKey':
      sender.setKey(await SFrameKey.create(m.key, m.kid));
      for (const s of videoSenders) s.generateKeyFrame().catch(() => {});
      return;
    case 'clearKey':
      sender.key = null;
      return;
    case 'addKey': {
      const kid = u64(m.kid, 'KID');
      const have = keys.get(kid);
      if (have && equalBytes(have.base, m.key)) {
        have.participant = m.participant || have.participant;
        return;
      }
      if (have) throw new Error(`a different key for KID ${kid}, which is already held`);
      const key = await SFrameKey.create(m.key, kid);
      keys.set(kid, { key, base: new Uint8Array(m.key), participant: m.participant || null });
      failures.delete(kid);
      requestKeyframes();
      return;
    }
    case 'removeKey': {
      const kid = u64(m.kid, 'KID');
      const have = keys.get(kid);
      if (have) have.base.fill(0);
      keys.delete(kid);
      receiver.forget(kid);
      return;
    }
    case 'stream':
      attach(m.readable, m.writable, m);
      return;
    default:
      throw new Error(`e2ee worker: unknown message type ${m.type}`);
  }
}

let queue = Promise.resolve();
self.onmessage = (ev) => {
  const m = ev.data;
  queue = queue.then(async () => {
    let error;
    try {
      await handle(m);
    } catch (err) {
      error = String(err && err.message ? err.message : err);
      console.warn('parley e2ee worker:', error);
    }
    if (m && m.id !== undefined) self.postMessage({ type: 'done', id: m.id, error });
  });
};

self.onrtctransform = (ev) => {
  const t = ev.transformer;
  try {
    attach(t.readable, t.writable, t.options || {}, t);
  } catch (err) {
    console.warn('parley e2ee worker:', err);
  }
};
