// The signaling protocol as the web app speaks it (docs/protocol.md): message
// types, error codes, limits, the data-channel messages between rtcd's own
// clients, and the validation rules the page applies to names and rooms.
// Pure data and functions, with no DOM or browser globals at import time, so
// Node tests can import it to decode the protocol's JSON fixtures.

export const VERSION = 1;

// Message types, both directions (§3).
export const MSG = Object.freeze({
  hello: 'hello',
  join: 'join',
  joined: 'joined',
  leave: 'leave',
  left: 'left',
  signal: 'signal',
  update: 'update',
  ice: 'ice',
  ping: 'ping',
  pong: 'pong',
  error: 'error',
  bye: 'bye',
  peerJoined: 'peer-joined',
  peerLeft: 'peer-left',
  peerUpdated: 'peer-updated',
  media: 'media',
  // Host controls (§3.11).
  host: 'host',
  roomUpdated: 'room-updated',
  lobby: 'lobby',
  waiting: 'waiting',
  hostRequest: 'host-request',
  // Never on the wire: the signaling client emits it when the server has
  // forgotten our session and a fresh one starts.
  sessionLost: 'session-lost',
});

// Error codes (§4); stable, meant for programs.
export const ERR = Object.freeze({
  badRequest: 'bad_request',
  unknownType: 'unknown_type',
  missingField: 'missing_field',
  unsupportedVersion: 'unsupported_version',
  helloRequired: 'hello_required',
  alreadyHello: 'already_hello',
  unauthorized: 'unauthorized',
  tokenExpired: 'token_expired',
  forbidden: 'forbidden',
  throttled: 'throttled',
  noSuchSession: 'no_such_session',
  notInRoom: 'not_in_room',
  alreadyJoined: 'already_joined',
  roomFull: 'room_full',
  unknownPeer: 'unknown_peer',
  rateLimited: 'rate_limited',
  internal: 'internal',
  notHost: 'not_host',
  roomLocked: 'room_locked',
  passwordRequired: 'password_required',
  wrongPassword: 'wrong_password',
  lobbyDenied: 'lobby_denied',
  removed: 'removed',
  roomEnded: 'room_ended',
});

// Host actions (§3.11): the action of a host message, and of the
// host-request a host's mute or ask-unmute sends its target.
export const HOST = Object.freeze({
  lock: 'lock', unlock: 'unlock', password: 'password', admit: 'admit', deny: 'deny',
  mute: 'mute', askUnmute: 'ask-unmute', remove: 'remove', end: 'end',
});

// hostAction builds a host message; target and password only where given.
export function hostAction(action, { target, password } = {}) {
  const m = { type: MSG.host, action };
  if (target !== undefined) m.target = target;
  if (password !== undefined) m.password = password;
  return m;
}

// The roles of a join token (its role claim): a host token.
export const ROLE = Object.freeze({ host: 'host' });

// Codes the signaling client gives when the socket itself ends the session
// (a close code, not an error message): another window took it over, a
// policy close, or a bye without reconnect.
export const END = Object.freeze({ replaced: 'replaced', policy: 'policy', bye: 'bye' });

const FATAL = new Set([ERR.unauthorized, ERR.tokenExpired, ERR.forbidden, ERR.throttled, ERR.unsupportedVersion]);
const REFUSAL = new Set([ERR.unauthorized, ERR.tokenExpired, ERR.forbidden, ERR.throttled, ERR.roomFull,
  ERR.roomLocked, ERR.passwordRequired, ERR.wrongPassword, ERR.lobbyDenied, ERR.removed, ERR.roomEnded]);

// ENDED: codes the server pushes (no id) when it takes us out of our room.
const ENDED = new Set([ERR.removed, ERR.roomEnded, ERR.lobbyDenied, ERR.roomLocked]);

// isEnded: this error, pushed without a request, means the server took us
// out of the room (or the lobby) for good.
export function isEnded(code) { return ENDED.has(code); }

// needsPassword: the join failed for want of the right password, so the page
// asks for one and joins again.
export function needsPassword(code) { return code === ERR.passwordRequired || code === ERR.wrongPassword; }

// isFatal: after this error code a retry of the same hello cannot succeed.
export function isFatal(code) { return FATAL.has(code); }

// isRefusal: this code means the server does not admit us (to the server or
// to the room), as opposed to ending a session for another reason.
export function isRefusal(code) { return REFUSAL.has(code); }

// Signal kinds (§3.6); layers and speaker only between a client and the media server.
export const KIND = Object.freeze({
  offer: 'offer', answer: 'answer', candidate: 'candidate', restart: 'restart', layers: 'layers', speaker: 'speaker',
});

// How a room carries media (joined.media, the media message): a connection
// between every two participants, or one connection each to the media server.
export const MEDIA = Object.freeze({ mesh: 'mesh', sfu: 'sfu' });

// The reserved peer id of the media server in signal messages.
export const SFU_PEER = 'sfu';

// mediaMode is the media mode a joined or media message names; a server that
// does not say (one without a media server) uses the mesh.
export function mediaMode(m) { return m === MEDIA.sfu ? MEDIA.sfu : MEDIA.mesh; }

// The data channel between rtcd's clients (§9), or between a client and the
// media server, which relays each message to the others with `from` set to
// the sender's peer id: its label and id, and the `t` of its messages.
export const CHANNEL = Object.freeze({ label: 'rtcd', id: 0 });
export const DATA = Object.freeze({ chat: 'chat', bye: 'bye', rebind: 'rebind' });

// WebSocket close codes and reasons the client acts on (§3.9).
export const CLOSE = Object.freeze({
  normal: 1000, goingAway: 1001, abnormal: 1006, policy: 1008, tooBig: 1009, internal: 1011,
  replacedReason: 'replaced', helloTimeoutReason: 'hello timeout',
});

export const LIMITS = Object.freeze({
  frameBytes: 65536,  // §1
  idBytes: 64,        // request ids and client ids
  nameChars: 64,      // display names
  roomChars: 64,      // room names
  roomSize: 6,        // the default; hello.limits.roomSize is the server's
  chatChars: 2000,    // chat lines shown from the data channel
  passwordChars: 64,  // room passwords (§3.11)
});

// A room name (§3.3): 1-64 letters or digits of any script (with their
// combining marks), dots, dashes and underscores, in NFC form, and not "."
// or "..".
export const ROOM_RE = /^(?!\.\.?$)[\p{L}\p{Nd}_.-][\p{L}\p{M}\p{Nd}_.-]{0,63}$/u;

// canonicalRoom returns the room s names (normalized as the server does), or
// '' when s is not a valid room name.
export function canonicalRoom(s) {
  const n = String(s ?? '').normalize('NFC');
  return ROOM_RE.test(n) ? n : '';
}

// roomTooLong reports whether s has more characters than a room name may.
export function roomTooLong(s) { return [...String(s ?? '')].length > LIMITS.roomChars; }

// CLIENT_RE is what the server accepts as hello.client (§3.1).
export const CLIENT_RE = /^[A-Za-z0-9_-]{0,64}$/;

// cleanName drops control characters and outer spaces and cuts a display
// name to its limit; '' when nothing is left.
export function cleanName(s) {
  return String(s || '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, LIMITS.nameChars);
}

// displayName picks the name to say hello with: the one asked for (?name=),
// else the remembered one, else a generated "Guest 123".
export function displayName(asked, remembered = '') {
  const q = cleanName(asked);
  if (q) return q;
  const r = cleanName(remembered);
  if (r) return r;
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return `Guest ${100 + (a[0] % 900)}`;
}

// envelope is msg as sent: the protocol version on every message.
export function envelope(msg) { return { v: VERSION, ...msg }; }

// decode parses one JSON text frame; null unless it is a JSON object.
export function decode(text) {
  let msg;
  try { msg = JSON.parse(text); } catch { return null; }
  return msg && typeof msg === 'object' ? msg : null;
}

// iceServersOf returns the iceServers list of a hello or ice message, or
// null when it has none.
export function iceServersOf(msg) { return Array.isArray(msg?.iceServers) ? msg.iceServers : null; }

// description returns the RTCSessionDescriptionInit an offer or answer
// signal carries, or null when data is not one.
export function description(kind, data) {
  if (kind !== KIND.offer && kind !== KIND.answer) return null;
  if (!data || typeof data.sdp !== 'string') return null;
  return { type: kind, sdp: data.sdp };
}

// chatText is the text of a data-channel chat message, cut to the limit, or
// null when it has none.
export function chatText(msg) {
  return typeof msg?.text === 'string' ? msg.text.slice(0, LIMITS.chatChars) : null;
}
