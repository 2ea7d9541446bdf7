// What the page says about our place in the room: the header pill, the
// banner while the server is being reached again, the "waiting for others"
// note, and the words for a refusal (session.js reasons). Codes without words
// of their own are said with the server's message.
import { ERR } from './protocol.js';

const $ = (id) => document.getElementById(id);

const LABELS = {
  [ERR.roomFull]: 'Room full', [ERR.tokenExpired]: 'Invite expired', [ERR.unauthorized]: 'Invite needed',
  [ERR.forbidden]: 'Wrong room', [ERR.throttled]: 'Blocked for now', [ERR.roomLocked]: 'Room locked',
  [ERR.passwordRequired]: 'Password needed', [ERR.wrongPassword]: 'Wrong password', [ERR.lobbyDenied]: 'Not let in',
  [ERR.removed]: 'Removed', [ERR.roomEnded]: 'Meeting ended', [ERR.rateLimited]: 'Too many tries',
};

const ENDED = {
  [ERR.tokenExpired]: 'Your invite link has expired. Ask the person who invited you for a new one.',
  [ERR.unauthorized]: 'This server only lets people in with an invite link. Ask for one.',
  [ERR.forbidden]: 'Your invite link is for a different room.',
  [ERR.throttled]: 'Too many failed attempts from your network. Wait a few minutes and try again.',
  [ERR.unsupportedVersion]: 'This page is out of date. Reload it.',
  [ERR.roomLocked]: 'This room is locked and nobody can let you in now. Ask the host to unlock it.',
  [ERR.passwordRequired]: 'This room has a password. Ask the person who invited you for it.',
  [ERR.wrongPassword]: 'That password is not the room\'s. Check it and try again.',
  [ERR.lobbyDenied]: 'The host did not let you in.',
  [ERR.removed]: 'The host removed you from this call.',
  [ERR.roomEnded]: 'The host ended the meeting.',
  [ERR.rateLimited]: 'Too many tries in a short time. Wait a minute and try again.',
};

// sentence makes the server's message a sentence: capital first, full stop.
function sentence(message) {
  const m = String(message || '').trim();
  if (!m) return '';
  return `${m[0].toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? '' : '.'}`;
}

// endedText says why the server refused or ended the session (not room_full,
// which has its own notice): by code, else in the server's words.
export function endedText(reason, message = '') {
  return ENDED[reason] || sentence(message) || 'The server ended this call.';
}

// renderPill makes the header pill say what is true now: a refusal or a
// departure wins over the state of the signaling socket. delay is the wait
// before the next reconnect, when known.
export function renderPill({ state, reason, signal }, delay) {
  let text;
  if (state === 'invalid') text = 'Not a room';
  else if (state === 'left') text = 'Left';
  else if (state === 'idle') text = 'Not joined yet';
  else if (state === 'waiting' && signal === 'connected') text = 'Waiting for a host';
  else if (state === 'refused') text = LABELS[reason] || 'Not let in';
  else if (state === 'failed') text = LABELS[reason] || 'Disconnected';
  else if (signal === 'closed') text = 'Disconnected';
  else if (signal === 'reconnecting') text = delay ? `Reconnecting in ${Math.ceil(delay / 1000)} s…` : 'Reconnecting…';
  else if (signal === 'connecting') text = 'Connecting…';
  else if (state === 'waiting') text = 'Waiting for a host';
  else text = state === 'joined' ? 'Connected' : 'Joining…';
  const pill = $('conn');
  pill.textContent = text;
  pill.dataset.state = state === 'joined' && signal === 'connected' ? 'ok'
    : (state === 'refused' || state === 'failed' || state === 'invalid' || signal === 'closed') ? 'bad'
      : state === 'left' || state === 'idle' ? 'off' : 'wait';
  renderBanner({ state, signal });
}

// renderBanner says, while a call we are in has lost the server, that it is
// being reached again and what still works meanwhile.
function renderBanner({ state, signal }) {
  const show = (state === 'joined' || state === 'reconnecting') && signal === 'reconnecting';
  const b = $('banner');
  const text = show ? 'Reconnecting to the server… The call goes on while its sound and video still flow.' : '';
  if (b.textContent !== text) b.textContent = text;
  b.hidden = !show;
}

// renderAlone shows "waiting for others" while we are alone in the room.
export function renderAlone(show) { $('alone').hidden = !show; }

// followSignal keeps body[data-signal] and the pill with the signaling
// socket, and puts up a notice (with Retry now) after three failed tries to
// reach the server, taken down once it answers; notices: notice.js.
export function followSignal(session, notices) {
  let unreachable = false;
  session.addEventListener('status', ({ detail: { state, delay, reason, detail, attempt } }) => {
    document.body.dataset.signal = state;
    if (state === 'connected') {
      if (unreachable) { unreachable = false; notices.hideIf('unreachable'); }
    } else if (state === 'reconnecting' && delay && attempt >= 3) {
      unreachable = true;
      notices.show(`Cannot reach the rtcd server: ${reason || 'it does not answer'}. Calls already running keep going, and the page keeps trying by itself.`, [
        ['Retry now', () => session.retryNow()],
      ], 'info', detail, 'unreachable');
    }
    renderPill(session, delay);
  });
}
