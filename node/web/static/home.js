// The node's home page: who is signed in, their meetings, starting one, joining by code.
// Talks to /api/me and /api/meetings (node/homeapi.go). Its words are in static/i18n.

import { applyDOM, formatDateTime, languageSwitch, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    console.info(`parley: ${method} ${path}: ${err}`);
    throw new Error(t('home.err.network'));
  }
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    if (data.error) console.info(`parley: ${method} ${path}: ${data.code}: ${data.error}`);
    throw new Error(API_TEXT[data.code] ? API_TEXT[data.code]() : t('home.err.status', { status: resp.status }));
  }
  return data;
}

// API_TEXT is the page's own words for the home API's error codes (node/homeapi.go).
const API_TEXT = {
  cross_origin: () => t('home.err.crossOrigin'),
  sign_in: () => t('home.err.signIn'),
  storage: () => t('home.err.storage'),
  bad_request: () => t('home.err.badRequest'),
  not_found: () => t('home.err.notFound'),
  invalid_title: () => t('home.err.title', { max: $('schedule-title').maxLength }),
  invalid_guests: () => t('home.err.guests'),
  invalid_start: () => t('home.err.start'),
  invalid_meeting: () => t('home.err.meeting'),
};

function showError(id, err) {
  const el = $(id);
  el.textContent = err ? (err.message || String(err)) : '';
  el.hidden = !err;
}

// roomPath turns what someone pasted (a link of this or another node, or a bare code) into
// this node's room path, or '' if it is neither.
function roomPath(text) {
  let s = text.trim();
  try {
    const u = new URL(s);
    const m = u.pathname.match(/\/r\/([a-z0-9]+)\/?$/);
    if (!m) return '';
    s = m[1];
  } catch { /* a bare code */ }
  return /^([0-9a-f]{32}|[a-z2-7]{26})$/.test(s) ? `/r/${s}` : '';
}

function meetingItem(m) {
  const li = document.createElement('li');
  li.dataset.testid = 'meeting';
  li.dataset.roomUrl = m.url;
  const a = document.createElement('a');
  a.href = m.url;
  a.textContent = m.title;
  const when = document.createElement('time');
  when.dateTime = m.start || m.created;
  const at = formatDateTime(new Date(m.start || m.created));
  when.textContent = m.start ? at : t('home.createdAt', { time: at });
  const policy = document.createElement('span');
  policy.className = 'muted';
  policy.textContent = t(GUESTS[m.guests] || GUESTS['']);
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'small-btn';
  copy.textContent = t('home.copyLink');
  copy.setAttribute('aria-label', t('home.copyLinkOf', { title: m.title }));
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(m.url);
      copy.textContent = t('home.copied');
    } catch {
      window.prompt(t('home.meetingLink'), m.url);
    }
  });
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'small-btn deny';
  del.textContent = t('home.delete');
  del.setAttribute('aria-label', t('home.deleteOf', { title: m.title }));
  del.addEventListener('click', async () => {
    if (!window.confirm(t('home.deleteConfirm', { title: m.title }))) return;
    try {
      await api('DELETE', `/api/meetings/${m.id}`);
      await loadMeetings();
    } catch (err) {
      showError('home-error', err);
    }
  });
  li.append(a, when, policy, copy, del);
  return li;
}

const GUESTS = { '': 'home.policyAllowed', lobby: 'home.policyLobby', no: 'home.policyNo' };

// A meeting counts as upcoming until an hour after its start.
const UPCOMING_GRACE = 60 * 60 * 1000;

async function loadMeetings() {
  const list = await api('GET', '/api/meetings');
  const now = Date.now();
  const upcoming = list.filter((m) => m.start && Date.parse(m.start) + UPCOMING_GRACE > now)
    .sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const recent = list.filter((m) => !upcoming.includes(m));
  $('upcoming').replaceChildren(...upcoming.map(meetingItem));
  $('recent').replaceChildren(...recent.map(meetingItem));
  $('no-upcoming').hidden = upcoming.length > 0;
  $('no-recent').hidden = recent.length > 0;
}

const create = (spec) => api('POST', '/api/meetings', spec);

function orgChoices(orgs, own) {
  const box = $('schedule-orgs');
  box.replaceChildren(...orgs.map((o) => {
    const label = document.createElement('label');
    label.className = 'check';
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.value = o;
    label.append(cb, ' ', document.createTextNode(o === own ? t('home.yourOrg', { org: o }) : o));
    return label;
  }));
  $('schedule-orgs-field').hidden = orgs.length < 2;
}

function defaultTitle(name) {
  return t('home.defaultTitle', { name });
}

let me = null;

async function main() {
  applyDOM();
  languageSwitch($('language'));
  wire();
  me = await api('GET', '/api/me');
  $('node-name').textContent = me.node;
  if (!me.user) {
    $('signed-out').hidden = false;
    $('sign-in').hidden = !me.sign_in;
    $('sign-in-off').hidden = me.sign_in;
    if (me.sign_in) $('sign-in').href = `/auth/login?next=${encodeURIComponent('/')}`;
    return;
  }
  orgChoices(me.organisations || [], me.user.organisation);
  await loadMeetings();
  $('user').hidden = false;
  $('user-name').textContent = me.user.name;
  $('signed-in').hidden = false;
}

// wire connects the page's controls; they act once /api/me has said who is signed in.
function wire() {
  $('new-meeting').addEventListener('click', async () => {
    try {
      const m = await create({ title: defaultTitle(me.user.name), guests: 'lobby' });
      window.location.assign(new URL(m.url).pathname);
    } catch (err) {
      showError('home-error', err);
    }
  });
  $('schedule-meeting').addEventListener('click', () => {
    const form = $('schedule');
    form.hidden = !form.hidden;
    $('schedule-meeting').setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) $('schedule-title').focus();
  });
  $('schedule').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const start = new Date($('schedule-start').value);
      if (Number.isNaN(start.getTime())) throw new Error(t('home.chooseStart'));
      const orgs = [...$('schedule-orgs').querySelectorAll('input:checked')].map((cb) => cb.value);
      await create({
        title: $('schedule-title').value, lobby: $('schedule-lobby').checked, guests: $('schedule-guests').value,
        start: start.toISOString(), orgs,
      });
      $('schedule').reset();
      $('schedule').hidden = true;
      await loadMeetings();
    } catch (err) {
      showError('home-error', err);
    }
  });
  $('sign-out').addEventListener('click', async () => {
    try {
      const r = await api('POST', '/auth/logout');
      window.location.assign(r.location);
    } catch (err) {
      showError('home-error', err);
    }
  });
  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const path = roomPath($('join-code').value);
    if (!path) {
      showError('join-error', new Error(t('home.badCode')));
      return;
    }
    window.location.assign(path);
  });
}

main().catch((err) => showError('home-error', err));
