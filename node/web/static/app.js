// app.js — Parley web client: entry point and the life of a meeting.
//
// Screens: prejoin (prejoin.js) -> lobby (when the room has one, until a moderator admits us)
// -> meeting -> left. This module connects, joins with our public keys (and the moderator
// token of a moderator link), hands the node's messages to the modules that own them, starts
// each joined session's end-to-end encryption (e2ee-session.js, with the frame worker of
// e2ee/transform.js), and reconnects with backoff when the signalling connection drops.
//
//   remote.js    other participants' tiles and received tracks
//   controls.js  our own media and the meeting controls
//   chat.js      the encrypted chat
//   roster.js    People panel, safety codes, lobby and moderation, the encryption indicator

import { $, Stage, Tile, icon, paintAvatar, toast } from './ui.js';
import { Signalling, wsURL } from './signalling.js';
import { Call, acquire, describeMediaError } from './media.js';
import { Prejoin } from './prejoin.js';
import { MediaEncryption } from './e2ee/transform.js';
import { generateIdentity, loadIdentity } from './e2ee/identity.js';
import { E2EESession } from './e2ee-session.js';
import { DecryptionMonitor } from './e2ee-status.js';
import { S } from './state.js';
import { applyDOM, languageSwitch, onLanguageReload, t } from './i18n.js';
import { missingFeatures } from './support.js';
import { onTrack, onTrackGone, playAudio, removeParticipant, scheduleLayers, setSpeakers, upsertParticipant } from './remote.js';
import {
  banner, openPanel, openSettings, refreshSelf, renderControls, sendMute, startScreen, stopScreen,
  switchDevice, tickClock, toggleCamera, toggleHand, toggleMic,
} from './controls.js';
import { addChat, sendChat } from './chat.js';
import { onModerated, onReaction, renderModeratorTools, wireModeration } from './moderation.js';
import { onCaption, resetCaptions, spokenLang, wireCaptions } from './captions.js';
import { wireTranscript } from './transcript.js';
import { wireShortcuts } from './shortcuts.js';
import { addWaiting, refreshRoster, removeWaiting, resetRoster, setWaiting, startRoster, stopRoster } from './roster.js';

const MAX_RETRIES = 8;
const FATAL_CODES = new Set(['unknown_room', 'room_full', 'bad_keys', 'lobby_full', 'sign_in']);
// Codes with which the node ends a session, joined or not: the client stays out.
const ENDING = {
  lobby_timeout: 'end.lobbyTimeout',
  media_timeout: 'end.mediaTimeout',
  flood: 'end.flood',
  room_deleted: 'end.over',
  meeting_ended: 'end.over',
};
// Ending codes after which rejoining cannot help.
const FINAL = new Set(['flood', 'room_deleted', 'meeting_ended']);

const MOD_KEY = 'parley.mod';
S.mod = takeModeratorToken();
onLanguageReload(() => {
  try { if (S.mod) sessionStorage.setItem(MOD_KEY, S.mod); } catch { /* storage off */ }
});
const prejoin = new Prejoin(S, () => enterMeeting());

/**
 * takeModeratorToken reads ?mod= from the address and removes it from the address bar, so a
 * link copied from there does not make someone else a moderator.
 */
function takeModeratorToken() {
  const url = new URL(location.href);
  let mod = url.searchParams.get('mod');
  if (mod === null) {
    // Kept over a reload in another language, in this tab only.
    try {
      mod = sessionStorage.getItem(MOD_KEY);
      sessionStorage.removeItem(MOD_KEY);
    } catch { /* storage off */ }
    return (mod || '').slice(0, 64);
  }
  url.searchParams.delete('mod');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return mod.slice(0, 64);
}

// ---- start ----

/** loadKeys makes S.identity ready: the identity kept in this browser, made on first visit. */
async function loadKeys() {
  const missing = await missingFeatures();
  if (missing.length > 0) {
    prejoin.refuse(t('support.lacks', { features: missing.join(', ') }));
    return;
  }
  try {
    S.identity = await loadIdentity();
  } catch (err) {
    console.warn('parley: could not keep the identity in this browser; using one for this visit only', err);
    try {
      S.identity = await generateIdentity();
    } catch (err2) {
      S.identityError = err2;
      prejoin.refuse(t('support.noKeys', { error: err2.message || err2 }));
    }
  }
}

async function loadRoom() {
  if (!S.roomId) {
    prejoin.setRoom(t('prejoin.noRoom'), true);
    return;
  }
  try {
    const r = await fetch(`/api/rooms/${encodeURIComponent(S.roomId)}`, { headers: { Accept: 'application/json' } });
    if (r.status === 404) {
      prejoin.setRoom(t('prejoin.notFound'), true);
      return;
    }
    const room = r.ok ? await r.json() : null;
    setTitle(room && typeof room.title === 'string' && room.title ? room.title : t('meeting.defaultTitle'));
  } catch (err) {
    console.warn('parley: room lookup', err);
    setTitle(t('meeting.defaultTitle'));
  }
}

function setTitle(title) {
  prejoin.setRoom(title, false);
  $('meeting-title').textContent = title;
  $('lobby-text').textContent = t('lobby.text', { title });
  document.title = `${title} · Parley`;
}

function show(screen) {
  for (const id of ['prejoin', 'lobby', 'meeting', 'left']) $(id).hidden = id !== screen;
}

// ---- joining, reconnecting, leaving ----

async function enterMeeting() {
  await keysReady;
  if (!S.identity) return; // prejoin says why
  S.phase = 'meeting';
  S.retries = 0;
  show('meeting');
  if (!S.selfTile) {
    S.selfTile = new Tile({ id: 'self', name: S.name, self: true });
    S.stage.addTile(S.selfTile);
  }
  S.selfTile.setName(S.name);
  refreshSelf();
  startRoster();
  connect();
}

function connect() {
  clearTimeout(S.retryTimer);
  const sig = new Signalling(wsURL(S.roomId), {
    onMessage: (m) => { if (S.sig === sig) onMessage(sig, m); },
    onClose: (reason) => { if (S.sig === sig) lost(reason.text || 'connection closed'); },
  });
  S.sig = sig;
  sig.joined = false;
  const join = { type: 'join', name: S.name, keys: S.identity.publicKeys(), lang: spokenLang() };
  if (S.mod) join.mod = S.mod;
  sig.open().then(() => sig.send(join)).catch(() => { /* onClose handles it */ });
}

function inMeeting() {
  return S.phase === 'meeting' || S.phase === 'lobby';
}

/** lost tears the session down after a drop and schedules a reconnection. */
function lost(why) {
  const sig = S.sig;
  S.sig = null;
  if (sig) sig.close();
  endCall();
  if (!inMeeting()) return;
  S.retries++;
  if (S.retries > MAX_RETRIES) {
    showLeft(t('left.lost'), t('left.lostText', { why }));
    return;
  }
  const delay = Math.min(500 * 2 ** (S.retries - 1), 15000) * (0.8 + Math.random() * 0.4);
  banner(t('meeting.reconnecting', { n: S.retries, max: MAX_RETRIES }));
  S.retryTimer = setTimeout(() => { if (inMeeting() && !S.sig) connect(); }, delay);
}

/** endCall ends the joined session: media, keys and everything learnt from the node. */
function endCall() {
  if (S.e2ee) S.e2ee.close();
  S.e2ee = null;
  if (S.call) S.call.close();
  S.call = null;
  if (S.media) S.media.close();
  S.media = null;
  S.monitor = null;
  S.quality.clear();
  for (const id of [...S.participants.keys()]) removeParticipant(id, true);
  setSpeakers([]);
  resetRoster();
}

function leave() {
  if (!inMeeting()) return;
  const sig = S.sig;
  S.sig = null;
  if (sig) {
    sig.send({ type: 'leave' });
    sig.close();
  }
  showLeft(t('left.left'), t('left.leftText', { title: $('meeting-title').textContent }));
}

/** showLeft ends the meeting on our side and says why; rejoin offers to join again. */
function showLeft(title, text, rejoin = true) {
  S.phase = 'left';
  clearTimeout(S.retryTimer);
  const sig = S.sig;
  S.sig = null;
  if (sig) sig.close();
  endCall();
  stopRoster();
  stopScreen(false);
  for (const t of [S.micTrack, S.camTrack]) if (t) t.stop();
  S.micTrack = null;
  S.camTrack = null;
  S.hand = false;
  S.moderator = false;
  renderModeratorTools();
  resetCaptions();
  banner('');
  $('left-title').textContent = title;
  $('left-text').textContent = text;
  $('left-text').hidden = !text;
  $('left-sign-in').hidden = true;
  $('rejoin').hidden = !rejoin;
  show('left');
  if (rejoin) $('rejoin').focus();
}

async function rejoin() {
  $('rejoin').disabled = true;
  const res = await acquire({ audio: true, video: S.camOn, micId: S.micId, camId: S.camId });
  S.micTrack = res.audio;
  S.camTrack = res.video;
  if (res.audioError || res.videoError) {
    toast(describeMediaError(res.videoError || res.audioError, res.videoError ? 'camera' : 'mic'));
  }
  $('rejoin').disabled = false;
  enterMeeting();
}

// ---- messages from the node ----

function onMessage(sig, m) {
  switch (m.type) {
    case 'joined':
      sig.joined = true;
      onJoined(sig, m);
      break;
    case 'lobby':
      onLobby(m);
      break;
    case 'answer':
    case 'offer':
    case 'candidate':
      if (S.call) S.call.handle(m);
      break;
    case 'participant_joined':
    case 'participant_updated':
      if (m.participant && typeof m.participant === 'object') upsertParticipant(m.participant, m.type === 'participant_joined');
      break;
    case 'participant_left':
      if (typeof m.id === 'string') removeParticipant(m.id, false, m.reason);
      break;
    case 'key':
      if (S.e2ee && m.envelope && typeof m.envelope === 'object') S.e2ee.receiveEnvelope(m.envelope);
      break;
    case 'waiting':
      setWaiting(Array.isArray(m.waiting) ? m.waiting : []);
      break;
    case 'waiting_add':
      addWaiting(Array.isArray(m.waiting) ? m.waiting : []);
      break;
    case 'waiting_remove':
      if (typeof m.id === 'string') removeWaiting(m.id);
      break;
    case 'chat':
      if (m.chat && typeof m.chat === 'object') addChat(m.chat, true, unread);
      break;
    case 'moderated':
      onModerated(m);
      break;
    case 'reaction':
      onReaction(m);
      break;
    case 'caption':
      onCaption(m);
      break;
    case 'speakers':
      setSpeakers(Array.isArray(m.speakers) ? m.speakers : []);
      break;
    case 'error':
      onNodeError(sig, m);
      break;
    case 'pong':
      break;
    default:
      console.warn('parley: ignoring message type', m.type);
  }
}

function onLobby(m) {
  if (m.room && typeof m.room.title === 'string' && m.room.title) setTitle(m.room.title);
  S.phase = 'lobby';
  banner('');
  paintAvatar($('lobby-avatar'), S.name);
  show('lobby');
}

function onJoined(sig, m) {
  S.you = m.you && typeof m.you === 'object' ? m.you : { id: '' };
  S.moderator = !!S.you.moderator;
  renderModeratorTools();
  if (S.selfTile) {
    S.selfTile.setVerified(!!S.you.verified);
    if (S.you.verified && typeof S.you.name === 'string' && S.you.name) S.selfTile.setName(S.you.name);
  }
  if (S.phase === 'lobby') {
    S.phase = 'meeting';
    show('meeting');
    toast(t('lobby.admitted'), 'info', 4000);
  }
  // Count the reconnection as a success only once the session has held for a while, so a
  // failure that recurs right after every join still ends in "Connection lost".
  setTimeout(() => { if (S.sig === sig) S.retries = 0; }, 20000);
  banner('');
  if (!S.joinedAt) S.joinedAt = Date.now();
  if (m.room && typeof m.room.title === 'string' && m.room.title) setTitle(m.room.title);
  if (!startE2EE(sig, m)) return;

  for (const p of Array.isArray(m.participants) ? m.participants : []) {
    if (p && typeof p === 'object' && p.id !== S.you.id) upsertParticipant(p, false);
  }
  for (const c of Array.isArray(m.history) ? m.history : []) if (c && typeof c === 'object') addChat(c, false, unread);

  S.call = new Call({
    send: (msg) => sig.send(msg),
    encryption: S.media,
    onTrack,
    onTrackGone,
    onFailed: (pc) => { if (S.sig === sig) lost(`the ${pc} media connection failed`); },
    onError: (err) => { console.warn('parley:', err); toast(t('media.error', { error: err.message || err })); },
  });
  sendMute('mic', !(S.micOn && S.micTrack));
  sendMute('camera', !(S.camOn && S.camTrack));
  if (S.hand) sig.send({ type: 'hand', raised: true });
  S.call.publish({
    mic: S.micTrack,
    camera: S.camOn ? S.camTrack : null,
    screen: S.screenTrack,
  }).catch((err) => toast(t('media.publishFailed', { error: err.message || err })));
  refreshSelf();
  scheduleLayers();
}

/**
 * startE2EE starts the session's encryption: the frame worker, the key schedule, and checks of
 * every certificate. It reports whether the session may go on.
 */
function startE2EE(sig, m) {
  let media;
  try {
    media = new MediaEncryption({
      onUndecryptable: (ev) => { if (S.media === media && S.monitor) S.monitor.undecryptable(ev); },
      onStats: (ev) => { if (S.media === media && S.monitor) S.monitor.stats(ev); },
    });
  } catch (err) {
    showLeft(t('support.cannotJoin'), t('support.lacks', { features: err.message || err }), false);
    return false;
  }
  const session = new E2EESession({
    identity: S.identity, roomId: S.roomId, media, send: (msg) => sig.send(msg), onChange: refreshRoster,
  });
  S.media = media;
  S.e2ee = session;
  S.monitor = new DecryptionMonitor((tag) => session.participantOfTag(tag));
  session.start(m).catch((err) => {
    if (S.e2ee !== session) return;
    console.error('parley e2ee: own certificate', err);
    showLeft(t('e2ee.setupFailed'), t('e2ee.setupFailedText', { error: err.message || err }));
  });
  return true;
}

// CODE_TEXT is the client's own words for the node's error codes (package media/signal); the
// node's English text is shown only for a code the client does not know.
const CODE_TEXT = {
  lobby_timeout: 'code.lobbyTimeout',
  media_timeout: 'code.mediaTimeout',
  flood: 'code.flood',
  room_deleted: 'code.roomDeleted',
  meeting_ended: 'code.meetingEnded',
  room_full: 'code.roomFull',
  bad_keys: 'code.badKeys',
  unknown_room: 'code.unknownRoom',
  lobby_full: 'code.lobbyFull',
  sign_in: 'code.signIn',
  not_allowed: 'code.notAllowed',
  rate_limited: 'code.rateLimited',
  internal: 'code.internal',
  bad_message: 'code.badMessage',
  bad_sdp: 'code.badSDP',
  not_joined: 'code.notJoined',
  duplicate_key: 'code.duplicateKey',
  no_engine: 'code.noEngine',
};

// CODE_DETAIL are codes whose text carries the node's own words as a detail.
const CODE_DETAIL = { transcriber: 'code.transcriber' };

function onNodeError(sig, m) {
  const nodeText = typeof m.error === 'string' && m.error ? m.error : String(m.code || '?');
  const text = CODE_DETAIL[m.code] ? t(CODE_DETAIL[m.code], { detail: nodeText })
    : (CODE_TEXT[m.code] ? t(CODE_TEXT[m.code]) : nodeText);
  if (m.code !== undefined) console.info(`parley: node error ${m.code}: ${nodeText}`);
  if (m.code === 'removed') {
    if (!sig.joined) {
      showLeft(t('left.denied'), t('left.deniedText'), false);
    } else {
      showLeft(t('left.removed'), t('left.removedText'), false);
    }
    return;
  }
  if (ENDING[m.code]) {
    showLeft(t(ENDING[m.code]), text, !FINAL.has(m.code));
    return;
  }
  if (!sig.joined && FATAL_CODES.has(m.code)) {
    const titles = {
      room_full: 'left.full', bad_keys: 'left.badKeys', unknown_room: 'prejoin.notFound',
      lobby_full: 'left.lobbyFull', sign_in: 'left.signIn',
    };
    showLeft(t(titles[m.code]), text, m.code !== 'sign_in');
    if (m.code === 'sign_in') showSignIn();
    return;
  }
  if (m.code === 'bad_sdp' && S.call) S.call.nodeError(new Error(nodeText));
  toast(t('meeting.nodeError', { error: text }));
}

/** showSignIn offers, on the left screen, to sign in and come back to this meeting. */
function showSignIn() {
  const a = $('left-sign-in');
  a.href = `/auth/login?next=${encodeURIComponent(location.pathname)}`;
  a.hidden = false;
}

function unread() {
  S.unread++;
  renderControls();
}

// ---- wiring ----

function wire() {
  S.stage = new Stage($('stage'), $('spotlight'), $('grid'), scheduleLayers);
  $('ctl-mic').addEventListener('click', () => toggleMic());
  $('ctl-camera').addEventListener('click', () => toggleCamera());
  $('ctl-screen').addEventListener('click', () => (S.screenTrack ? stopScreen(true) : startScreen()));
  $('ctl-hand').addEventListener('click', toggleHand);
  $('ctl-chat').addEventListener('click', () => openPanel('chat'));
  $('ctl-people').addEventListener('click', () => openPanel('people'));
  $('ctl-settings').addEventListener('click', () => openSettings());
  $('ctl-leave').addEventListener('click', leave);
  $('lobby-leave').addEventListener('click', leave);
  $('e2ee-badge').addEventListener('click', () => { if (S.panel !== 'people') openPanel('people'); });
  $('tab-chat').addEventListener('click', () => { if (S.panel !== 'chat') openPanel('chat'); });
  $('tab-people').addEventListener('click', () => { if (S.panel !== 'people') openPanel('people'); });
  $('panel-close').innerHTML = icon('close');
  $('panel-close').addEventListener('click', () => openPanel(S.panel));
  $('chat-send').innerHTML = icon('send');
  $('e2ee-note-icon').innerHTML = icon('lock');
  $('chat-form').addEventListener('submit', (e) => { e.preventDefault(); sendChat(); });
  $('chat-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendChat();
    }
  });
  $('set-camera').addEventListener('change', (e) => switchDevice('camera', e.target.value));
  $('set-mic').addEventListener('change', (e) => switchDevice('mic', e.target.value));
  $('set-speaker').addEventListener('change', (e) => switchDevice('speaker', e.target.value));
  $('enable-audio').addEventListener('click', () => {
    $('enable-audio').hidden = true;
    for (const a of S.audios.values()) playAudio(a);
  });
  $('rejoin').addEventListener('click', () => rejoin());
  wireModeration();
  wireCaptions();
  wireTranscript();
  wireShortcuts({
    mic: () => toggleMic(), camera: () => toggleCamera(), hand: toggleHand,
    chat: () => openPanel('chat'), people: () => openPanel('people'),
  }, () => S.phase === 'meeting');
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && S.panel && !$('settings').open && !$('shortcuts').open) openPanel(S.panel);
  });
  window.addEventListener('pagehide', () => {
    if (S.sig) S.sig.send({ type: 'leave' });
  });
  setInterval(tickClock, 1000);
  renderControls();
}

applyDOM();
languageSwitch($('language'));
wire();
show('prejoin');
const keysReady = loadKeys();
loadRoom();
prejoin.start();
