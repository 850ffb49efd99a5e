// controls.js — Parley web client: what we send and the meeting's controls. Microphone,
// camera and screen share (with the node told of mutes), raised hand, device settings, the
// side panel, our own tile, the control bar, the banner and the meeting clock.

import { $, icon, screenBox, toast } from './ui.js';
import { t } from './i18n.js';
import { acquire, canPickSpeaker, describeMediaError, listDevices } from './media.js';
import { fillSelect, store } from './prejoin.js';
import { S } from './state.js';
import { applySink } from './remote.js';
import { refreshRoster } from './roster.js';
import { captionsShown } from './captions.js';

export function sendMute(source, muted) {
  if (S.sig) S.sig.send({ type: 'mute', source, muted: !!muted });
}

export async function toggleMic() {
  if (!S.micTrack) {
    const res = await acquire({ audio: true, micId: S.micId });
    if (!res.audio) {
      toast(describeMediaError(res.audioError, 'mic'));
      return;
    }
    S.micTrack = res.audio;
    S.micOn = true;
    if (S.call) S.call.setTrack('mic', S.micTrack).catch((err) => toast(t('controls.micError', { error: err.message || err })));
  } else {
    S.micOn = !S.micOn;
  }
  S.micTrack.enabled = S.micOn;
  store.set('micOn', S.micOn);
  sendMute('mic', !S.micOn);
  refreshSelf();
}

export async function toggleCamera() {
  if (S.camOn && S.camTrack) {
    S.camOn = false;
    const track = S.camTrack;
    S.camTrack = null;
    if (S.call) await S.call.setTrack('camera', null).catch(() => {});
    track.stop();
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
    if (S.call) S.call.setTrack('camera', S.camTrack).catch((err) => toast(t('controls.cameraError', { error: err.message || err })));
    sendMute('camera', false);
  }
  store.set('camOn', S.camOn);
  refreshSelf();
}

export async function startScreen() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    toast(t('controls.noScreenShare'));
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
  } catch (err) {
    if (err && err.name !== 'NotAllowedError' && err.name !== 'AbortError') toast(t('controls.screenFailed', { error: err.message || err }));
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
  S.stage.addTile(S.selfScreen);
  if (S.call) S.call.setTrack('screen', track).catch((err) => toast(t('controls.screenError', { error: err.message || err })));
  renderControls();
}

export function stopScreen(renegotiate) {
  const track = S.screenTrack;
  if (!track) return;
  S.screenTrack = null;
  track.stop();
  if (S.selfScreen) {
    S.stage.removeTile(S.selfScreen);
    S.selfScreen = null;
  }
  if (renegotiate && S.call) S.call.stopSending('screen').catch((err) => toast(t('controls.screenError', { error: err.message || err })));
  renderControls();
}

export function toggleHand() {
  S.hand = !S.hand;
  if (S.sig) S.sig.send({ type: 'hand', raised: S.hand });
  refreshSelf();
}

export function openPanel(which) {
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
  S.stage.schedule();
}

export async function openSettings() {
  const devs = await listDevices();
  fillSelect($('set-camera'), devs.videoinput, S.camTrack ? S.camTrack.getSettings().deviceId : S.camId, 'camera');
  fillSelect($('set-mic'), devs.audioinput, S.micTrack ? S.micTrack.getSettings().deviceId : S.micId, 'mic');
  const speakers = canPickSpeaker() && devs.audiooutput.length > 0;
  $('set-speaker-field').hidden = !speakers;
  if (speakers) fillSelect($('set-speaker'), devs.audiooutput, S.speakerId, 'speaker');
  const dlg = $('settings');
  if (typeof dlg.showModal === 'function') dlg.showModal();
}

export async function switchDevice(kind, id) {
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
    if (S.call) await S.call.setTrack('camera', S.camTrack).catch((err) => toast(t('controls.cameraError', { error: err.message || err })));
    if (old) old.stop();
  } else {
    S.micId = id;
    store.set('micId', id);
    const res = await acquire({ audio: true, micId: id });
    if (!res.audio) { toast(describeMediaError(res.audioError, 'mic')); return; }
    const old = S.micTrack;
    S.micTrack = res.audio;
    S.micTrack.enabled = S.micOn;
    if (S.call) await S.call.setTrack('mic', S.micTrack).catch((err) => toast(t('controls.micError', { error: err.message || err })));
    if (old) old.stop();
  }
  refreshSelf();
}

/** refreshSelf redraws our own tile, the controls and the People panel. */
export function refreshSelf() {
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
  refreshRoster();
}

// drawn remembers each control's markup so a redraw that changes nothing leaves the button's
// children in place: replacing them between a press and its release would lose the click.
const drawn = new Map();

function ctl(id, iconName, label, pressed, title) {
  const b = $(id);
  const html = `${icon(iconName)}<span class="lbl">${label}</span>`;
  if (drawn.get(id) !== html) {
    b.innerHTML = html;
    drawn.set(id, html);
  }
  b.setAttribute('aria-label', label);
  if (pressed !== null) b.setAttribute('aria-pressed', String(pressed));
  b.title = title;
  return b;
}

// setBadge shows count on button b in a badge of class cls, or removes the badge at zero.
function setBadge(b, cls, count) {
  let badge = b.querySelector('.badge');
  if (count <= 0) {
    if (badge) badge.remove();
    return;
  }
  if (!badge) {
    badge = document.createElement('span');
    badge.setAttribute('aria-hidden', 'true'); // the button's label says the count
    b.append(badge);
  }
  badge.className = cls;
  // Drawn by CSS: the visible text stays the label, which the button's name starts with.
  badge.dataset.count = count > 9 ? '9+' : String(count);
}

export function renderControls() {
  const micOn = !!(S.micOn && S.micTrack);
  const camOn = !!(S.camOn && S.camTrack);
  ctl('ctl-mic', micOn ? 'mic' : 'micOff', t('controls.mic'), micOn, t(micOn ? 'controls.micMute' : 'controls.micUnmute')).classList.toggle('off', !micOn);
  ctl('ctl-camera', camOn ? 'cam' : 'camOff', t('media.camera'), camOn, t(camOn ? 'controls.cameraOff' : 'controls.cameraOn')).classList.toggle('off', !camOn);
  ctl('ctl-screen', S.screenTrack ? 'screenStop' : 'screen', t(S.screenTrack ? 'controls.stopSharing' : 'controls.share'), !!S.screenTrack,
    t(S.screenTrack ? 'controls.stopSharingTitle' : 'controls.shareTitle')).classList.toggle('active', !!S.screenTrack);
  ctl('ctl-hand', 'hand', t(S.hand ? 'controls.lowerHand' : 'controls.raiseHand'), S.hand, t(S.hand ? 'controls.lowerHandTitle' : 'controls.raiseHandTitle'))
    .classList.toggle('active', S.hand);
  ctl('ctl-react', 'react', t('controls.react'), null, t('controls.reactTitle'));
  ctl('ctl-captions', 'captions', t('captions.toggle'), null, t(captionsShown() ? 'captions.hideTitle' : 'captions.showTitle'));
  const chat = ctl('ctl-chat', 'chat', t('meeting.chat'), S.panel === 'chat', t('controls.chatTitle'));
  const unread = S.panel !== 'chat' ? S.unread : 0;
  setBadge(chat, 'badge', unread);
  if (unread > 0) chat.setAttribute('aria-label', t('controls.chatUnread', { count: unread }));
  const people = ctl('ctl-people', 'people', t('meeting.people'), S.panel === 'people', t('controls.peopleTitle'));
  const waiting = S.moderator ? S.waiting.length : 0;
  setBadge(people, 'badge knock', waiting);
  if (waiting > 0) people.setAttribute('aria-label', t('controls.peopleWaiting', { count: waiting }));
  ctl('ctl-settings', 'settings', t('media.devices'), null, t('controls.devicesTitle'));
  ctl('ctl-leave', 'leave', t('common.leave'), null, t('controls.leaveTitle'));
}

export function banner(text) {
  $('banner').textContent = text;
  $('banner').hidden = !text;
}

export function tickClock() {
  if (!S.joinedAt || S.phase !== 'meeting') return;
  const s = Math.floor((Date.now() - S.joinedAt) / 1000);
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  $('clock').textContent = hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}
