// transcript.js — Parley web client: the meeting's transcript, for moderators. The
// transcriber seals it with age to the moderators' keys and the node keeps it without being
// able to read it (node/transcript.go); here it is fetched, opened with this browser's own
// key, and shown with its summary, ready to download as text, WebVTT or Markdown.

import { Decrypter } from './vendor/age-encryption.js';
import { t } from './i18n.js';
import { $, toast } from './ui.js';
import { S } from './state.js';

const FORMATS = [
  ['text', 'txt', 'text/plain', 'transcript.downloadText'],
  ['vtt', 'vtt', 'text/vtt', 'transcript.downloadVTT'],
  ['md', 'md', 'text/markdown', 'transcript.downloadMD'],
];

let urls = []; // object URLs of the downloads shown

/** openTranscript fetches, opens and shows the meeting's transcript. */
export async function openTranscript() {
  const q = S.mod ? `?mod=${encodeURIComponent(S.mod)}` : '';
  let resp;
  try {
    resp = await fetch(`/api/rooms/${encodeURIComponent(S.roomId)}/transcript${q}`, { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    toast(t('home.err.network'));
    return;
  }
  if (resp.status === 404) {
    toast(t('transcript.none'), 'info');
    return;
  }
  if (!resp.ok) {
    toast(t(resp.status === 403 ? 'transcript.notAllowed' : 'transcript.failed'));
    return;
  }
  let doc;
  try {
    const dec = new Decrypter();
    dec.addIdentity(S.identity.ageIdentity);
    const plain = await dec.decrypt(new Uint8Array(await resp.arrayBuffer()), 'text');
    doc = JSON.parse(plain);
    if (!doc || doc.v !== 1 || !Array.isArray(doc.lines)) throw new Error('not a transcript');
  } catch (err) {
    console.info('parley: transcript:', err && err.message ? err.message : err);
    toast(t('transcript.notForYou'));
    return;
  }
  show(doc);
}

function show(doc) {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  $('transcript-meta').textContent = t('transcript.meta', { count: doc.lines.length, time: new Date(Number(doc.updated_ms) || Date.now()).toLocaleString(document.documentElement.lang) });
  const sum = doc.summary && typeof doc.summary === 'object' ? doc.summary : {};
  const sections = [['decisions', 'transcript.decisions'], ['actions', 'transcript.actions'], ['topics', 'transcript.topics']];
  $('transcript-summary').replaceChildren(...sections.filter(([k]) => Array.isArray(sum[k]) && sum[k].length).map(([k, label]) => {
    const box = document.createElement('section');
    const h = document.createElement('h3');
    h.textContent = t(label);
    const ul = document.createElement('ul');
    ul.dataset.testid = `summary-${k}`;
    ul.append(...sum[k].map((item) => {
      const li = document.createElement('li');
      li.textContent = String(item);
      return li;
    }));
    box.append(h, ul);
    return box;
  }));
  $('transcript-lines').replaceChildren(...doc.lines.map((l) => {
    const li = document.createElement('li');
    const at = document.createElement('span');
    at.className = 'transcript-at';
    const s = Math.floor((Number(l.at_ms) || 0) / 1000);
    at.textContent = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((v) => String(v).padStart(2, '0')).join(':');
    const who = document.createElement('b');
    const speaker = String(l.speaker || '');
    who.textContent = `${speaker}:`;
    li.append(at, ' ', who, ' ', String(l.text || ''));
    return li;
  }));
  const base = (String(doc.title || 'transcript').replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || 'transcript').slice(0, 80);
  $('transcript-downloads').replaceChildren(...FORMATS.map(([key, ext, type, label]) => {
    const a = document.createElement('a');
    const url = URL.createObjectURL(new Blob([String(doc[key] || '')], { type: `${type};charset=utf-8` }));
    urls.push(url);
    a.href = url;
    a.download = `${base}.${ext}`;
    a.className = 'secondary button-link';
    a.dataset.testid = `transcript-${key}`;
    a.textContent = t(label);
    return a;
  }));
  const dlg = $('transcript-dialog');
  if (!dlg.open) dlg.showModal();
}

/** wireTranscript connects the moderators' Transcript button. */
export function wireTranscript() {
  $('transcript').addEventListener('click', () => openTranscript());
}
