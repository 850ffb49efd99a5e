// people.js — Parley web client: the People panel. Everyone in the meeting with their
// microphone, camera and hand, their organisation, their safety code (to compare aloud) or a
// warning when their certificate did not verify, and whether their home node signed them in
// (their certificate names their account) or they are a guest; for moderators, mute and
// remove buttons per participant (and, for the meeting's owner, make co-host) and the lobby:
// who waits to join, each with admit and deny buttons.
// Nothing here talks to the network: buttons call back.

import { t } from './i18n.js';
import { icon, paintAvatar } from './ui.js';

/**
 * renderPeople redraws the participant list. people: [{id, name, self, org, moderator, owner,
 * micMuted, cameraOff, hand, safety, verified, signedIn, email, media}] where safety is the
 * safety code (null while it is computed), verified is false when the certificate was
 * refused, signedIn whether the certificate names an account (undefined until checked), and
 * media is the decryption state ('ok', 'failing', 'waiting' or 'none'). actions, for
 * moderators, holds onRemove(id, name) and onMute(id, name), and for the owner
 * onCohost(id, name); null for everyone else.
 */
export function renderPeople(list, people, actions) {
  keepDrawn(list, people.map((p) => {
    const li = document.createElement('li');
    li.dataset.pid = p.id || '';
    if (p.verified === false) li.classList.add('unverified');
    const av = document.createElement('span');
    av.className = 'avatar small';
    av.setAttribute('aria-hidden', 'true');
    paintAvatar(av, p.name);

    const main = document.createElement('div');
    main.className = 'pmain';
    const top = document.createElement('div');
    top.className = 'ptop';
    const name = document.createElement('span');
    name.className = 'pname';
    name.textContent = p.self ? t('people.you', { name: p.name }) : p.name;
    name.title = name.textContent;
    top.append(name);
    if (p.owner) top.append(tag(t('people.host'), 'role'));
    else if (p.moderator) top.append(tag(t('people.cohost'), 'role'));
    if (p.agent) {
      const a = tag(t('people.agent'), 'agent');
      a.title = t('people.agentTitle');
      top.append(a);
    } else if (p.signedIn === true) {
      const v = tag(t('people.verified'), 'verified');
      v.title = p.email ? t('people.signedInAs', { email: p.email }) : t('people.signedIn');
      top.append(v);
    } else if (p.signedIn === false) {
      const g = tag(t('people.guest'), 'guest');
      g.title = t('people.guestTitle');
      top.append(g);
    }
    main.append(top);
    main.append(detail(p));

    const state = document.createElement('span');
    state.className = 'pstate';
    const bits = [];
    if (p.hand) bits.push(['hand', t('people.handRaised')]);
    bits.push(p.micMuted ? ['micOff', t('people.micMuted')] : ['mic', t('people.micOn')]);
    bits.push(p.cameraOff ? ['camOff', t('people.cameraOff')] : ['cam', t('people.cameraOn')]);
    for (const [ic, label] of bits) {
      const s = document.createElement('span');
      s.setAttribute('role', 'img');
      s.setAttribute('aria-label', label);
      s.title = label;
      s.className = ic === 'hand' ? 'hand' : (ic.endsWith('Off') ? 'off' : '');
      s.innerHTML = icon(ic);
      state.append(s);
    }
    li.append(av, main, state);
    if (actions && !p.self && p.id) {
      const acts = document.createElement('span');
      acts.className = 'pactions';
      if (!p.micMuted) acts.append(action('mute', 'micOff', t('people.askMute', { name: p.name }), p, actions.onMute));
      if (actions.onCohost && !p.moderator) acts.append(action('make-cohost', 'cohost', t('people.makeCohost', { name: p.name }), p, actions.onCohost));
      acts.append(action('remove', 'remove', t('people.remove', { name: p.name }), p, actions.onRemove));
      li.append(acts);
    }
    return li;
  }));
}

/** action is one moderator button of a person's entry. */
function action(testid, ic, label, p, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `icon-btn ${testid}`;
  b.dataset.testid = testid;
  b.dataset.id = p.id;
  b.innerHTML = icon(ic);
  b.title = label;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', () => onClick(p.id, p.name));
  return b;
}

/** detail is the second line of a person: organisation, then safety code or a warning. */
function detail(p) {
  const d = document.createElement('div');
  d.className = 'pdetail';
  if (p.org) {
    const org = document.createElement('span');
    org.className = 'porg';
    org.textContent = p.org;
    d.append(org);
  }
  if (p.self) return d;
  if (p.verified === false) {
    d.append(tag(t('people.notVerified'), 'warn'));
    return d;
  }
  if (p.media === 'failing') d.append(tag(t('people.cannotDecrypt'), 'warn'));
  const code = document.createElement('span');
  code.className = 'safety';
  const label = document.createElement('span');
  label.className = 'safety-label';
  label.textContent = t('people.safetyCode');
  const digits = document.createElement('span');
  digits.className = 'safety-code';
  digits.dataset.testid = 'safety-code';
  digits.textContent = p.safety || '…';
  code.append(label, ' ', digits);
  code.title = t('people.safetyTitle', { name: p.name });
  d.append(code);
  return d;
}

function tag(text, kind) {
  const el = document.createElement('span');
  el.className = `ptag ${kind}`;
  el.textContent = text;
  return el;
}

/**
 * renderWaiting redraws the lobby list for moderators. waiting: [{id, name, verified}]. The
 * section is hidden when nobody waits.
 */
export function renderWaiting(section, list, waiting, { onAdmit, onDeny }) {
  section.hidden = waiting.length === 0;
  keepDrawn(list, waiting.map((w) => {
    const li = document.createElement('li');
    li.dataset.pid = w.id;
    const av = document.createElement('span');
    av.className = 'avatar small';
    av.setAttribute('aria-hidden', 'true');
    paintAvatar(av, w.name);
    const name = document.createElement('span');
    name.className = 'pname';
    name.textContent = w.name;
    name.title = w.name;
    const who = tag(w.verified ? t('people.verified') : t('people.guest'), w.verified ? 'verified' : 'guest');
    const admit = document.createElement('button');
    admit.type = 'button';
    admit.className = 'small-btn admit';
    admit.dataset.testid = 'lobby-admit';
    admit.dataset.id = w.id;
    admit.textContent = t('lobby.admit');
    admit.setAttribute('aria-label', t('lobby.admitName', { name: w.name }));
    admit.addEventListener('click', () => {
      admit.disabled = true;
      onAdmit(w.id, w.name);
    });
    const deny = document.createElement('button');
    deny.type = 'button';
    deny.className = 'small-btn deny';
    deny.dataset.testid = 'lobby-deny';
    deny.dataset.id = w.id;
    deny.textContent = t('lobby.deny');
    deny.setAttribute('aria-label', t('lobby.denyName', { name: w.name }));
    deny.addEventListener('click', () => {
      deny.disabled = true;
      onDeny(w.id, w.name);
    });
    li.append(av, name, who, admit, deny);
    return li;
  }));
}

/**
 * keepDrawn makes list hold items, in order, keeping every entry already drawn exactly so
 * (same data-pid, same markup) instead of its fresh copy: the roster redraws often, and a
 * replaced button would lose a press in progress and the keyboard focus it holds.
 */
function keepDrawn(list, items) {
  const drawn = new Map();
  for (const el of list.children) if (el.dataset.pid) drawn.set(el.dataset.pid, el);
  const want = items.map((el) => {
    const old = el.dataset.pid && drawn.get(el.dataset.pid);
    return old && old.outerHTML === el.outerHTML ? old : el;
  });
  want.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
  });
  while (list.children.length > want.length) list.lastElementChild.remove();
}
