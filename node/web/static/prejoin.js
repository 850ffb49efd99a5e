// prejoin.js — Parley web client: the screen before joining. Room title, name, camera and
// microphone preview with a level meter, device choice, and whether to join muted or with the
// camera off. It owns the local tracks until the meeting takes them over.

import { $, icon, paintAvatar } from './ui.js';
import { t } from './i18n.js';
import { acquire, canPickSpeaker, describeMediaError, listDevices, mediaSupported } from './media.js';

const store = {
  get(k) { try { return localStorage.getItem(`parley.${k}`) || ''; } catch (_) { return ''; } },
  set(k, v) { try { localStorage.setItem(`parley.${k}`, String(v)); } catch (_) { /* private mode */ } },
};
export { store };

/**
 * Prejoin drives the prejoin screen. S is the app state (name, micTrack, camTrack, micOn,
 * camOn, micId, camId, speakerId); onJoin() is called when the form is submitted validly.
 */
export class Prejoin {
  constructor(S, onJoin) {
    this.S = S;
    this.onJoin = onJoin;
    this.pending = Promise.resolve();
    this.meter = null;
    this.roomOK = true;
    this.refused = false; // this browser cannot take part (see refuse)
    const params = new URLSearchParams(location.search);
    const name = (params.get('name') || store.get('name') || '').slice(0, 64);
    $('name').value = name;
    S.micOn = store.get('micOn') !== 'false';
    S.camOn = store.get('camOn') !== 'false';
    S.micId = store.get('micId');
    S.camId = store.get('camId');
    S.speakerId = store.get('speakerId');

    $('pre-mic').addEventListener('click', () => this.toggleMic());
    $('pre-camera').addEventListener('click', () => this.toggleCamera());
    $('name').addEventListener('input', () => {
      $('name-error').hidden = true;
      paintAvatar($('preview-avatar'), $('name').value || '?');
    });
    $('sel-camera').addEventListener('change', (e) => this.pickCamera(e.target.value));
    $('sel-mic').addEventListener('change', (e) => this.pickMic(e.target.value));
    $('sel-speaker').addEventListener('change', (e) => { S.speakerId = e.target.value; store.set('speakerId', S.speakerId); });
    $('join-form').addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    if (navigator.mediaDevices && 'ondevicechange' in navigator.mediaDevices) {
      navigator.mediaDevices.addEventListener('devicechange', () => this.fillDevices());
    }
    paintAvatar($('preview-avatar'), name || '?');
    this.render();
    this.signedInName();
  }

  /**
   * signedInName fills in, for someone signed in on this node, the name their identity
   * provider gives: the node uses it whatever is typed, so the field is read-only.
   */
  async signedInName() {
    try {
      const resp = await fetch('/api/me', { credentials: 'same-origin' });
      const me = resp.ok ? await resp.json() : null;
      if (!me || !me.user || typeof me.user.name !== 'string' || !me.user.name) return;
      const field = $('name');
      field.value = me.user.name.slice(0, 64);
      field.readOnly = true;
      field.title = t('prejoin.signedInName');
      $('name-error').hidden = true;
      paintAvatar($('preview-avatar'), field.value);
    } catch { /* not signed in, or the node is unreachable: the typed name stands */ }
  }

  /** start shows the screen and asks for the devices. */
  start() {
    $('join').disabled = !this.roomOK || this.refused;
    $('join').textContent = t('prejoin.join');
    this.pending = this.acquireAll();
    return this.pending;
  }

  async acquireAll() {
    const S = this.S;
    if (!mediaSupported()) {
      this.message(describeMediaError({ name: 'InsecureContext' }, 'both'));
      this.render();
      return;
    }
    const res = await acquire({ audio: !S.micTrack, video: S.camOn && !S.camTrack, micId: S.micId, camId: S.camId });
    if (res.audio) S.micTrack = res.audio;
    if (res.video) S.camTrack = res.video;
    const msgs = [];
    if (res.audioError && res.videoError && res.audioError.name === res.videoError.name) {
      msgs.push(describeMediaError(res.audioError, 'both'));
    } else {
      if (res.videoError) msgs.push(describeMediaError(res.videoError, 'camera'));
      if (res.audioError) msgs.push(describeMediaError(res.audioError, 'mic'));
    }
    this.message(msgs.join(' '));
    await this.fillDevices();
    this.render();
  }

  message(text) {
    $('media-message').textContent = text;
    $('media-message').hidden = !text;
  }

  async toggleMic() {
    const S = this.S;
    // Without a microphone yet, the button means "try again", whatever was wanted before.
    S.micOn = S.micTrack ? !S.micOn : true;
    store.set('micOn', S.micOn);
    if (!S.micTrack) {
      const res = await acquire({ audio: true, micId: S.micId });
      if (res.audio) {
        S.micTrack = res.audio;
        this.message('');
      } else {
        this.message(describeMediaError(res.audioError, 'mic'));
      }
      await this.fillDevices();
    }
    this.render();
  }

  async toggleCamera() {
    const S = this.S;
    S.camOn = !(S.camOn && S.camTrack);
    store.set('camOn', S.camOn);
    if (!S.camOn && S.camTrack) {
      S.camTrack.stop();
      S.camTrack = null;
    } else if (S.camOn && !S.camTrack) {
      const res = await acquire({ video: true, camId: S.camId });
      if (res.video) {
        S.camTrack = res.video;
        this.message('');
      } else {
        this.message(describeMediaError(res.videoError, 'camera'));
      }
      await this.fillDevices();
    }
    this.render();
  }

  async pickCamera(id) {
    const S = this.S;
    S.camId = id;
    store.set('camId', id);
    if (!S.camOn) return;
    const res = await acquire({ video: true, camId: id });
    if (res.video) {
      if (S.camTrack) S.camTrack.stop();
      S.camTrack = res.video;
    } else {
      this.message(describeMediaError(res.videoError, 'camera'));
    }
    this.render();
  }

  async pickMic(id) {
    const S = this.S;
    S.micId = id;
    store.set('micId', id);
    const res = await acquire({ audio: true, micId: id });
    if (res.audio) {
      if (S.micTrack) S.micTrack.stop();
      S.micTrack = res.audio;
    } else {
      this.message(describeMediaError(res.audioError, 'mic'));
    }
    this.render();
  }

  async fillDevices() {
    const S = this.S;
    const devs = await listDevices();
    const camNow = S.camTrack ? S.camTrack.getSettings().deviceId : S.camId;
    const micNow = S.micTrack ? S.micTrack.getSettings().deviceId : S.micId;
    fillSelect($('sel-camera'), devs.videoinput, camNow, 'camera');
    fillSelect($('sel-mic'), devs.audioinput, micNow, 'mic');
    // The speaker field is always there (the layout must not move while devices load); a
    // browser that cannot choose the output plays through the system's default.
    if (canPickSpeaker() && devs.audiooutput.length > 0) {
      fillSelect($('sel-speaker'), devs.audiooutput, S.speakerId, 'speaker');
    } else {
      const o = document.createElement('option');
      o.value = '';
      o.textContent = t('media.systemDefault');
      $('sel-speaker').replaceChildren(o);
      $('sel-speaker').disabled = true;
    }
    return devs;
  }

  render() {
    const S = this.S;
    const video = $('preview-video');
    const camShown = S.camOn && S.camTrack;
    if (camShown) {
      if (!video.srcObject || video.srcObject.getVideoTracks()[0] !== S.camTrack) {
        video.srcObject = new MediaStream([S.camTrack]);
      }
    } else {
      video.srcObject = null;
    }
    $('preview-off').hidden = !!camShown;
    $('preview-off-text').textContent = S.camOn ? t('prejoin.cameraUnavailable') : t('prejoin.cameraOff');
    if (S.micTrack) S.micTrack.enabled = S.micOn;
    setToggle($('pre-mic'), S.micOn && !!S.micTrack, 'mic', 'micOff', t('media.microphone'));
    setToggle($('pre-camera'), !!camShown, 'cam', 'camOff', t('media.camera'));
    this.runMeter();
  }

  /** runMeter animates the microphone level bar while the prejoin screen shows. */
  runMeter() {
    const S = this.S;
    const track = S.micOn ? S.micTrack : null;
    if (this.meter && this.meter.track === track) return;
    this.stopMeter();
    if (!track || typeof AudioContext === 'undefined') return;
    try {
      const ctx = new AudioContext();
      const src = ctx.createMediaStreamSource(new MediaStream([track]));
      const an = ctx.createAnalyser();
      an.fftSize = 512;
      src.connect(an);
      const buf = new Uint8Array(an.fftSize);
      const bar = $('pre-level');
      const m = { track, ctx, raf: 0 };
      const resume = () => ctx.resume().catch(() => {});
      document.addEventListener('pointerdown', resume, { once: true });
      const loop = () => {
        an.getByteTimeDomainData(buf);
        let sum = 0;
        for (const v of buf) sum += (v - 128) * (v - 128);
        const rms = Math.sqrt(sum / buf.length) / 128;
        bar.style.transform = `scaleX(${Math.min(1, rms * 4).toFixed(3)})`;
        m.raf = requestAnimationFrame(loop);
      };
      loop();
      this.meter = m;
    } catch (err) {
      console.warn('parley: level meter', err);
    }
  }

  stopMeter() {
    if (!this.meter) return;
    cancelAnimationFrame(this.meter.raf);
    this.meter.ctx.close().catch(() => {});
    this.meter = null;
    $('pre-level').style.transform = 'scaleX(0)';
  }

  async submit() {
    const name = $('name').value.trim();
    if (!name) {
      $('name-error').hidden = false;
      $('name').focus();
      return;
    }
    if (!this.roomOK || this.refused) return;
    this.S.name = name;
    store.set('name', name);
    $('join').disabled = true;
    $('join').textContent = t('prejoin.joining');
    // Let a device request that is still running finish, but do not wait forever on it.
    await Promise.race([this.pending.catch(() => {}), new Promise((r) => setTimeout(r, 8000))]);
    this.stopMeter();
    $('preview-video').srcObject = null;
    this.onJoin();
  }

  /**
   * refuse keeps the join button disabled for good and says why: this browser cannot take part
   * (it cannot encrypt media or hold keys), and joining without encryption is never offered.
   */
  refuse(text) {
    this.refused = true;
    $('join').disabled = true;
    $('refusal').textContent = text;
    $('refusal').hidden = false;
  }

  /** setRoom shows the room's title, or that it does not exist. */
  setRoom(title, missing) {
    $('prejoin-title').textContent = title;
    $('prejoin-title').title = title; // shown in full on hover when it is cut
    if (missing) {
      this.roomOK = false;
      $('join').disabled = true;
      $('room-sub').textContent = t('prejoin.badLink');
    } else {
      $('room-sub').textContent = t('prejoin.check');
    }
  }
}

/** setToggle draws a round on/off button. */
export function setToggle(btn, on, onIcon, offIcon, label) {
  btn.innerHTML = icon(on ? onIcon : offIcon);
  btn.setAttribute('aria-pressed', String(!!on));
  btn.classList.toggle('off', !on);
  btn.title = t(on ? 'media.labelOn' : 'media.labelOff', { label });
}

// DEVICE_TEXT names the devices of each kind when the browser gives no label, and their absence.
const DEVICE_TEXT = {
  camera: ['media.cameraN', 'media.noCamera'],
  mic: ['media.microphoneN', 'media.noMicrophone'],
  speaker: ['media.speakerN', 'media.noSpeaker'],
};

/** fillSelect lists devices of kind (camera, mic, speaker) in a <select>, keeping the chosen one selected. */
export function fillSelect(sel, devices, chosen, kind) {
  const [nth, none] = DEVICE_TEXT[kind];
  const opts = devices.map((d, i) => {
    const o = document.createElement('option');
    o.value = d.deviceId;
    o.textContent = d.label || t(nth, { n: i + 1 });
    return o;
  });
  if (opts.length === 0) {
    const o = document.createElement('option');
    o.value = '';
    o.textContent = t(none);
    opts.push(o);
  }
  sel.replaceChildren(...opts);
  sel.disabled = devices.length === 0;
  if (chosen && devices.some((d) => d.deviceId === chosen)) sel.value = chosen;
}
