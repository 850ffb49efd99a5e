// roster.js — Parley web client: who is in the meeting and whether we can trust what we see.
// The People panel (with safety codes and, for moderators, the lobby and remove buttons), the
// end-to-end encryption indicator in the header, and each tile's "cannot decrypt" state.

import { t } from './i18n.js';
import { $, icon, toast } from './ui.js';
import { renderPeople, renderWaiting } from './people.js';
import { describe } from './e2ee-status.js';
import { S } from './state.js';
import { renderControls } from './controls.js';
import { makeCohost, muteParticipant } from './moderation.js';
import { setAgentPresent } from './captions.js';

const NO_FRAMES_GRACE = 8000; // ms a participant's routed tracks may stay silent before we stop waiting
const REFRESH_EVERY = 500;

let timer = 0;
let lastPeople = '';

/** remoteState is what we know of one remote participant's encryption. */
function remoteState(id) {
  const peer = S.e2ee ? S.e2ee.peer(id) : undefined;
  const verified = !peer ? undefined : (peer.cert ? true : (peer.error ? false : undefined));
  let media = S.monitor ? S.monitor.of(id) : 'none';
  const since = S.trackSince.get(id);
  if (media === 'none' && since !== undefined && performance.now() - since < NO_FRAMES_GRACE) media = 'waiting';
  // An agent (the transcriber) is neither signed in nor a guest: its certificate says so.
  const agent = !!(peer && peer.cert && peer.cert.agent);
  const signedIn = peer && peer.cert && !agent ? !!peer.cert.verified : undefined;
  const email = peer && peer.cert && peer.cert.verified ? peer.cert.email : '';
  return { verified, signedIn, agent, email, media, safety: peer ? peer.safety : null };
}

/** refreshRoster redraws the People panel, the encryption indicator and the tiles' states. */
export function refreshRoster() {
  const remote = [];
  for (const p of S.participants.values()) {
    remote.push({
      id: p.id, name: p.name, org: p.org || '', moderator: !!p.moderator, owner: !!p.owner,
      micMuted: !!p.mic_muted, cameraOff: !!p.camera_muted, hand: !!p.hand, ...remoteState(p.id),
    });
  }
  for (const r of remote) if (r.agent) r.name = t('agent.name');
  setAgentPresent(remote.some((r) => r.agent));
  for (const r of remote) {
    const t = S.tiles.get(r.id);
    if (t) {
      t.setUndecryptable(r.media === 'failing');
      t.el.classList.toggle('unverified', r.verified === false);
      // Who is signed in is what their certificate says, once it has verified.
      if (r.agent) t.setAgent();
      else if (r.signedIn !== undefined) t.setVerified(r.signedIn);
    }
  }
  renderIndicator(remote);
  const people = [{
    id: S.you ? S.you.id : '', name: S.name, self: true, org: S.you && S.you.org ? S.you.org : '',
    moderator: S.moderator, owner: !!(S.you && S.you.owner), signedIn: S.e2ee && S.e2ee.own ? !!S.e2ee.own.verified : undefined,
    email: S.e2ee && S.e2ee.own && S.e2ee.own.verified ? S.e2ee.own.email : '', micMuted: !(S.micOn && S.micTrack), cameraOff: !(S.camOn && S.camTrack), hand: S.hand,
  }, ...remote];
  $('count').textContent = t('meeting.count', { count: people.length });
  // Redraw only on change: the list holds buttons a pointer may be over.
  const key = JSON.stringify([people, S.moderator]);
  if (key === lastPeople) return;
  lastPeople = key;
  const owner = !!(S.you && S.you.owner);
  renderPeople($('people'), people, S.moderator
    ? { onRemove: removeFromMeeting, onMute: muteParticipant, onCohost: owner ? makeCohost : null } : null);
  $('safety-help').hidden = remote.length === 0;
}

function renderIndicator(remote) {
  const d = describe({ sending: !!(S.e2ee && S.e2ee.sendingKID !== null), people: remote });
  const badge = $('e2ee-badge');
  if ($('e2ee-status').textContent !== d.text) $('e2ee-status').textContent = d.text;
  $('e2ee-status').dataset.state = d.state;
  $('e2ee-detail').textContent = d.detail;
  badge.title = d.detail;
  badge.classList.toggle('ok', d.kind === 'ok');
  badge.classList.toggle('wait', d.kind === 'wait');
  badge.classList.toggle('bad', d.kind === 'bad');
  const ic = d.kind === 'ok' ? 'lock' : d.kind === 'bad' ? 'lockAlert' : 'lockOpen';
  if ($('e2ee-icon').dataset.icon !== ic) {
    $('e2ee-icon').dataset.icon = ic;
    $('e2ee-icon').innerHTML = icon(ic);
  }
}

/** startRoster keeps the indicator current while the meeting lasts (states age with time). */
export function startRoster() {
  clearInterval(timer);
  timer = setInterval(refreshRoster, REFRESH_EVERY);
  refreshRoster();
}

export function stopRoster() {
  clearInterval(timer);
  timer = 0;
}

/** resetRoster forgets the lobby and redraws, when a session ends. */
export function resetRoster() {
  S.waiting = [];
  S.knocked.clear();
  renderWaitingList();
  lastPeople = '';
  refreshRoster();
}

// ---- moderators ----

// At most KNOCK_TOASTS arrivals in a KNOCK_WINDOW get a toast of their own: a crowd at the
// door shows in the People badge and list, not as a wall of toasts.
const KNOCK_TOASTS = 3;
const KNOCK_WINDOW = 10000;
let knockTimes = [];

function waitingEntry(w) {
  if (!w || typeof w.id !== 'string' || !w.id) return null;
  return { id: w.id, name: typeof w.name === 'string' ? w.name : '', verified: w.verified === true };
}

function announceKnock(w) {
  if (S.knocked.has(w.id)) return;
  S.knocked.add(w.id);
  const now = Date.now();
  knockTimes = knockTimes.filter((t) => now - t < KNOCK_WINDOW);
  if (knockTimes.length >= KNOCK_TOASTS) return;
  knockTimes.push(now);
  toast(t('lobby.knock', { name: w.name }), 'info', 15000, { label: t('lobby.admit'), onClick: () => admit(w.id, w.name) });
}

/** setWaiting takes a "waiting" message: who is in the lobby now. */
export function setWaiting(list) {
  S.waiting = list.map(waitingEntry).filter((w) => w);
  const now = new Set(S.waiting.map((w) => w.id));
  for (const id of [...S.knocked]) if (!now.has(id)) S.knocked.delete(id);
  for (const w of S.waiting) announceKnock(w);
  renderWaitingList();
}

/** addWaiting takes a "waiting_add" message: one more person in the lobby. */
export function addWaiting(list) {
  for (const w of list.map(waitingEntry)) {
    if (!w || S.waiting.some((x) => x.id === w.id)) continue;
    S.waiting.push(w);
    announceKnock(w);
  }
  renderWaitingList();
}

/** removeWaiting takes a "waiting_remove" message: someone is no longer in the lobby. */
export function removeWaiting(id) {
  S.waiting = S.waiting.filter((w) => w.id !== id);
  S.knocked.delete(id);
  renderWaitingList();
}

function renderWaitingList() {
  renderWaiting($('lobby-section'), $('waiting'), S.moderator ? S.waiting : [], { onAdmit: admit, onDeny: deny });
  renderControls(); // the People button counts who waits
}

function admit(id, name) {
  if (!S.sig || !S.sig.send({ type: 'admit', id })) toast(t('lobby.notAdmitted', { name }));
}

function deny(id, name) {
  if (!S.sig || !S.sig.send({ type: 'remove', id })) toast(t('lobby.stillWaiting', { name }));
}

function removeFromMeeting(id, name) {
  if (!S.sig || !S.sig.send({ type: 'remove', id })) toast(t('people.notRemoved', { name }));
}
