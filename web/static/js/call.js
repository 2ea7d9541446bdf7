// The call page: reads the link (link.js), builds the session (session.js),
// local media (media.js), the transport (switcher.js: the mesh or the media
// server) and the UI components, and wires them together. It opens on the
// pre-join screen (prejoin.js); with ?prejoin=0 it joins at once, asking
// about the devices only when they fail.
import { ERR, MSG, LIMITS, cleanName, displayName } from './protocol.js';
import { readLink, invalidRoomText } from './link.js';
import { clientId } from './signal.js';
import { rememberName, storedName } from './util.js';
import { Session, callAttr } from './session.js';
import { LocalMedia } from './media.js';
import { Switcher } from './switcher.js';
import { Tile } from './tile.js';
import { Grid } from './grid.js';
import { People } from './people.js';
import { PreJoin } from './prejoin.js';
import { Levels } from './levels.js';
import { Notices } from './notice.js';
import { Chat } from './chat.js';
import { Panels } from './panels.js';
import { Devices } from './devices.js';
import { Controls } from './controls.js';
import { Shortcuts } from './shortcuts.js';
import { renderPill, renderAlone, endedText, followSignal } from './status.js';
import { HostControls } from './host.js';
import { Admission } from './admission.js';
import { exposeCall } from './testhook.js';
import { followOthers } from './others.js';

const $ = (id) => document.getElementById(id);
const link = readLink();
const { room, viewer } = link;
const myName = displayName(link.name, storedName());
if (!link.prejoin) rememberName(myName); // else remembered as the user joins

const notices = new Notices();
const session = new Session({ room, name: myName, token: link.token, client: clientId() });
const media = new LocalMedia(notices);
const transport = new Switcher({
  session, stream: media.stream, tile: (info) => new Tile({ name: info.name || 'guest' }),
  relayOnly: link.relayOnly, ice: { transport: link.transport, port: link.turnPort },
});
transport.follow(session);
const selfTile = new Tile({ self: true, name: `${myName} (you)` });
const grid = new Grid($('grid'));
const levels = new Levels();
const chat = new Chat((text) => transport.sendChat(text));
const devices = new Devices(media);
const people = new People(grid);
const panels = new Panels({ chat: () => chat.opened(), settings: () => devices.opened() });
const hostControls = new HostControls({
  session, notices, roster: () => transport.roster.values(), onHand: () => applyState(),
  badge: (id, text) => people.badge(id, 'host', text),
  onEnd: () => {
    leave(false);
    notices.show('You ended the meeting for everyone.', [['Go to the start page', '/']], 'info', '', 'ended');
  },
});
const admission = new Admission({
  // With the password typed, join again at once (not through the pre-join screen).
  session, notices, rejoin: () => { notices.hide(); session.rejoin(media.acquire({ viewer })); }, leave: () => leave(false),
  mic: (on) => { if (media.mic && media.state.audio !== on) media.toggleMic(); },
});
const prejoin = new PreJoin({
  media, levels, name: cleanName(link.name) || storedName(), guest: myName, onJoin: (name) => enter(Promise.resolve(), name),
});
const shortcuts = new Shortcuts({
  actions: {
    m: () => media.toggleMic(), v: () => media.toggleCam(), c: () => panels.toggle('chat'), p: () => panels.toggle('people'),
    l: () => grid.toggleView(), '?': () => shortcuts.openHelp(),
  },
  closePanels: () => panels.close(),
  active: (key) => {
    if (key === '?') return true;
    if (session.state === 'idle') return prejoin.active && (key === 'm' || key === 'v');
    return ['joining', 'joined', 'reconnecting'].includes(session.state);
  },
  onChange: (on) => controls.titles(on),
});
const controls = new Controls({
  mic: () => media.toggleMic(), cam: () => media.toggleCam(), screen: () => media.toggleScreen(), leave: () => leave(false),
  chat: () => panels.toggle('chat'), people: () => panels.toggle('people'), layout: () => grid.toggleView(),
  settings: () => panels.toggle('settings'), help: () => shortcuts.openHelp(), host: () => panels.toggle('host'),
}, `${location.origin}/r/${encodeURIComponent(room)}`, room);
grid.addEventListener('change', () => controls.showView(grid.view));
controls.showView(grid.view); // the view this browser picked last

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
  document.body.dataset.signal = session.signal;
  renderPill(session);
  showAlone();
}

// enter joins the room once ready (the camera and microphone), as name.
function enter(ready, name = '') {
  if (name) selfTile.rename(`${name} (you)`);
  if (session.started) session.rejoin(ready, name);
  else session.start(ready, name);
}

// retryJoin asks for a place again after a refusal: through the pre-join
// screen, or at once without it.
function retryJoin() {
  notices.hide();
  if (!link.prejoin) { session.rejoin(media.acquire({ viewer })); return; }
  session.setState('idle');
  prejoin.open({ devices: !viewer });
}

// Not admitted, or thrown out: the call's stage and controls go (nothing
// looks joined), and the notice says why, by code, else in the server's words.
session.addEventListener('state', ({ detail: { state, reason, message } }) => {
  showCall();
  if (admission.state(state, reason)) { // waiting in the lobby, or asked for the password
    if (state === 'refused') { transport.close(); releaseMedia(); }
    return;
  }
  if (state !== 'refused' && state !== 'failed') return;
  transport.close(); // taken out of a running call: its connections go too
  releaseMedia();
  panels.close();
  if (reason === ERR.roomFull) {
    notices.show(`This room is full (${session.roomSize || LIMITS.roomSize} people). Try again later or pick another room.`, [
      ['Try again', retryJoin], ['Go to the start page', '/'],
    ], 'error', '', ERR.roomFull);
    return;
  }
  // While the socket is up, the same page can ask again; else it must reload.
  const again = session.sig.ready ? ['Try again', retryJoin] : ['Reload', () => location.reload()];
  notices.show(endedText(reason, message), [again, ['Go to the start page', '/']], 'error', message, reason);
});

followSignal(session, notices);

// Whether we are a host: the join reply, a resumed hello, room-updated.
session.addEventListener('hello', ({ detail: hello }) => {
  document.body.dataset.selfId = hello.peerId;
  if (hello.resumed && hello.room) selfTile.el.dataset.host = String(!!hello.host);
});
session.addEventListener('message', ({ detail: msg }) => {
  if (msg.type === MSG.roomUpdated && typeof msg.host === 'boolean') selfTile.el.dataset.host = String(msg.host);
});
session.addEventListener('joined', ({ detail: { host } }) => {
  selfTile.el.dataset.host = String(host);
  notices.hideIf(ERR.roomFull);
  notices.hideIf('waiting');
  applyState();
});
session.addEventListener('resumed', applyState); // re-announce our state

// --- the others ---

const unlockAudio = followOthers({ transport, grid, levels, chat, notices, changed: showAlone });

// leave ends the call; unloading: the page is going away, so nothing is shown.
function leave(unloading) {
  if (session.closed) return;
  transport.leave();
  session.close();
  transport.close();
  releaseMedia();
  prejoin.close();
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
  devices.showPolicy(link.relayOnly, link.transport);
  if (!room) {
    showCall();
    notices.show(invalidRoomText(link.typed), [['Go to the start page', '/']], 'error', '', 'invalid_room');
    return;
  }
  setInterval(() => transport.tick(), 1000);
  window.addEventListener('pagehide', () => leave(true));
  if (link.prejoin) prejoin.open({ devices: !viewer });
  else enter(media.acquire({ viewer }));
  showCall();
}

start();
exposeCall({ session, media, transport });
