// app.js — Parley web client: entry point and the meeting.
//
// Screens: prejoin (prejoin.js) -> meeting -> left. In the meeting this module keeps the room's
// participants, routes received tracks to tiles, screen-share videos and <audio> elements,
// drives the controls and chat, asks the node for a simulcast layer per remote camera from the
// size its tile is drawn at, and reconnects with backoff when the signalling connection drops.

import { $, Stage, Tile, appendChat, icon, playQuietly, renderPeople, screenBox, toast } from './ui.js';
import { Signalling, wsURL } from './signalling.js';
import { Call, acquire, canPickSpeaker, describeMediaError, listDevices } from './media.js';
import { Prejoin, fillSelect, store } from './prejoin.js';

const MAX_RETRIES = 8;
const FATAL_CODES = new Set(['unknown_room', 'room_full']);

const S = {
  roomId: roomFromPath(),
  name: '',
  micTrack: null, camTrack: null, screenTrack: null,
  micOn: true, camOn: true, hand: false,
  micId: '', camId: '', speakerId: '',
  phase: 'prejoin', // prejoin | meeting | left
  sig: null, call: null, you: null,
  participants: new Map(), // remote participants by id
  tiles: new Map(), // remote tiles by participant id
  selfTile: null, selfScreen: null,
  screens: new Map(), // sub mid -> {box, video, pid}
  audios: new Map(), // sub mid -> <audio>
  quality: new Map(), // remote camera track id -> quality last asked for
  speakers: [],
  seenChat: new Set(),
  retries: 0, retryTimer: 0,
  joinedAt: 0, unread: 0, panel: '',
};

function roomFromPath() {
  const m = location.pathname.match(/\/r\/([^/?#]+)/);
  try { return m ? decodeURIComponent(m[1]) : ''; } catch (_) { return ''; }
}

let stage;
let layerTimer = 0;
const prejoin = new Prejoin(S, () => enterMeeting());

// ---- start ----

async function loadRoom() {
  if (!S.roomId) {
    prejoin.setRoom('No room in this link', true);
    return;
  }
  try {
    const r = await fetch(`/api/rooms/${encodeURIComponent(S.roomId)}`, { headers: { Accept: 'application/json' } });
    if (r.status === 404) {
      prejoin.setRoom('Meeting not found', true);
      return;
    }
    const room = r.ok ? await r.json() : null;
    setTitle(room && typeof room.title === 'string' && room.title ? room.title : 'Meeting');
  } catch (err) {
    console.warn('parley: room lookup', err);
    setTitle('Meeting');
  }
}

function setTitle(title) {
  prejoin.setRoom(title, false);
  $('meeting-title').textContent = title;
  document.title = `${title} · Parley`;
}

function show(screen) {
  for (const id of ['prejoin', 'meeting', 'left']) $(id).hidden = id !== screen;
}

// ---- joining, reconnecting, leaving ----

function enterMeeting() {
  S.phase = 'meeting';
  S.retries = 0;
  show('meeting');
  if (!S.selfTile) {
    S.selfTile = new Tile({ id: 'self', name: S.name, self: true });
    stage.addTile(S.selfTile);
  }
  S.selfTile.setName(S.name);
  refreshSelf();
  renderControls();
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
  sig.open().then(() => sig.send({ type: 'join', name: S.name })).catch(() => { /* onClose handles it */ });
}

/** lost tears the session down after a drop and schedules a reconnection. */
function lost(why) {
  const sig = S.sig;
  S.sig = null;
  if (sig) sig.close();
  endCall();
  if (S.phase !== 'meeting') return;
  S.retries++;
  if (S.retries > MAX_RETRIES) {
    showLeft('Connection lost', `Parley could not reach the node (${why}). Check your network, then rejoin.`);
    return;
  }
  const delay = Math.min(500 * 2 ** (S.retries - 1), 15000) * (0.8 + Math.random() * 0.4);
  banner(`Reconnecting… (attempt ${S.retries} of ${MAX_RETRIES})`);
  S.retryTimer = setTimeout(() => { if (S.phase === 'meeting' && !S.sig) connect(); }, delay);
}

function endCall() {
  if (S.call) S.call.close();
  S.call = null;
  S.quality.clear();
  for (const id of [...S.participants.keys()]) removeParticipant(id, true);
  setSpeakers([]);
}

function leave() {
  if (S.phase !== 'meeting') return;
  const sig = S.sig;
  S.sig = null;
  if (sig) {
    sig.send({ type: 'leave' });
    sig.close();
  }
  showLeft('You left the meeting', `You can rejoin “${$('meeting-title').textContent}” at any time.`);
}

function showLeft(title, text) {
  S.phase = 'left';
  clearTimeout(S.retryTimer);
  const sig = S.sig;
  S.sig = null;
  if (sig) sig.close();
  endCall();
  stopScreen(false);
  for (const t of [S.micTrack, S.camTrack]) if (t) t.stop();
  S.micTrack = null;
  S.camTrack = null;
  S.hand = false;
  banner('');
  $('left-title').textContent = title;
  $('left-text').textContent = text;
  $('left-text').hidden = !text;
  show('left');
  $('rejoin').focus();
}

async function rejoin() {
  $('rejoin').disabled = true;
  const res = await acquire({ audio: true, video: S.camOn, micId: S.micId, camId: S.camId });
  S.micTrack = res.audio;
  S.camTrack = res.video;
  if (res.audioError || res.videoError) {
    toast(describeMediaError(res.videoError || res.audioError, res.videoError ? 'camera' : 'microphone'));
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
      if (typeof m.id === 'string') removeParticipant(m.id, false);
      break;
    case 'chat':
      if (m.chat && typeof m.chat === 'object') addChat(m.chat, true);
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

function onJoined(sig, m) {
  S.you = m.you && typeof m.you === 'object' ? m.you : { id: '' };
  // Count the reconnection as a success only once the session has held for a while, so a
  // failure that recurs right after every join still ends in "Connection lost".
  setTimeout(() => { if (S.sig === sig) S.retries = 0; }, 20000);
  banner('');
  if (!S.joinedAt) S.joinedAt = Date.now();
  if (m.room && typeof m.room.title === 'string' && m.room.title) setTitle(m.room.title);
  for (const p of Array.isArray(m.participants) ? m.participants : []) {
    if (p && typeof p === 'object' && p.id !== S.you.id) upsertParticipant(p, false);
  }
  for (const c of Array.isArray(m.history) ? m.history : []) if (c && typeof c === 'object') addChat(c, false);

  S.call = new Call({
    send: (msg) => sig.send(msg),
    onTrack,
    onTrackGone,
    onFailed: (pc) => { if (S.sig === sig) lost(`the ${pc} media connection failed`); },
    onError: (err) => { console.warn('parley:', err); toast(`Media: ${err.message || err}`); },
  });
  sendMute('mic', !(S.micOn && S.micTrack));
  sendMute('camera', !(S.camOn && S.camTrack));
  if (S.hand) sig.send({ type: 'hand', raised: true });
  S.call.publish({
    mic: S.micTrack,
    camera: S.camOn ? S.camTrack : null,
    screen: S.screenTrack,
  }).catch((err) => toast(`Could not publish your media: ${err.message || err}`));
  renderPeopleList();
}

function onNodeError(sig, m) {
  const text = typeof m.error === 'string' && m.error ? m.error : String(m.code || 'unknown error');
  if (!sig.joined && FATAL_CODES.has(m.code)) {
    showLeft(m.code === 'room_full' ? 'This meeting is full' : 'Meeting not found', text);
    return;
  }
  if (m.code === 'bad_sdp' && S.call) S.call.nodeError(new Error(text));
  toast(`The node reported an error: ${text}`);
}

// ---- participants ----

function remoteTile(id) {
  let t = S.tiles.get(id);
  if (!t) {
    const p = S.participants.get(id);
    t = new Tile({ id, name: p ? p.name : '', onPin: (tile) => stage.togglePin(tile) });
    S.tiles.set(id, t);
    stage.addTile(t);
  }
  return t;
}

function upsertParticipant(p, announce) {
  if (typeof p.id !== 'string' || !p.id) return;
  if (S.you && p.id === S.you.id) return; // our own state is kept here
  const before = S.participants.get(p.id);
  const name = typeof p.name === 'string' ? p.name : '';
  S.participants.set(p.id, { ...p, name });
  const t = remoteTile(p.id);
  t.setName(name);
  t.setMicMuted(!!p.mic_muted);
  t.setCameraOff(!!p.camera_muted);
  t.setHand(!!p.hand);
  for (const s of S.screens.values()) if (s.pid === p.id) s.video.dataset.screenOf = name;
  for (const a of S.audios.values()) if (a.dataset.pid === p.id) a.dataset.participantAudio = name;
  if (announce && !before) toast(`${name} joined`, 'info', 3000);
  if (before && !before.hand && p.hand) toast(`${name} raised their hand`, 'info', 4000);
  renderPeopleList();
  scheduleLayers();
}

function removeParticipant(id, quiet) {
  const p = S.participants.get(id);
  S.participants.delete(id);
  const t = S.tiles.get(id);
  if (t) {
    S.tiles.delete(id);
    stage.removeTile(t);
  }
  for (const [mid, s] of [...S.screens]) {
    if (s.pid === id) { S.screens.delete(mid); stage.removeScreen(s.box); }
  }
  for (const [mid, a] of [...S.audios]) {
    if (a.dataset.pid === id) { S.audios.delete(mid); a.srcObject = null; a.remove(); }
  }
  if (p && !quiet) toast(`${p.name} left`, 'info', 3000);
  renderPeopleList();
}

function setSpeakers(ids) {
  S.speakers = ids.filter((x) => typeof x === 'string');
  const speaking = new Set(S.speakers);
  for (const [id, t] of S.tiles) t.setSpeaking(speaking.has(id));
  if (S.selfTile) S.selfTile.setSpeaking(!!S.you && speaking.has(S.you.id) && S.micOn);
}

function renderPeopleList() {
  const people = [{
    name: S.name, self: true, micMuted: !(S.micOn && S.micTrack), cameraOff: !(S.camOn && S.camTrack), hand: S.hand,
  }];
  for (const p of S.participants.values()) {
    people.push({ name: p.name, micMuted: !!p.mic_muted, cameraOff: !!p.camera_muted, hand: !!p.hand });
  }
  renderPeople($('people'), people);
  $('count').textContent = `${people.length} ${people.length === 1 ? 'person' : 'people'}`;
}

// ---- received tracks ----

function onTrack(mid, info, track) {
  const pid = info.participant;
  const p = S.participants.get(pid);
  const name = p ? p.name : '';
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
    stage.addScreen(box);
    playQuietly(video);
  } else {
    const t = remoteTile(pid);
    t.camMid = mid;
    t.camTrackId = info.id;
    t.setStream(new MediaStream([track]));
    scheduleLayers();
  }
}

function onTrackGone(mid, info) {
  const a = S.audios.get(mid);
  if (a) {
    S.audios.delete(mid);
    a.srcObject = null;
    a.remove();
  }
  const s = S.screens.get(mid);
  if (s) {
    S.screens.delete(mid);
    stage.removeScreen(s.box);
  }
  const t = S.tiles.get(info.participant);
  if (t && t.camMid === mid) {
    t.camMid = null;
    t.camTrackId = null;
    t.setStream(null);
  }
}

function playAudio(a) {
  const p = a.play();
  if (p && p.catch) {
    p.catch((err) => {
      if (err && err.name === 'NotAllowedError') $('enable-audio').hidden = false;
    });
  }
}

function applySink(a) {
  if (S.speakerId && canPickSpeaker()) a.setSinkId(S.speakerId).catch((err) => console.warn('parley: setSinkId', err));
}

// ---- simulcast layers ----

function scheduleLayers() {
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

// ---- chat ----

function addChat(c, live) {
  const name = typeof c.name === 'string' ? c.name : '';
  const text = typeof c.text === 'string' ? c.text : '';
  if (!text) return;
  const key = `${c.seq}|${c.from}|${c.time}|${text}`;
  if (S.seenChat.has(key)) return;
  S.seenChat.add(key);
  const mine = !!S.you && c.from === S.you.id;
  appendChat($('chat-log'), { name, text, time: c.time, mine });
  if (live && !mine && S.panel !== 'chat') {
    S.unread++;
    renderControls();
    toast(`${name}: ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`, 'info', 4000);
  }
}

function sendChat() {
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text) return;
  if (!S.sig || !S.sig.send({ type: 'chat', text })) {
    toast('Not connected: your message was not sent.');
    return;
  }
  input.value = '';
}

// ---- controls ----

function sendMute(source, muted) {
  if (S.sig) S.sig.send({ type: 'mute', source, muted: !!muted });
}

async function toggleMic() {
  if (!S.micTrack) {
    const res = await acquire({ audio: true, micId: S.micId });
    if (!res.audio) {
      toast(describeMediaError(res.audioError, 'microphone'));
      return;
    }
    S.micTrack = res.audio;
    S.micOn = true;
    if (S.call) S.call.setTrack('mic', S.micTrack).catch((err) => toast(`Microphone: ${err.message || err}`));
  } else {
    S.micOn = !S.micOn;
  }
  S.micTrack.enabled = S.micOn;
  store.set('micOn', S.micOn);
  sendMute('mic', !S.micOn);
  refreshSelf();
}

async function toggleCamera() {
  if (S.camOn && S.camTrack) {
    S.camOn = false;
    const t = S.camTrack;
    S.camTrack = null;
    if (S.call) await S.call.setTrack('camera', null).catch(() => {});
    t.stop();
    sendMute('camera', true);
  } else {
    $('ctl-camera').disabled = true;
    const res = await acquire({ video: true, camId: S.camId });
    $('ctl-camera').disabled = false;
    if (!res.video) {
      toast(describeMediaError(res.videoError, 'camera'));
      return;
    }
    S.camTrack = res.video;
    S.camOn = true;
    if (S.call) S.call.setTrack('camera', S.camTrack).catch((err) => toast(`Camera: ${err.message || err}`));
    sendMute('camera', false);
  }
  store.set('camOn', S.camOn);
  refreshSelf();
}

async function startScreen() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    toast('This browser cannot share its screen.');
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
  } catch (err) {
    if (err && err.name !== 'NotAllowedError' && err.name !== 'AbortError') toast(`Could not share your screen: ${err.message || err}`);
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if ('contentHint' in track) track.contentHint = 'detail';
  track.addEventListener('ended', () => { if (S.screenTrack === track) stopScreen(true); });
  S.screenTrack = track;
  const { box, video } = screenBox(S.name, true);
  box.classList.add('tile', 'self-screen');
  video.srcObject = new MediaStream([track]);
  S.selfScreen = { el: box, self: false, setPinned() {} };
  stage.addTile(S.selfScreen);
  if (S.call) S.call.setTrack('screen', track).catch((err) => toast(`Screen share: ${err.message || err}`));
  renderControls();
}

function stopScreen(renegotiate) {
  const track = S.screenTrack;
  if (!track) return;
  S.screenTrack = null;
  track.stop();
  if (S.selfScreen) {
    stage.removeTile(S.selfScreen);
    S.selfScreen = null;
  }
  if (renegotiate && S.call) S.call.stopSending('screen').catch((err) => toast(`Screen share: ${err.message || err}`));
  renderControls();
}

function toggleHand() {
  S.hand = !S.hand;
  if (S.sig) S.sig.send({ type: 'hand', raised: S.hand });
  refreshSelf();
}

function openPanel(which) {
  S.panel = S.panel === which ? '' : which;
  const panel = $('panel');
  panel.hidden = !S.panel;
  document.body.classList.toggle('panel-open', !!S.panel);
  if (S.panel) {
    const chat = S.panel === 'chat';
    $('chat-pane').hidden = !chat;
    $('people-pane').hidden = chat;
    $('tab-chat').setAttribute('aria-selected', String(chat));
    $('tab-people').setAttribute('aria-selected', String(!chat));
    if (chat) {
      S.unread = 0;
      $('chat-log').scrollTop = $('chat-log').scrollHeight;
      $('chat-input').focus();
    }
  }
  renderControls();
  stage.schedule();
}

async function openSettings() {
  const devs = await listDevices();
  fillSelect($('set-camera'), devs.videoinput, S.camTrack ? S.camTrack.getSettings().deviceId : S.camId, 'Camera');
  fillSelect($('set-mic'), devs.audioinput, S.micTrack ? S.micTrack.getSettings().deviceId : S.micId, 'Microphone');
  const speakers = canPickSpeaker() && devs.audiooutput.length > 0;
  $('set-speaker-field').hidden = !speakers;
  if (speakers) fillSelect($('set-speaker'), devs.audiooutput, S.speakerId, 'Speaker');
  const dlg = $('settings');
  if (typeof dlg.showModal === 'function') dlg.showModal();
}

async function switchDevice(kind, id) {
  if (kind === 'speaker') {
    S.speakerId = id;
    store.set('speakerId', id);
    for (const a of S.audios.values()) applySink(a);
    return;
  }
  if (kind === 'camera') {
    S.camId = id;
    store.set('camId', id);
    if (!S.camOn) return;
    const res = await acquire({ video: true, camId: id });
    if (!res.video) { toast(describeMediaError(res.videoError, 'camera')); return; }
    const old = S.camTrack;
    S.camTrack = res.video;
    if (S.call) await S.call.setTrack('camera', S.camTrack).catch((err) => toast(`Camera: ${err.message || err}`));
    if (old) old.stop();
  } else {
    S.micId = id;
    store.set('micId', id);
    const res = await acquire({ audio: true, micId: id });
    if (!res.audio) { toast(describeMediaError(res.audioError, 'microphone')); return; }
    const old = S.micTrack;
    S.micTrack = res.audio;
    S.micTrack.enabled = S.micOn;
    if (S.call) await S.call.setTrack('mic', S.micTrack).catch((err) => toast(`Microphone: ${err.message || err}`));
    if (old) old.stop();
  }
  refreshSelf();
}

function refreshSelf() {
  const t = S.selfTile;
  if (t) {
    const cam = S.camOn && S.camTrack;
    const cur = t.stream && t.stream.getVideoTracks()[0];
    if (!cam) t.setStream(null);
    else if (cur !== S.camTrack) t.setStream(new MediaStream([S.camTrack]));
    t.setMicMuted(!(S.micOn && S.micTrack));
    t.setHand(S.hand);
  }
  renderControls();
  renderPeopleList();
}

function ctl(id, iconName, label, pressed, title) {
  const b = $(id);
  b.innerHTML = `${icon(iconName)}<span class="lbl">${label}</span>`;
  b.setAttribute('aria-label', label);
  if (pressed !== null) b.setAttribute('aria-pressed', String(pressed));
  b.title = title;
  return b;
}

function renderControls() {
  const micOn = !!(S.micOn && S.micTrack);
  const camOn = !!(S.camOn && S.camTrack);
  ctl('ctl-mic', micOn ? 'mic' : 'micOff', 'Mic', micOn, micOn ? 'Mute microphone' : 'Unmute microphone').classList.toggle('off', !micOn);
  ctl('ctl-camera', camOn ? 'cam' : 'camOff', 'Camera', camOn, camOn ? 'Turn camera off' : 'Turn camera on').classList.toggle('off', !camOn);
  ctl('ctl-screen', S.screenTrack ? 'screenStop' : 'screen', S.screenTrack ? 'Stop sharing' : 'Share', !!S.screenTrack,
    S.screenTrack ? 'Stop sharing your screen' : 'Share your screen').classList.toggle('active', !!S.screenTrack);
  ctl('ctl-hand', 'hand', S.hand ? 'Lower hand' : 'Raise hand', S.hand, S.hand ? 'Lower your hand' : 'Raise your hand')
    .classList.toggle('active', S.hand);
  const chat = ctl('ctl-chat', 'chat', 'Chat', S.panel === 'chat', 'Show chat');
  if (S.unread > 0 && S.panel !== 'chat') {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = S.unread > 9 ? '9+' : String(S.unread);
    chat.append(badge);
    chat.setAttribute('aria-label', `Chat, ${S.unread} unread`);
  }
  ctl('ctl-people', 'people', 'People', S.panel === 'people', 'Show participants');
  ctl('ctl-settings', 'settings', 'Devices', null, 'Camera, microphone and speaker');
  ctl('ctl-leave', 'leave', 'Leave', null, 'Leave the meeting');
}

function banner(text) {
  $('banner').textContent = text;
  $('banner').hidden = !text;
}

function tickClock() {
  if (!S.joinedAt || S.phase !== 'meeting') return;
  const s = Math.floor((Date.now() - S.joinedAt) / 1000);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  $('clock').textContent = hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

// ---- wiring ----

function wire() {
  stage = new Stage($('stage'), $('spotlight'), $('grid'), scheduleLayers);
  $('ctl-mic').addEventListener('click', () => toggleMic());
  $('ctl-camera').addEventListener('click', () => toggleCamera());
  $('ctl-screen').addEventListener('click', () => (S.screenTrack ? stopScreen(true) : startScreen()));
  $('ctl-hand').addEventListener('click', toggleHand);
  $('ctl-chat').addEventListener('click', () => openPanel('chat'));
  $('ctl-people').addEventListener('click', () => openPanel('people'));
  $('ctl-settings').addEventListener('click', () => openSettings());
  $('ctl-leave').addEventListener('click', leave);
  $('tab-chat').addEventListener('click', () => { if (S.panel !== 'chat') openPanel('chat'); });
  $('tab-people').addEventListener('click', () => { if (S.panel !== 'people') openPanel('people'); });
  $('panel-close').innerHTML = icon('close');
  $('panel-close').addEventListener('click', () => openPanel(S.panel));
  $('chat-send').innerHTML = icon('send');
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
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && S.panel && !$('settings').open) openPanel(S.panel);
  });
  window.addEventListener('pagehide', () => {
    if (S.sig) S.sig.send({ type: 'leave' });
  });
  setInterval(tickClock, 1000);
  renderControls();
}

wire();
show('prejoin');
loadRoom();
prejoin.start();
