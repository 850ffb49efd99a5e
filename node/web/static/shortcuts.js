// shortcuts.js — Parley web client: keyboard shortcuts in the meeting, and the dialog that
// lists them. Every shortcut is Alt+Shift and a letter, so that no single key does anything
// (WCAG 2.1.4) and AltGr (Ctrl+Alt on many European keyboards) keeps typing characters.

import { $ } from './ui.js';
import { t } from './i18n.js';

/**
 * SHORTCUTS are the meeting's shortcuts: the letter (with Alt+Shift), the physical key code
 * used when the layout gives another letter, and the message that describes it.
 */
const SHORTCUTS = [
  ['m', 'KeyM', 'keys.mic'],
  ['v', 'KeyV', 'keys.camera'],
  ['h', 'KeyH', 'keys.hand'],
  ['c', 'KeyC', 'keys.chat'],
  ['p', 'KeyP', 'keys.people'],
  ['k', 'KeyK', 'keys.help'],
];

/**
 * wireShortcuts calls actions[name] (mic, camera, hand, chat, people) for its shortcut while
 * inMeeting() holds; Alt+Shift+K opens the list.
 */
export function wireShortcuts(actions, inMeeting) {
  const list = $('shortcuts-list');
  list.replaceChildren(...SHORTCUTS.map(([letter, , key]) => {
    const row = document.createElement('div');
    const dt = document.createElement('dt');
    for (const [i, k] of ['Alt', 'Shift', letter.toUpperCase()].entries()) {
      if (i > 0) dt.append('+');
      const kbd = document.createElement('kbd');
      kbd.textContent = k;
      dt.append(kbd);
    }
    const dd = document.createElement('dd');
    dd.textContent = t(key);
    row.append(dt, dd);
    return row;
  }));
  $('shortcuts-open').addEventListener('click', openHelp);
  document.addEventListener('keydown', (e) => {
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey || !inMeeting()) return;
    const hit = SHORTCUTS.find(([letter, code]) => e.key.toLowerCase() === letter || e.code === code);
    if (!hit) return;
    e.preventDefault();
    const name = hit[2].slice('keys.'.length);
    if (name === 'help') openHelp();
    else if (actions[name]) actions[name]();
  });
}

function openHelp() {
  const dlg = $('shortcuts');
  if (dlg.open) return;
  if ($('settings').open) $('settings').close();
  dlg.showModal();
}
