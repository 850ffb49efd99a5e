// state.js — Parley web client: the page's one state object, shared by the modules of the
// meeting (app.js drives it; remote.js, controls.js, chat.js and roster.js read and update it).

export const S = {
  roomId: roomFromPath(),
  name: '',
  mod: '', // the moderator token from ?mod=, kept in memory only
  identity: null, // the participant identity (e2ee/identity.js), loaded at start
  identityError: null,
  micTrack: null, camTrack: null, screenTrack: null,
  micOn: true, camOn: true, hand: false,
  micId: '', camId: '', speakerId: '',
  phase: 'prejoin', // prejoin | lobby | meeting | left
  sig: null, call: null, you: null,
  moderator: false,
  e2ee: null, // E2EESession of the joined session
  media: null, // MediaEncryption (the frame worker) of the joined session
  monitor: null, // DecryptionMonitor of the joined session
  participants: new Map(), // remote participants by id
  trackSince: new Map(), // participant id -> when its first received track was routed
  tiles: new Map(), // remote tiles by participant id
  selfTile: null, selfScreen: null,
  screens: new Map(), // sub mid -> {box, video, pid}
  audios: new Map(), // sub mid -> <audio>
  quality: new Map(), // remote camera track id -> quality last asked for
  speakers: [],
  waiting: [], // the lobby, for moderators: [{id, name}]
  knocked: new Set(), // lobby ids already announced with a toast
  seenChat: new Set(),
  chatShown: Promise.resolve(), // the chat log's display queue (chat.js)
  retries: 0, retryTimer: 0,
  joinedAt: 0, unread: 0, panel: '',
  stage: null, // ui.js Stage
};

function roomFromPath() {
  const m = location.pathname.match(/\/r\/([^/?#]+)/);
  try { return m ? decodeURIComponent(m[1]) : ''; } catch (_) { return ''; }
}
