// moderation.js — Parley web client: what moderators do beyond the lobby, what the client
// does when a moderator acts on it, and reactions.
//
// Moderators mute one participant or everyone, lower every hand and end the meeting for all;
// the meeting's owner makes co-hosts. A mute is a request this client obeys by turning its
// microphone off: with end-to-end encryption the node cannot silence what it cannot read.
// Reactions float over the sender's tile for everyone.

import { t } from './i18n.js';
import { $, toast } from './ui.js';
import { S } from './state.js';
import { refreshSelf, toggleMic } from './controls.js';
import { refreshRoster } from './roster.js';
import { agentPresent } from './captions.js';

// Reactions by the name the node knows them by, with the emoji shown and a label.
export const REACTIONS = [
  ['thumbs_up', '👍', 'react.thumbsUp'],
  ['clap', '👏', 'react.clap'],
  ['heart', '❤️', 'react.heart'],
  ['laugh', '😂', 'react.laugh'],
  ['surprised', '😮', 'react.surprised'],
  ['celebrate', '🎉', 'react.celebrate'],
];
const FLOAT_MS = 4000;

/** send sends a moderator action; failed says what did not happen if we are not connected. */
function send(msg, failed) {
  if (!S.sig || !S.sig.send(msg)) toast(failed);
}

export function muteParticipant(id, name) {
  send({ type: 'moderate', action: 'mute', id }, t('mod.notMuted', { name }));
  toast(t('mod.askedMute', { name }), 'info', 3000);
}

export function makeCohost(id, name) {
  send({ type: 'moderate', action: 'cohost', id }, t('mod.notCohost', { name }));
}

function muteAll() {
  send({ type: 'moderate', action: 'mute_all' }, t('mod.noneMuted'));
  toast(t('mod.askedMuteAll'), 'info', 3000);
}

function lowerHands() {
  send({ type: 'moderate', action: 'lower_hands' }, t('mod.noHandLowered'));
}

function endMeeting() {
  const dlg = $('end-dialog');
  dlg.returnValue = '';
  dlg.showModal();
}

function endDialogClosed() {
  if ($('end-dialog').returnValue === 'end') send({ type: 'moderate', action: 'end' }, t('mod.notEnded'));
}

/** onModerated takes a "moderated" message: a moderator acted on us. */
export function onModerated(m) {
  const named = typeof m.name === 'string' && m.name;
  const by = named ? m.name : t('mod.someModerator');
  switch (m.action) {
    case 'mute':
    case 'mute_all':
      if (S.micOn && S.micTrack) toggleMic();
      toast(t('mod.mutedYou', { name: by }), 'info', 6000);
      break;
    case 'lower_hands':
      S.hand = false;
      refreshSelf();
      toast(t('mod.loweredYourHand', { name: by }), 'info', 4000);
      break;
    case 'cohost':
      S.moderator = true;
      renderModeratorTools();
      refreshRoster();
      toast(named ? t('mod.madeYouCohost', { name: by }) : t('mod.youAreCohost'), 'info', 6000);
      break;
    default:
      console.warn('parley: unknown moderator action', m.action);
  }
}

/** renderModeratorTools shows the room-wide moderator buttons to moderators only. */
export function renderModeratorTools() {
  $('moderator-tools').hidden = !S.moderator;
}

// ---- reactions ----

function react(name) {
  if (S.sig) S.sig.send({ type: 'react', reaction: name });
  closePicker();
}

function closePicker() {
  $('reactions').hidden = true;
  $('ctl-react').setAttribute('aria-expanded', 'false');
}

function togglePicker() {
  const open = $('reactions').hidden;
  $('reactions').hidden = !open;
  $('ctl-react').setAttribute('aria-expanded', String(open));
  if (open) $('reactions').querySelector('button').focus();
}

/** onReaction takes a "reaction" message: float it over its sender's tile. */
export function onReaction(m) {
  const r = REACTIONS.find(([name]) => name === m.reaction);
  if (!r || typeof m.id !== 'string') return;
  const self = S.you && m.id === S.you.id;
  const tile = self ? S.selfTile : S.tiles.get(m.id);
  if (!tile) return;
  const who = self ? t('react.you') : (S.participants.get(m.id) || {}).name || t('react.someone');
  const el = document.createElement('span');
  el.className = 'reaction-float';
  el.dataset.testid = 'reaction-float';
  el.dataset.reaction = r[0];
  el.textContent = r[1];
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', t('react.said', { name: who, reaction: t(r[2]) }));
  tile.el.append(el);
  setTimeout(() => el.remove(), FLOAT_MS);
  const live = $('reaction-live');
  live.textContent = t('react.said', { name: who, reaction: t(r[2]) });
}

/** wireModeration connects the moderator buttons and the reaction picker. */
export function wireModeration() {
  $('mute-all').addEventListener('click', muteAll);
  $('lower-hands').addEventListener('click', lowerHands);
  $('end-meeting').addEventListener('click', endMeeting);
  $('transcribe').title = t('mod.transcribeTitle');
  $('transcribe').addEventListener('click', () => {
    if (S.sig) S.sig.send({ type: 'moderate', action: agentPresent() ? 'transcribe_stop' : 'transcribe' });
  });
  $('end-dialog').addEventListener('close', endDialogClosed);
  const picker = $('reactions');
  for (const [name, emoji, label] of REACTIONS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'reaction';
    b.dataset.testid = 'reaction';
    b.dataset.reaction = name;
    b.textContent = emoji;
    b.title = t(label);
    b.setAttribute('aria-label', t(label));
    b.addEventListener('click', () => react(name));
    picker.append(b);
  }
  $('ctl-react').addEventListener('click', togglePicker);
  picker.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation(); // Escape closes the picker, not the side panel behind it
      closePicker();
      $('ctl-react').focus();
    }
  });
  renderModeratorTools();
}
