// captions.js — Parley web client: live captions. The meeting's transcriber (an agent a
// moderator starts, see package media/transcribe/agent) sends captions sealed with its own
// key; they are decrypted here and shown in the captions area, "NAME: text", each speaker's
// guess for what they are saying replaced as it firms up. Everyone sees a banner while the
// meeting is transcribed; each person turns the captions on or off for themselves, and
// chooses their text size and how many lines they see (kept in this browser), and the
// language they speak, which the transcriber listens for (their interface's by default).

import { lang as uiLang, t } from './i18n.js';
import { $ } from './ui.js';
import { S } from './state.js';

const PREFS_KEY = 'parley.captions';
const SIZES = ['small', 'medium', 'large', 'huge'];
const SIZE_TEXT = { small: 'captions.sizeSmall', medium: 'captions.sizeMedium', large: 'captions.sizeLarge', huge: 'captions.sizeHuge' };
const LINES = [2, 3, 5, 8];
const KEPT = 50; // lines remembered, shown or not
// Languages one may say one speaks, named in their own language (Intl.DisplayNames).
const SPOKEN = ['fr', 'en', 'de', 'nl', 'es', 'it', 'pt', 'pl', 'ar', 'br', 'ca', 'co', 'eu', 'oc'];

let present = false; // an agent is in the meeting
let shown = false; // this person wants captions
const lines = []; // [{key, speaker, name, text, final}], oldest first

/** prefs are this browser's caption settings: {size, lines}. */
function prefs() {
  let p = {};
  try {
    p = JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') || {};
  } catch {
    p = {};
  }
  return {
    size: SIZES.includes(p.size) ? p.size : 'medium',
    lines: LINES.includes(p.lines) ? p.lines : 3,
    speak: SPOKEN.includes(p.speak) ? p.speak : '',
  };
}

/** spokenLang is the language this person speaks: the one they chose, else the interface's. */
export function spokenLang() {
  return prefs().speak || uiLang;
}

/** languageName is code's name in the language shown ("anglais" in French). */
function languageName(code) {
  try {
    return new Intl.DisplayNames([uiLang], { type: 'language' }).of(code) || code;
  } catch {
    return code;
  }
}

/** ownName is code's name in that language itself ("Deutsch"). */
function ownName(code) {
  try {
    const n = new Intl.DisplayNames([code], { type: 'language' }).of(code) || code;
    return n.charAt(0).toLocaleUpperCase(code) + n.slice(1);
  } catch {
    return code;
  }
}

function savePrefs(p) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(p));
  } catch {
    // private browsing: the choice lasts for this page
  }
  applyPrefs(p);
}

function applyPrefs(p) {
  const area = $('captions');
  area.dataset.size = p.size;
  area.style.setProperty('--caption-lines', String(p.lines));
  $('set-caption-size').value = p.size;
  $('set-caption-lines').value = String(p.lines);
  $('set-speak-lang').value = p.speak || uiLang;
  render();
}

/**
 * setAgentPresent shows or hides what captions need: the banner, the toggle, and the
 * moderators' button says start or stop.
 */
export function setAgentPresent(on) {
  if (on === present) return;
  present = on;
  $('captions-banner').hidden = !on;
  $('ctl-captions').hidden = !on;
  const mod = $('transcribe');
  mod.textContent = t(on ? 'mod.transcribeStop' : 'mod.transcribe');
  mod.setAttribute('aria-pressed', String(on));
  if (!on) lines.length = 0;
  render();
}

/** agentPresent reports whether the meeting's transcriber is in the meeting. */
export function agentPresent() {
  return present;
}

/** captionsShown reports whether this person sees captions now. */
export function captionsShown() {
  return present && shown;
}

/** onCaption takes a caption message from the node. */
export async function onCaption(m) {
  const c = m.caption;
  const session = S.e2ee;
  if (!c || typeof c !== 'object' || !session || typeof c.from !== 'string') return;
  const ct = await session.decryptCaption(c);
  if (!ct || S.e2ee !== session) return;
  const speaker = typeof ct.speaker === 'string' ? ct.speaker : '';
  // The name is the one this client knows for that participant; the agent's is a fallback.
  const known = S.participants.get(speaker);
  const name = known ? known.name : (S.you && speaker === S.you.id ? S.name : String(ct.name || ''));
  if (typeof ct.unavailable === 'string' && ct.unavailable) {
    // No speech model for what they speak: say so once, in place of their words.
    const text = t('captions.unavailable', { language: languageName(ct.unavailable.slice(0, 16)) });
    const key = `${speaker}|unavailable|${ct.unavailable}`;
    if (!lines.some((l) => l.key === key)) lines.push({ key, speaker, name, text, final: true, notice: true });
    if (lines.length > KEPT) lines.splice(0, lines.length - KEPT);
    render();
    return;
  }
  const key = `${speaker}|${Number(ct.seq) || 0}`;
  const text = String(ct.text).slice(0, 2000);
  const old = lines.find((l) => l.key === key);
  if (old) {
    if (old.final) return; // a late guess after the final text
    Object.assign(old, { name, text, final: !!ct.final });
  } else {
    lines.push({ key, speaker, name, text, final: !!ct.final });
    if (lines.length > KEPT) lines.splice(0, lines.length - KEPT);
  }
  render();
}

function render() {
  const area = $('captions');
  const on = present && shown;
  area.hidden = !on;
  const btn = $('ctl-captions');
  btn.setAttribute('aria-pressed', String(on));
  btn.title = t(on ? 'captions.hideTitle' : 'captions.showTitle');
  if (!on) return;
  const list = $('caption-lines');
  const want = lines.slice(-prefs().lines);
  list.replaceChildren(...want.map((l) => {
    const li = document.createElement('li');
    li.dataset.speaker = l.speaker;
    li.classList.toggle('interim', !l.final);
    li.classList.toggle('notice', !!l.notice);
    const who = document.createElement('span');
    who.className = 'caption-name';
    who.textContent = `${l.name}:`;
    li.append(who, ' ', l.text);
    return li;
  }));
}

/** toggleCaptions turns this person's captions on or off. */
export function toggleCaptions() {
  shown = !shown;
  render();
}

/** wireCaptions connects the toggle and the settings. */
export function wireCaptions() {
  const size = $('set-caption-size');
  size.replaceChildren(...SIZES.map((s) => new Option(t(SIZE_TEXT[s]), s)));
  const count = $('set-caption-lines');
  count.replaceChildren(...LINES.map((n) => new Option(t('captions.linesN', { count: n }), String(n))));
  size.addEventListener('change', () => savePrefs({ ...prefs(), size: size.value }));
  count.addEventListener('change', () => savePrefs({ ...prefs(), lines: Number(count.value) }));
  const speak = $('set-speak-lang');
  const codes = SPOKEN.includes(uiLang) ? SPOKEN : [uiLang, ...SPOKEN];
  speak.replaceChildren(...codes.map((c) => {
    const o = new Option(ownName(c), c);
    o.lang = c;
    return o;
  }));
  speak.addEventListener('change', () => {
    savePrefs({ ...prefs(), speak: speak.value });
    if (S.sig && (S.phase === 'meeting' || S.phase === 'lobby')) S.sig.send({ type: 'lang', lang: spokenLang() });
  });
  $('ctl-captions').addEventListener('click', toggleCaptions);
  applyPrefs(prefs());
}

/** resetCaptions forgets the captions of a meeting left. */
export function resetCaptions() {
  setAgentPresent(false);
  lines.length = 0;
  render();
}
