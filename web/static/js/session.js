// Our place in the room, as a state machine over the signaling client
// (signal.js). States:
//   invalid       the link names no valid room; nothing is started
//   idle          not started yet, or back on the pre-join screen after a refusal
//   joining       waiting for hello, the camera, or the join reply
//   waiting       in the lobby of a locked room, until a host lets us in
//   joined        in the room
//   reconnecting  in the room, signaling lost; the session is being resumed
//   refused       not admitted; reason is the code (room_full, unauthorized, ...)
//   failed        the server ended the session, or refused the join with
//                 another code; reason is the code, message the server's words
// A refusal or an ending pushed while in the room (removed, room_ended) is
// refused too.
//   left          we left
// It emits:
//   'state'   {detail: {state, reason, message}}
//   'status'  {detail: Signaling status}  after the state it caused
//   'hello'   {detail: hello reply}        every hello, resumed or not
//   'renew'   {detail: {peerId}}           a fresh session replaced a lost one
//   'joined'  {detail: {peers, media, host}} the join reply's participants, media mode (MEDIA.*), whether we are a host
//   'resumed' {detail: {peers}}            a resumed session's participants
//   'ice'     {detail: {iceServers}}       new ICE servers (hello, refresh)
//   'message' {detail: msg}                presence, signal, media, session-lost
//   'room'    {detail: {host, settings}}   our host role or the room's settings (§3.11)
//   'lobby'   {detail: {peers}}            who waits to be let in (hosts only)
//   'host-request' {detail: {action, from}} a host asks us to mute or unmute
import { Signaling } from './signal.js';
import { MSG, ERR, isRefusal, isEnded, iceServersOf, mediaMode } from './protocol.js';

// callAttr is the body[data-call] word for a state; the page's contract keeps
// joining | joined | refused | left | invalid.
// joining | waiting | joined | refused | left | invalid, and prejoin while idle.
export function callAttr(state) {
  return { reconnecting: 'joining', failed: 'refused', idle: 'prejoin' }[state] || state;
}

export class Session extends EventTarget {
  constructor({ room, name = '', token = '', client = '' }) {
    super();
    this.room = room;
    this.state = room ? 'idle' : 'invalid';
    this.reason = '';
    this.signal = 'idle'; // the socket: idle (not opened yet) | connecting | connected | reconnecting | closed
    this.inRoom = '';           // the room we are in on the current session
    this.password = '';         // the room's password, once the user typed it
    this.host = false;          // we are a host of the room
    this.settings = { locked: false, password: false };
    this.lobby = [];            // who waits to be let in, while we are a host
    this.iceServers = [];
    this.hadSession = false;
    this.renamed = false; // a new name to tell the room once joined (rejoin)
    this.closed = false;
    this.ready = Promise.resolve(); // what must be done before joining (the camera)
    this.sig = new Signaling({ name, token, client });
    this.sig.addEventListener('status', (e) => this.onStatus(e.detail));
    this.sig.addEventListener('fatal', (e) => this.end(e.detail));
    this.sig.addEventListener('open', (e) => this.onOpen(e.detail));
    this.sig.addEventListener('message', (e) => this.onMessage(e.detail));
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  get peerId() { return this.sig.peerId; }
  get hello() { return this.sig.hello; }
  get roomSize() { return this.sig.hello?.limits?.roomSize; }

  setState(state, reason = '', message = '') {
    this.state = state;
    this.reason = reason;
    this.emit('state', { state, reason, message });
  }

  // start connects; the join waits for ready (the camera and microphone).
  // name, when given, replaces the display name given to the constructor.
  start(ready, name = '') {
    if (this.state === 'invalid') return;
    if (name) this.sig.name = name;
    this.ready = ready;
    this.signal = 'connecting';
    this.setState('joining');
    this.sig.connect();
  }

  get started() { return this.signal !== 'idle'; }

  // rejoin asks for a place again after a refusal, once ready; name, when
  // given, is the display name from now on (told the room once joined).
  async rejoin(ready, name = '') {
    if (name && name !== this.sig.name) { this.sig.name = name; this.renamed = true; }
    this.setState('joining');
    this.ready = ready;
    await ready;
    if (!this.closed) this.join();
  }

  send(msg) { return this.sig.send(msg); }
  request(msg) { return this.sig.request(msg); }
  retryNow() { this.sig.retryNow(); }

  // announce tells the room our media state, while we are in it.
  announce(state) { if (this.inRoom) this.send({ type: MSG.update, state: { ...state } }); }

  onStatus(s) {
    this.signal = s.state;
    if (s.state === 'reconnecting') {
      this.inRoom = '';
      if (this.state === 'joined') this.setState('reconnecting');
    }
    this.emit('status', s);
  }

  // end records that the server refused or ended the session.
  end({ code, message }) {
    this.setState(isRefusal(code) ? 'refused' : 'failed', code, message);
  }

  async onOpen(hello) {
    this.iceServers = iceServersOf(hello) || [];
    this.emit('ice', { iceServers: this.iceServers });
    this.emit('hello', hello);
    if (hello.resumed) {
      if (['idle', 'refused', 'failed'].includes(this.state)) return; // not in a room, nor asking
      if (!hello.room && (this.state === 'joining' || this.state === 'waiting')) {
        // The socket dropped before the join reply, or in the lobby (which a
        // dropped socket leaves): join on the resumed session.
        this.setState('joining');
        await this.ready;
        if (!this.closed && this.state === 'joining') this.join();
        return;
      }
      this.inRoom = hello.room || this.room;
      this.setRoom(hello);
      if (this.state === 'reconnecting') this.setState('joined');
      this.emit('resumed', { peers: hello.peers || [] });
      return;
    }
    if (this.hadSession) this.emit('renew', { peerId: hello.peerId });
    this.hadSession = true;
    await this.ready;
    if (this.sig.peerId !== hello.peerId || this.closed) return; // superseded meanwhile
    this.join();
  }

  async join() {
    try {
      const msg = { type: MSG.join, room: this.room };
      if (this.password) msg.password = this.password;
      const reply = await this.sig.request(msg);
      if (reply.type === MSG.waiting) this.setState('waiting');
      else this.entered(reply);
    } catch (err) {
      if (err.code === ERR.alreadyJoined) {
        this.inRoom = this.room;
        this.setState('joined');
      } else if (err.code) {
        // Any other code is the server's answer: say it, do not retry blindly.
        this.end({ code: err.code, message: err.message });
      } else {
        // No answer (the socket closed, or a timeout): a resumed session joins
        // (onOpen); on a socket still up, ask again.
        console.info('[rtcd]', 'join failed', err);
        if (this.sig.ready && !this.closed) setTimeout(() => { if (this.state === 'joining' && this.sig.ready && !this.closed) this.join(); }, 1000);
      }
    }
  }

  // entered records the joined message that put us in the room: the reply
  // to join, or, after waiting in the lobby, the one a host's admit sent.
  entered(reply) {
    this.inRoom = reply.room || this.room;
    if (this.renamed) { this.renamed = false; this.send({ type: MSG.update, name: this.sig.name }); }
    this.setRoom(reply);
    this.setState('joined');
    this.emit('joined', { peers: reply.peers || [], media: mediaMode(reply.media) });
  }

  // setRoom takes our role and the room's settings from joined,
  // room-updated or a resumed hello.
  setRoom(m) {
    this.host = !!m.host;
    if (m.settings) this.settings = { locked: !!m.settings.locked, password: !!m.settings.password };
    if (!this.host) this.lobby = [];
    this.emit('room', { host: this.host, settings: this.settings });
  }

  onMessage(msg) {
    switch (msg.type) {
      case MSG.joined:
        if (!msg.id && this.state === 'waiting') this.entered(msg); // let in from the lobby
        break;
      case MSG.roomUpdated:
        this.setRoom(msg);
        break;
      case MSG.lobby:
        this.lobby = Array.isArray(msg.peers) ? msg.peers : [];
        this.emit('lobby', { peers: this.lobby });
        break;
      case MSG.hostRequest:
        this.emit('host-request', { action: msg.action, from: msg.from });
        break;
    }
    if (msg.type === MSG.ice) {
      const list = iceServersOf(msg);
      if (list) { this.iceServers = list; this.emit('ice', { iceServers: list }); }
      return;
    }
    if (msg.type === MSG.sessionLost) this.inRoom = '';
    if (msg.type === MSG.error) console.info('[rtcd]', 'server error', msg.code, msg.message);
    if (msg.type === MSG.error && !msg.id && isEnded(msg.code) && this.state !== 'left') {
      // The server took us out of the room (removed, the meeting ended, turned away).
      this.inRoom = '';
      this.host = false;
      this.end({ code: msg.code, message: msg.message });
    }
    this.emit('message', msg);
  }

  // close ends the signaling session (leave, then close the socket).
  close() {
    this.closed = true;
    this.sig.close();
  }

  // leave closes the session and records that we left.
  leave() {
    this.close();
    this.signal = 'closed';
    this.emit('status', { state: 'closed' });
    this.setState('left');
  }
}
