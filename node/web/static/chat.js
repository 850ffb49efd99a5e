// chat.js — Parley web client: the chat. Messages are end-to-end encrypted (e2ee-session.js):
// we send SFrame ciphertext under our current key and decrypt what arrives, in the order it
// arrived. A message under a key we never held (history from before we joined) shows locked.
// Each chat-log entry's text is "NAME: message".

import { t } from './i18n.js';
import { $, appendChat, toast } from './ui.js';
import { LOCK_BEFORE, LOCK_NO_KEY } from './e2ee-session.js';
import { S } from './state.js';

const LOCKED_TEXT = {
  [LOCK_BEFORE]: 'chat.lockedBefore',
  [LOCK_NO_KEY]: 'chat.lockedNoKey',
};
const BROKEN_TEXT = 'chat.broken';

/**
 * addChat decrypts and shows one chat message (signal ChatMessage); live says it arrived now
 * rather than in the history. onUnread is called for a live message from someone else while
 * the chat is closed.
 */
export function addChat(c, live, onUnread) {
  const seq = typeof c.seq === 'number' ? c.seq : null;
  const key = `${seq}|${c.from}|${c.time}`;
  if (S.seenChat.has(key) || !S.e2ee) return;
  S.seenChat.add(key);
  const session = S.e2ee;
  const name = typeof c.name === 'string' ? c.name : '';
  // Messages show in the order they arrived, even when one waits for its key.
  const read = session.decryptChat(c, live);
  S.chatShown = S.chatShown.then(() => read).then((r) => {
    if (S.e2ee !== session) {
      S.seenChat.delete(key); // the session ended first: the next one may show it
      return;
    }
    const mine = !!S.you && c.from === S.you.id;
    const locked = r.text === undefined;
    const text = locked ? t(LOCKED_TEXT[r.locked] || BROKEN_TEXT) : r.text;
    appendChat($('chat-log'), { name, text, time: c.time, mine, locked });
    if (live && !mine && !locked && S.panel !== 'chat') {
      onUnread();
      toast(t('chat.toast', { name, text: text.length > 80 ? `${text.slice(0, 80)}…` : text }), 'info', 4000);
    }
  }).catch((err) => console.warn('parley chat:', err && err.message ? err.message : err));
}

/** sendChat encrypts and sends what is in the chat input. */
export async function sendChat() {
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text) return;
  const sig = S.sig;
  const session = S.e2ee;
  if (!sig || !session) {
    toast(t('chat.notConnected'));
    return;
  }
  input.value = '';
  let sframe;
  try {
    sframe = await session.encryptChat(text);
  } catch (err) {
    if (!input.value) input.value = text;
    toast(t('chat.notSent', { error: err.message || err }));
    return;
  }
  if (S.sig !== sig || !sig.send({ type: 'chat', sframe })) {
    if (!input.value) input.value = text;
    toast(t('chat.notConnected'));
  }
}
