// remote.js — Parley web client: the other participants on the stage. Their tiles, the
// tracks the node sends us routed to tiles, screen-share videos and <audio> elements, who is
// speaking, and the simulcast layer asked for each remote camera from the size its tile is
// drawn at.

import { t } from './i18n.js';
import { $, Tile, playQuietly, screenBox, toast } from './ui.js';
import { canPickSpeaker } from './media.js';
import { S } from './state.js';
import { refreshRoster } from './roster.js';

let layerTimer = 0;

/** remoteTile returns a participant's tile, making it on first use. */
export function remoteTile(id) {
  let t = S.tiles.get(id);
  if (!t) {
    const p = S.participants.get(id);
    t = new Tile({ id, name: p ? p.name : '', onPin: (tile) => S.stage.togglePin(tile) });
    S.tiles.set(id, t);
    S.stage.addTile(t);
  }
  return t;
}

/** upsertParticipant takes a participant as the node describes it now. */
export function upsertParticipant(p, announce) {
  if (typeof p.id !== 'string' || !p.id) return;
  if (S.you && p.id === S.you.id) return; // our own state is kept here
  const before = S.participants.get(p.id);
  const name = typeof p.name === 'string' ? p.name : '';
  S.participants.set(p.id, { ...p, name });
  if (!before && S.e2ee) S.e2ee.joinedParticipant(p);
  const tile = remoteTile(p.id);
  tile.setName(name);
  tile.setVerified(!!p.verified);
  tile.setMicMuted(!!p.mic_muted);
  tile.setCameraOff(!!p.camera_muted);
  tile.setHand(!!p.hand);
  for (const s of S.screens.values()) if (s.pid === p.id) s.video.dataset.screenOf = name;
  for (const a of S.audios.values()) if (a.dataset.pid === p.id) a.dataset.participantAudio = name;
  if (announce && !before) toast(t('meeting.joined', { name }), 'info', 3000);
  if (before && !before.hand && p.hand) toast(t('meeting.raisedHand', { name }), 'info', 4000);
  refreshRoster();
  scheduleLayers();
}

/**
 * removeParticipant takes a participant off the stage. quiet: our own session ended, say
 * nothing; reason "removed": a moderator removed them; "unreachable": their node has been
 * out of reach for a while (they come back with participant_joined when it is reachable).
 */
export function removeParticipant(id, quiet, reason = '') {
  const p = S.participants.get(id);
  S.participants.delete(id);
  S.trackSince.delete(id);
  if (S.e2ee && !quiet) S.e2ee.leftParticipant(id);
  if (S.monitor) S.monitor.forget(id);
  const t = S.tiles.get(id);
  if (t) {
    S.tiles.delete(id);
    S.stage.removeTile(t);
  }
  for (const [mid, s] of [...S.screens]) {
    if (s.pid === id) { S.screens.delete(mid); S.stage.removeScreen(s.box); }
  }
  for (const [mid, a] of [...S.audios]) {
    if (a.dataset.pid === id) { S.audios.delete(mid); a.srcObject = null; a.remove(); }
  }
  if (p && !quiet) toast(leftText(p.name, reason), 'info', 3000);
  refreshRoster();
}

/** leftText says why a participant is no longer in the meeting. */
function leftText(name, reason) {
  switch (reason) {
    case 'removed': return t('meeting.removedOther', { name });
    case 'unreachable': return t('meeting.unreachable', { name });
    default: return t('meeting.left', { name });
  }
}

export function setSpeakers(ids) {
  S.speakers = ids.filter((x) => typeof x === 'string');
  const speaking = new Set(S.speakers);
  for (const [id, t] of S.tiles) t.setSpeaking(speaking.has(id));
  if (S.selfTile) S.selfTile.setSpeaking(!!S.you && speaking.has(S.you.id) && S.micOn);
}

// ---- received tracks ----

export function onTrack(mid, info, track) {
  const pid = info.participant;
  const p = S.participants.get(pid);
  const name = p ? p.name : '';
  if (!S.trackSince.has(pid)) S.trackSince.set(pid, performance.now());
  if (info.kind === 'audio') {
    const a = document.createElement('audio');
    a.autoplay = true;
    a.dataset.pid = pid;
    a.dataset.participantAudio = name;
    a.srcObject = new MediaStream([track]);
    applySink(a);
    $('audio-sink').append(a);
    S.audios.set(mid, a);
    playAudio(a);
  } else if (info.source === 'screen') {
    const { box, video } = screenBox(name);
    video.srcObject = new MediaStream([track]);
    S.screens.set(mid, { box, video, pid });
    S.stage.addScreen(box);
    playQuietly(video);
  } else {
    const t = remoteTile(pid);
    t.camMid = mid;
    t.camTrackId = info.id;
    t.setStream(new MediaStream([track]));
    scheduleLayers();
  }
}

export function onTrackGone(mid, info) {
  const a = S.audios.get(mid);
  if (a) {
    S.audios.delete(mid);
    a.srcObject = null;
    a.remove();
  }
  const s = S.screens.get(mid);
  if (s) {
    S.screens.delete(mid);
    S.stage.removeScreen(s.box);
  }
  const t = S.tiles.get(info.participant);
  if (t && t.camMid === mid) {
    t.camMid = null;
    t.camTrackId = null;
    t.setStream(null);
  }
}

export function playAudio(a) {
  const p = a.play();
  if (p && p.catch) {
    p.catch((err) => {
      if (err && err.name === 'NotAllowedError') $('enable-audio').hidden = false;
    });
  }
}

export function applySink(a) {
  if (S.speakerId && canPickSpeaker()) a.setSinkId(S.speakerId).catch((err) => console.warn('parley: setSinkId', err));
}

// ---- simulcast layers ----

export function scheduleLayers() {
  clearTimeout(layerTimer);
  layerTimer = setTimeout(updateLayers, 250);
}

/** updateLayers asks for each remote camera the layer its tile's drawn size needs. */
function updateLayers() {
  if (!S.sig || !S.call) return;
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  for (const t of S.tiles.values()) {
    if (!t.camTrackId) continue;
    const h = t.el.getBoundingClientRect().height * dpr;
    let q = 'high';
    if (h <= 270) q = 'low';
    else if (h <= 540) q = 'medium';
    if (t.el.parentElement === $('spotlight')) q = 'high';
    if (S.quality.get(t.camTrackId) === q) continue;
    if (S.sig.send({ type: 'layer', track: t.camTrackId, quality: q })) S.quality.set(t.camTrackId, q);
  }
}
