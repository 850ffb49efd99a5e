// people.js — Parley web client: the People panel. Everyone in the meeting with their
// microphone, camera and hand, their organisation, their safety code (to compare aloud) or a
// warning when their certificate did not verify; for moderators, a remove button per
// participant and the lobby: who waits to join, each with admit and deny buttons.
// Nothing here talks to the network: buttons call back.

import { icon, paintAvatar } from './ui.js';

/**
 * renderPeople redraws the participant list. people: [{id, name, self, org, moderator,
 * micMuted, cameraOff, hand, safety, verified, media}] where safety is the safety code (null
 * while it is computed), verified is false when the certificate was refused, and media is the
 * decryption state ('ok', 'failing', 'waiting' or 'none'). onRemove(id, name) is set for
 * moderators.
 */
export function renderPeople(list, people, onRemove) {
  list.replaceChildren(...people.map((p) => {
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
    name.textContent = p.self ? `${p.name} (you)` : p.name;
    name.title = name.textContent;
    top.append(name);
    if (p.moderator) top.append(tag('Moderator', 'role'));
    main.append(top);
    main.append(detail(p));

    const state = document.createElement('span');
    state.className = 'pstate';
    const bits = [];
    if (p.hand) bits.push(['hand', 'Hand raised']);
    bits.push(p.micMuted ? ['micOff', 'Microphone muted'] : ['mic', 'Microphone on']);
    bits.push(p.cameraOff ? ['camOff', 'Camera off'] : ['cam', 'Camera on']);
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
    if (onRemove && !p.self && p.id) {
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'icon-btn remove';
      rm.dataset.testid = 'remove';
      rm.dataset.id = p.id;
      rm.innerHTML = icon('remove');
      rm.title = `Remove ${p.name} from the meeting`;
      rm.setAttribute('aria-label', rm.title);
      rm.addEventListener('click', () => onRemove(p.id, p.name));
      li.append(rm);
    }
    return li;
  }));
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
    d.append(tag('Not verified: do not trust this identity', 'warn'));
    return d;
  }
  if (p.media === 'failing') d.append(tag('Cannot decrypt their media', 'warn'));
  const code = document.createElement('span');
  code.className = 'safety';
  const label = document.createElement('span');
  label.className = 'safety-label';
  label.textContent = 'Safety code';
  const digits = document.createElement('span');
  digits.className = 'safety-code';
  digits.dataset.testid = 'safety-code';
  digits.textContent = p.safety || '…';
  code.append(label, ' ', digits);
  code.title = `Read this code aloud with ${p.name}: if you both see the same digits, nobody stands between you.`;
  d.append(code);
  return d;
}

function tag(text, kind) {
  const t = document.createElement('span');
  t.className = `ptag ${kind}`;
  t.textContent = text;
  return t;
}

/**
 * renderWaiting redraws the lobby list for moderators. waiting: [{id, name}]. The section is
 * hidden when nobody waits.
 */
export function renderWaiting(section, list, waiting, { onAdmit, onDeny }) {
  section.hidden = waiting.length === 0;
  list.replaceChildren(...waiting.map((w) => {
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
    const admit = document.createElement('button');
    admit.type = 'button';
    admit.className = 'small-btn admit';
    admit.dataset.testid = 'lobby-admit';
    admit.dataset.id = w.id;
    admit.textContent = 'Admit';
    admit.setAttribute('aria-label', `Admit ${w.name}`);
    admit.addEventListener('click', () => {
      admit.disabled = true;
      onAdmit(w.id, w.name);
    });
    const deny = document.createElement('button');
    deny.type = 'button';
    deny.className = 'small-btn deny';
    deny.dataset.testid = 'lobby-deny';
    deny.dataset.id = w.id;
    deny.textContent = 'Deny';
    deny.setAttribute('aria-label', `Do not let ${w.name} in`);
    deny.addEventListener('click', () => {
      deny.disabled = true;
      onDeny(w.id, w.name);
    });
    li.append(av, name, admit, deny);
    return li;
  }));
}
