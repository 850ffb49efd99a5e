// ui.js — Parley web client: DOM building blocks. Icons, toasts, participant tiles, the stage
// layout (grid, or spotlight with a filmstrip) and the chat log (people.js draws the people
// list). Nothing here talks to the network.

import { t } from './i18n.js';

const SVG_ATTRS = 'viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" ' +
  'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"';

const PATHS = {
  mic: '<path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z"/><path d="M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21"/>',
  micOff: '<path d="M15 10V6a3 3 0 0 0-5.7-1.3M9 9v3a3 3 0 0 0 4.6 2.5"/><path d="M5.5 11a6.5 6.5 0 0 0 10.4 5.2M18.4 12.5c.07-.5.1-1 .1-1.5M12 17.5V21M4 4l16 16"/>',
  cam: '<rect x="3" y="6.5" width="12.5" height="11" rx="2"/><path d="M15.5 10.5 21 7.5v9l-5.5-3z"/>',
  camOff: '<path d="M8 6.5h5.5a2 2 0 0 1 2 2v3M15.5 15.5a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-7a2 2 0 0 1 1.2-1.8"/><path d="M17 11.5l4-4v9l-2.5-1.7M3 3l18 18"/>',
  screen: '<rect x="3" y="4" width="18" height="12.5" rx="2"/><path d="M8 20.5h8M12 16.5v4M12 13V7.5M9.5 10 12 7.5 14.5 10"/>',
  screenStop: '<rect x="3" y="4" width="18" height="12.5" rx="2"/><path d="M8 20.5h8M12 16.5v4M9.5 7.75l5 5M14.5 7.75l-5 5"/>',
  hand: '<path d="M8 12.5V6a1.5 1.5 0 0 1 3 0v5.5M11 11V4.5a1.5 1.5 0 0 1 3 0V11M14 11V6a1.5 1.5 0 0 1 3 0v7.5a7.5 7.5 0 0 1-7.5 7.5h-.3a6 6 0 0 1-5-2.7l-2.4-3.7a1.5 1.5 0 0 1 2.4-1.8L8 15"/>',
  chat: '<path d="M4 5.5h16v11H10l-5 4v-4H4z"/><path d="M8 9.5h8M8 12.5h5"/>',
  people: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.2a6.5 6.5 0 0 1 3.5 5.8"/>',
  leave: '<path d="M3.2 14.6c4.9-4.8 12.7-4.8 17.6 0l-2.3 2.6-3.2-1.4v-2.6a10.5 10.5 0 0 0-6.6 0v2.6l-3.2 1.4z"/>',
  settings: '<path d="M4 7h9M17 7h3M4 17h3M11 17h9"/><circle cx="15" cy="7" r="2"/><circle cx="9" cy="17" r="2"/>',
  pin: '<path d="M9 3.5h6l-1 6.5 3 3H7l3-3zM12 13v7.5"/>',
  close: '<path d="M6 6l12 12M18 6 6 18"/>',
  send: '<path d="M4 12 20 4l-6 16-2.5-6.5z"/><path d="M11.5 13.5 20 4"/>',
  speaker: '<path d="M4 9.5v5h3.5l5 4v-13l-5 4z"/><path d="M16 9a4.5 4.5 0 0 1 0 6M18.5 6.5a8 8 0 0 1 0 11"/>',
  lock: '<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3"/>',
  lockOpen: '<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 7.7-1.5"/>',
  lockAlert: '<rect x="5" y="10.5" width="14" height="10" rx="2"/><path d="M8 10.5V7.5a4 4 0 0 1 8 0v3M12 13.5v3M12 18.6v.1"/>',
  captions: '<rect x="3" y="5.5" width="18" height="13" rx="2"/><path d="M10.5 10.2a2.2 2.2 0 1 0 0 3.6M17 10.2a2.2 2.2 0 1 0 0 3.6"/>',
  react: '<circle cx="12" cy="12" r="8.5"/><path d="M8.5 14a4 4 0 0 0 7 0M9 9.5v.1M15 9.5v.1"/>',
  cohost: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M19 8v6M16 11h6"/>',
  remove: '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16.5 9.5l5 5M21.5 9.5l-5 5"/>',
};

/** icon returns the inline SVG markup of a named icon. */
export function icon(name) {
  return `<svg ${SVG_ATTRS}>${PATHS[name] || ''}</svg>`;
}

/** $ finds one element by id. */
export const $ = (id) => document.getElementById(id);

/** initials makes up to two letters from a display name. */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...words[0]][0] || '?';
  const last = words.length > 1 ? ([...words[words.length - 1]][0] || '') : '';
  return (first + last).toUpperCase();
}

/** hue gives a stable colour hue for a name, so each person keeps their avatar colour. */
export function hue(name) {
  let h = 0;
  for (const ch of String(name || '')) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/** paintAvatar fills an avatar element for a name. */
export function paintAvatar(el, name) {
  el.textContent = initials(name);
  el.style.setProperty('--hue', String(hue(name)));
}

// ---- toasts ----

/**
 * toast shows a non-blocking message that goes away by itself. kind: error | info. action,
 * if given, is {label, onClick}: a button that runs onClick and closes the toast.
 */
export function toast(text, kind = 'error', ms = 6000, action = null) {
  const box = $('toasts');
  if (!box) return;
  while (box.children.length >= 4) box.firstElementChild.remove();
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const span = document.createElement('span');
  span.textContent = String(text);
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'icon-btn';
  close.setAttribute('aria-label', t('common.dismiss'));
  close.innerHTML = icon('close');
  close.addEventListener('click', () => el.remove());
  el.append(span);
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small-btn admit';
    b.textContent = action.label;
    b.addEventListener('click', () => {
      el.remove();
      action.onClick();
    });
    el.append(b);
  }
  el.append(close);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

// ---- tiles ----

/**
 * Tile is one participant's box: video (or avatar when the camera is off), name, mic state,
 * raised hand and speaking highlight. A remote tile's <video> carries data-participant-name.
 */
export class Tile {
  constructor({ id, name, self = false, onPin = null }) {
    this.id = id;
    this.self = self;
    this.stream = null;
    this.cameraOff = false;
    const el = document.createElement('div');
    el.className = 'tile cam-off';
    el.dataset.pid = id;
    el.tabIndex = 0;
    el.setAttribute('role', 'group');
    const video = document.createElement('video');
    video.tabIndex = -1; // the tile itself takes the focus (Firefox would stop on the video too)
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // audio plays through its own <audio> element
    if (self) {
      video.dataset.self = 'true';
      video.classList.add('mirror');
    }
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    const plate = document.createElement('div');
    plate.className = 'nameplate';
    const mic = document.createElement('span');
    mic.className = 'mic-state';
    mic.innerHTML = icon('micOff');
    mic.setAttribute('role', 'img');
    mic.setAttribute('aria-label', t('people.micMuted'));
    mic.hidden = true;
    const label = document.createElement('span');
    label.className = 'name';
    const who = document.createElement('span');
    who.className = 'who';
    plate.append(mic, label, who);
    const hand = document.createElement('div');
    hand.className = 'hand-badge';
    hand.innerHTML = icon('hand');
    hand.setAttribute('role', 'img');
    hand.setAttribute('aria-label', t('people.handRaised'));
    hand.hidden = true;
    el.append(video, avatar, plate, hand);
    let alert = null;
    if (!self) {
      alert = document.createElement('div');
      alert.className = 'tile-alert';
      alert.setAttribute('role', 'status');
      alert.dataset.testid = 'undecryptable';
      alert.hidden = true;
      el.append(alert);
    }
    if (onPin) {
      const pin = document.createElement('button');
      pin.type = 'button';
      pin.className = 'icon-btn pin';
      pin.innerHTML = icon('pin');
      pin.addEventListener('click', () => onPin(this));
      el.append(pin);
      el.addEventListener('dblclick', () => onPin(this));
      this.pinBtn = pin;
    }
    Object.assign(this, { el, video, avatar, label, mic, hand, alert, who });
    this.setVerified(false);
    this.undecryptable = false;
    this.setName(name);
  }

  setName(name) {
    this.name = this.el.dataset.agent === 'true' ? t('agent.name') : String(name || '');
    const shown = this.self ? t('people.you', { name: this.name }) : this.name;
    this.label.textContent = shown;
    this.label.title = shown;
    paintAvatar(this.avatar, this.name);
    this.el.setAttribute('aria-label', shown);
    if (!this.self) this.video.dataset.participantName = this.name;
    if (this.pinBtn) this.pinBtn.setAttribute('aria-label', t('tile.pin', { name: this.name }));
    if (this.undecryptable) this.drawAlert();
  }

  /** setAgent marks the tile as the meeting's transcriber (data-agent), by its certificate. */
  setAgent() {
    if (this.el.dataset.agent === 'true') return;
    this.el.dataset.agent = 'true';
    delete this.el.dataset.guest;
    delete this.el.dataset.verified;
    this.setName(t('agent.name'));
    this.who.textContent = t('people.agent');
    this.who.title = t('people.agentTitle');
    this.who.hidden = false;
  }

  /**
   * setVerified marks the tile as a person their home node signed in (data-verified, name
   * and organisation from their identity provider) or as a guest (data-guest, a typed name).
   */
  setVerified(verified) {
    this.verified = !!verified;
    if (this.verified) {
      this.el.dataset.verified = 'true';
      delete this.el.dataset.guest;
    } else {
      this.el.dataset.guest = 'true';
      delete this.el.dataset.verified;
    }
    this.who.textContent = this.verified ? '' : t('tile.guest');
    this.who.hidden = this.verified;
    this.who.title = this.verified ? '' : t('people.guestTitle');
  }

  /** setStream shows a MediaStream in the tile's video, or the avatar when null. */
  setStream(stream) {
    this.stream = stream;
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    if (stream) playQuietly(this.video);
    this.refresh();
  }

  setCameraOff(off) {
    this.cameraOff = !!off;
    this.refresh();
  }

  refresh() {
    this.el.classList.toggle('cam-off', this.cameraOff || !this.stream || this.undecryptable);
  }

  /**
   * setUndecryptable says whether this participant's frames fail to decrypt. The worker drops
   * such frames, so the picture freezes; the tile says why instead of showing it.
   */
  setUndecryptable(on) {
    if (!this.alert || this.undecryptable === !!on) return;
    this.undecryptable = !!on;
    this.drawAlert();
    this.el.classList.toggle('undecryptable', this.undecryptable);
    this.refresh();
  }

  drawAlert() {
    const on = this.undecryptable;
    this.alert.hidden = !on;
    this.alert.innerHTML = on ? icon('lockAlert') : '';
    if (on) {
      const msg = document.createElement('span');
      msg.textContent = t('tile.cannotDecrypt', { name: this.name });
      this.alert.append(msg);
    }
  }

  setMicMuted(muted) { this.mic.hidden = !muted; }
  setHand(raised) { this.hand.hidden = !raised; this.el.classList.toggle('hand-up', !!raised); }
  setSpeaking(on) { this.el.classList.toggle('speaking', !!on); }
  setPinned(on) {
    this.el.classList.toggle('pinned', !!on);
    if (this.pinBtn) this.pinBtn.setAttribute('aria-label', t(on ? 'tile.unpin' : 'tile.pin', { name: this.name }));
  }
}

/** playQuietly starts a media element and ignores the promise (muted video may always play). */
export function playQuietly(media) {
  const p = media.play();
  if (p && p.catch) p.catch(() => {});
}

// ---- stage layout ----

/**
 * Stage lays out tiles: an even grid sized to fit, or — when someone shares a screen or a tile
 * is pinned — the share (or pinned tile) large with the other tiles in a filmstrip.
 */
export class Stage {
  constructor(stage, spotlight, grid, onLayout) {
    this.stage = stage;
    this.spotlightEl = spotlight;
    this.grid = grid;
    this.onLayout = onLayout;
    this.tiles = [];
    this.screens = [];
    this.pinned = null;
    this.timer = 0;
    this.ro = new ResizeObserver(() => this.schedule());
    this.ro.observe(stage);
  }

  addTile(tile) {
    if (this.tiles.includes(tile)) return;
    // Self first, then in order of arrival.
    if (tile.self) this.tiles.unshift(tile); else this.tiles.push(tile);
    this.relayout();
  }

  removeTile(tile) {
    this.tiles = this.tiles.filter((t) => t !== tile);
    if (this.pinned === tile) this.pinned = null;
    tile.el.remove();
    this.relayout();
  }

  addScreen(el) {
    if (!this.screens.includes(el)) this.screens.push(el);
    this.relayout();
  }

  removeScreen(el) {
    this.screens = this.screens.filter((s) => s !== el);
    el.remove();
    this.relayout();
  }

  togglePin(tile) {
    if (this.pinned) this.pinned.setPinned(false);
    this.pinned = this.pinned === tile ? null : tile;
    if (this.pinned) this.pinned.setPinned(true);
    this.relayout();
  }

  clear() {
    for (const t of this.tiles) t.el.remove();
    for (const s of this.screens) s.remove();
    this.tiles = [];
    this.screens = [];
    this.pinned = null;
    this.relayout();
  }

  schedule() {
    cancelAnimationFrame(this.timer);
    this.timer = requestAnimationFrame(() => this.relayout());
  }

  /** relayout places every element where the current mode wants it and sizes the grid. */
  relayout() {
    const spot = this.screens.length > 0 || this.pinned !== null;
    this.stage.classList.toggle('spotlight-mode', spot);
    this.stage.classList.toggle('grid-mode', !spot);
    const wantSpot = spot ? [...this.screens] : [];
    if (spot && this.pinned && this.screens.length === 0) wantSpot.push(this.pinned.el);
    const wantGrid = this.tiles.filter((t) => !wantSpot.includes(t.el)).map((t) => t.el);
    place(this.spotlightEl, wantSpot);
    place(this.grid, wantGrid);
    this.spotlightEl.dataset.count = String(wantSpot.length);
    if (!spot) this.sizeGrid(wantGrid.length);
    else this.grid.style.removeProperty('--tile-w');
    if (this.onLayout) this.onLayout();
  }

  sizeGrid(n) {
    const W = this.grid.clientWidth;
    const H = this.grid.clientHeight;
    if (n === 0 || W === 0 || H === 0) return;
    const gap = 8;
    const aspect = W >= H ? 16 / 9 : (n <= 2 ? 4 / 3 : 1);
    let best = 0;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * aspect);
      // On a wide stage, prefer more columns when tiles come out nearly as large.
      if (w > best * (W > H * aspect ? 0.94 : 1)) best = w;
    }
    this.grid.style.setProperty('--tile-w', `${Math.max(80, Math.floor(best))}px`);
    this.grid.style.setProperty('--tile-aspect', String(aspect));
  }
}

/** place makes parent's children exactly els, in order, moving only what must move. */
function place(parent, els) {
  for (const child of [...parent.children]) if (!els.includes(child)) child.remove();
  els.forEach((el, i) => {
    if (parent.children[i] !== el) {
      parent.insertBefore(el, parent.children[i] || null);
      for (const v of el.querySelectorAll('video')) if (v.srcObject) playQuietly(v);
      if (el.tagName === 'VIDEO' && el.srcObject) playQuietly(el);
    }
  });
}

/** screenBox builds the element that shows a screen share, with its <video>. */
export function screenBox(name, self = false) {
  const box = document.createElement('figure');
  box.className = 'screen-box';
  const video = document.createElement('video');
  video.tabIndex = -1;
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  if (self) video.dataset.screenSelf = 'true';
  else video.dataset.screenOf = name;
  const cap = document.createElement('figcaption');
  cap.innerHTML = icon('screen');
  const span = document.createElement('span');
  span.textContent = self ? t('screen.youPresent') : t('screen.presenting', { name });
  cap.append(span);
  box.setAttribute('aria-label', span.textContent);
  box.append(video, cap);
  return { box, video };
}

// ---- chat ----

/**
 * appendChat adds one message whose text content is exactly "NAME: message". locked marks a
 * message this client cannot read (text then says why). It returns the element.
 */
export function appendChat(log, { name, text, time, mine, locked = false }) {
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const li = document.createElement('li');
  if (mine) li.classList.add('mine');
  if (locked) li.classList.add('locked');
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = name;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(who, document.createTextNode(': '), body);
  if (time) {
    const d = new Date(time);
    if (!Number.isNaN(d.getTime())) {
      li.dataset.time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      li.title = d.toLocaleString();
    }
  }
  log.append(li);
  while (log.children.length > 500) log.firstElementChild.remove();
  if (nearBottom || mine) log.scrollTop = log.scrollHeight;
  return li;
}
