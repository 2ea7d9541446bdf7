// What the page says about our place in the room: the header pill, the
// "waiting for others" note, and the words for a refusal (session.js reasons).
import { ERR } from './protocol.js';

const $ = (id) => document.getElementById(id);

const LABELS = {
  [ERR.roomFull]: 'Room full', [ERR.tokenExpired]: 'Invite expired', [ERR.unauthorized]: 'Invite needed',
  [ERR.forbidden]: 'Wrong room', [ERR.throttled]: 'Blocked for now',
  [ERR.removed]: 'Removed', [ERR.roomEnded]: 'Meeting ended', [ERR.lobbyDenied]: 'Not let in',
  [ERR.roomLocked]: 'Room locked', [ERR.passwordRequired]: 'Password needed', [ERR.wrongPassword]: 'Wrong password',
  [ERR.rateLimited]: 'Too many tries',
};

const ENDED = {
  [ERR.tokenExpired]: 'Your invite link has expired. Ask the person who invited you for a new one.',
  [ERR.unauthorized]: 'This server only lets people in with an invite link. Ask for one.',
  [ERR.forbidden]: 'Your invite link is for a different room.',
  [ERR.throttled]: 'Too many failed attempts from your network. Wait a few minutes and try again.',
  [ERR.unsupportedVersion]: 'This page is out of date. Reload it.',
  [ERR.removed]: 'A host removed you from this call.',
  [ERR.roomEnded]: 'A host ended the meeting for everyone.',
  [ERR.lobbyDenied]: 'A host did not let you in to this room.',
  [ERR.roomLocked]: 'This room is locked, and no host is there to let you in. Try again later.',
  [ERR.rateLimited]: 'Too many wrong passwords from your network. Wait a minute and try again.',
};

// endedText says why the server refused or ended the session (not room_full,
// which has its own notice).
export function endedText(reason) { return ENDED[reason] || 'The server ended this call.'; }

// renderPill makes the header pill say what is true now: a refusal or a
// departure wins over the state of the signaling socket. delay is the wait
// before the next reconnect, when known.
export function renderPill({ state, reason, signal }, delay) {
  let text;
  if (state === 'invalid') text = 'Not a room';
  else if (state === 'left') text = 'Left';
  else if (state === 'refused' || state === 'failed') text = LABELS[reason] || 'Disconnected';
  else if (signal === 'closed') text = 'Disconnected';
  else if (signal === 'reconnecting') text = delay ? `Reconnecting in ${Math.ceil(delay / 1000)} s…` : 'Reconnecting…';
  else if (signal === 'connecting') text = 'Connecting…';
  else if (state === 'waiting') text = 'Waiting for a host';
  else text = state === 'joined' ? 'Connected' : 'Joining…';
  const pill = $('conn');
  pill.textContent = text;
  pill.dataset.state = state === 'joined' && signal === 'connected' ? 'ok'
    : (state === 'refused' || state === 'failed' || state === 'invalid' || signal === 'closed') ? 'bad' : state === 'left' ? 'off' : 'wait';
}

// renderAlone shows "waiting for others" while we are alone in the room.
export function renderAlone(show) { $('alone').hidden = !show; }
