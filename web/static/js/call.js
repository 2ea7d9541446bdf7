// The call page, /r/<room>?name=..&relay=1&token=..&viewer=1&transport=..&turnport=..:
// reads the link, builds the session (session.js), local media (media.js),
// the transport (switcher.js: the mesh or the media server) and the UI
// components, and wires them together.
import { ERR, LIMITS, MEDIA, canonicalRoom, displayName, isEnded, roomTooLong } from './protocol.js';
import { clientId } from './signal.js';
import { rememberName, storedName } from './util.js';
import { Session, callAttr } from './session.js';
import { LocalMedia } from './media.js';
import { Switcher } from './switcher.js';
import { Tile } from './tile.js';
import { Grid } from './grid.js';
import { Levels } from './levels.js';
import { Notices } from './notice.js';
import { Chat } from './chat.js';
import { Panels } from './panels.js';
import { Devices } from './devices.js';
import { Controls } from './controls.js';
import { Shortcuts } from './shortcuts.js';
import { renderPill, renderAlone, endedText } from './status.js';
import { HostControls } from './host.js';
import { Admission } from './admission.js';
import { exposeCall } from './testhook.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// The room of the link, as typed (for the message when it is not valid) and
// as the server names it (NFC).
const linkRoom = (() => {
  try { return decodeURIComponent(location.pathname.replace(/^\/r\/?/, '').replace(/\/$/, '')); } catch { return null; }
})();
const room = canonicalRoom(linkRoom);
const relayOnly = params.get('relay') === '1';
// ?transport=udp|tcp|tls keeps only the TURN URLs of that transport (to test
// or work around a network that breaks one of them).
const onlyTransport = (params.get('transport') || '').toLowerCase();
// ?turnport=N keeps only the TURN URLs on port N, e.g. 443 with transport=tls
// for the one-port relay alone (to test it, or a network that lets only 443 out).
const onlyTurnPort = /^\d{1,5}$/.test(params.get('turnport') || '') ? params.get('turnport') : '';
const viewer = params.get('viewer') === '1'; // join without camera or microphone
const myName = displayName(params.get('name'), storedName());
rememberName(myName);

const notices = new Notices();
const session = new Session({ room, name: myName, token: params.get('token') || '', client: clientId() });
const media = new LocalMedia(notices);
const transport = new Switcher({
  session, stream: media.stream, tile: (info) => new Tile({ name: info.name || 'guest' }),
  relayOnly, ice: { transport: onlyTransport, port: onlyTurnPort },
});
transport.follow(session);
const selfTile = new Tile({ self: true, name: `${myName} (you)` });
const grid = new Grid($('grid'));
const levels = new Levels();
const chat = new Chat((text) => transport.sendChat(text));
const devices = new Devices(media);
const panels = new Panels({ chat: () => chat.opened(), settings: () => devices.opened() });
const hostControls = new HostControls({
  session, notices, roster: () => transport.roster.values(), onHand: () => applyState(),
  onEnd: () => {
    leave(false);
    notices.show('You ended the meeting for everyone.', [['Go to the start page', '/']], 'info', '', 'ended');
  },
});
const admission = new Admission({
  session, notices, rejoin: () => retryJoin(), leave: () => leave(false),
  mic: (on) => { if (media.mic && media.state.audio !== on) media.toggleMic(); },
});
const shortcuts = new Shortcuts({
  actions: { m: () => media.toggleMic(), v: () => media.toggleCam(), c: () => panels.toggle('chat'), '?': () => shortcuts.openHelp() },
  closePanels: () => panels.close(),
  active: () => !session.closed,
  onChange: (on) => controls.titles(on),
});
const controls = new Controls({
  mic: () => media.toggleMic(), cam: () => media.toggleCam(), screen: () => media.toggleScreen(), leave: () => leave(false),
  chat: () => panels.toggle('chat'), settings: () => panels.toggle('settings'), help: () => shortcuts.openHelp(),
  host: () => panels.toggle('host'),
}, `${location.origin}/r/${encodeURIComponent(room)}`, room);

// --- our media ---

// applyState shows our media state and tells the room.
function applyState() {
  selfTile.showOwn(media.state);
  controls.show(media.state, !!media.mic);
  session.announce({ ...media.state, hand: hostControls.hand });
}

function releaseMedia() {
  media.release();
  selfTile.previewOff();
  levels.unwatch(selfTile.el);
}

media.addEventListener('track', ({ detail: { kind } }) => {
  if (kind === 'audio' && media.mic) levels.watch(selfTile.el, media.mic);
  selfTile.preview(media.stream);
  transport.publish(kind, media.sendTrack(kind), { screen: !!media.screen });
});
media.addEventListener('state', applyState);
media.addEventListener('devices', () => devices.fill());

// --- the session ---

function showAlone() { renderAlone(session.state === 'joined' && !transport.others()); }

function showCall() {
  document.body.dataset.call = callAttr(session.state);
  renderPill(session);
  showAlone();
}

function retryJoin() {
  notices.hide();
  session.rejoin(media.acquire({ viewer }));
}

session.addEventListener('state', ({ detail: { state, reason, message } }) => {
  showCall();
  if (isEnded(reason)) { // a host (or the operator) took us out: the call is over here
    transport.leave();
    transport.close();
    session.close();
    controls.hide();
  }
  if (admission.state(state, reason)) {
    if (state === 'refused') releaseMedia();
  } else if (state === 'refused' && reason === ERR.roomFull) {
    releaseMedia();
    notices.show(`This room is full (${session.roomSize || LIMITS.roomSize} people). Try again later or pick another room.`, [
      ['Try again', retryJoin], ['Go to the start page', '/'],
    ], 'error', '', ERR.roomFull);
  } else if (state === 'refused' || state === 'failed') {
    releaseMedia();
    notices.show(endedText(reason), [['Reload', () => location.reload()], ['Go to the start page', '/']], 'error', message);
  }
});

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

session.addEventListener('hello', ({ detail: hello }) => { document.body.dataset.selfId = hello.peerId; });
session.addEventListener('joined', () => { notices.hideIf(ERR.roomFull); applyState(); });
session.addEventListener('resumed', applyState); // re-announce our state

// --- the others ---

transport.addEventListener('peer-added', ({ detail: { peer } }) => {
  grid.add(peer.view.el);
  chat.note(`${peer.name} joined`);
  showAlone();
});
transport.addEventListener('peer-removed', ({ detail: { peer, why } }) => {
  levels.unwatch(peer.view.el);
  grid.layout();
  chat.note(why || `${peer.name} left`);
  showAlone();
});
// The mesh's remote audio is metered here; the media server names the speaker.
transport.addEventListener('track', ({ detail: { peer, track } }) => {
  if (track.kind === 'audio' && transport.mode === MEDIA.mesh) levels.watch(peer.view.el, track);
});
transport.addEventListener('speaker', ({ detail: { peer } }) => levels.setSpeaker(peer?.view.el || null));
transport.addEventListener('mode', ({ detail: { mode } }) => {
  document.body.dataset.media = mode;
  if (mode !== MEDIA.mesh) for (const p of transport.peers()) levels.unwatch(p.view.el);
  else levels.setSpeaker(null);
});
transport.addEventListener('chat', ({ detail: { peer, text } }) => chat.add(peer.name, text));

let unlockShown = false;
transport.addEventListener('audio-blocked', () => {
  if (unlockShown) return;
  unlockShown = true;
  notices.show('Your browser blocked sound until you interact with the page.', [
    ['Turn on sound', () => { unlockAudio(); notices.hide(); }],
  ], 'info');
});

function unlockAudio() {
  for (const p of transport.peers()) p.view.playAudio().catch(() => {});
  levels.resume();
}

// leave ends the call; unloading: the page is going away, so nothing is shown.
function leave(unloading) {
  if (session.closed) return;
  transport.leave();
  session.close();
  transport.close();
  releaseMedia();
  if (unloading) return;
  session.leave();
  panels.close();
  chat.close();
  grid.layout();
  notices.show('You left the call.', [
    ['Rejoin', () => location.reload()], ['Go to the start page', '/'],
  ], 'info');
  controls.hide();
}

function start() {
  document.title = `${room || 'No such room'} · rtcd`;
  $('room-title').textContent = room || 'Not a room link';
  grid.add(selfTile.el);
  controls.titles(shortcuts.on);
  document.addEventListener('click', unlockAudio, { once: true });
  devices.showPolicy(relayOnly, onlyTransport);
  if (!room) {
    showCall();
    let why = 'This link does not name a valid room.';
    if (!linkRoom) why = 'This link has no room name.';
    else if (roomTooLong(linkRoom)) why = `The room name in this link is too long (at most ${LIMITS.roomChars} characters).`;
    notices.show(`${why} Room names use letters and digits of any language, dots, dashes and underscores, without spaces.`,
      [['Go to the start page', '/']], 'error', '', 'invalid_room');
    return;
  }
  session.start(media.acquire({ viewer }));
  setInterval(() => transport.tick(), 1000);
  window.addEventListener('pagehide', () => leave(true));
}

start();
exposeCall({ session, media, transport });
