// The call page, /r/<room>?name=..&relay=1&token=..: local media, the mesh of
// Peers, controls, chat, path indicators, and reconnect handling.
import { Signaling, canonicalRoom, clientId } from './signal.js';
import { Peer, makeTile, el } from './peer.js';
import { displayName, rememberName, copyText } from './util.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// The room of the link, as typed (for the message when it is not valid) and
// as the server names it (NFC).
const linkRoom = (() => {
  try { return decodeURIComponent(location.pathname.replace(/^\/r\/?/, '').replace(/\/$/, '')); } catch { return null; }
})();
const room = canonicalRoom(linkRoom);
const forceRelay = params.get('relay') === '1';
// ?transport=udp|tcp|tls keeps only the TURN URLs of that transport (to test
// or work around a network that breaks one of them).
const onlyTransport = (params.get('transport') || '').toLowerCase();
// ?turnport=N keeps only the TURN URLs on port N, e.g. 443 with transport=tls
// for the one-port relay alone (to test it, or a network that lets only 443 out).
const onlyTurnPort = /^\d{1,5}$/.test(params.get('turnport') || '') ? params.get('turnport') : '';
const token = params.get('token') || '';
const myName = displayName(params.get('name'));
rememberName(myName);

const STORE_CAM = 'rtcd.camera';
const STORE_MIC = 'rtcd.microphone';
const STORE_KEYS = 'rtcd.shortcuts'; // 'off' turns the single-key shortcuts off

// mediaErrorText says in a plain sentence why a camera, microphone or screen
// could not be used; the error's name goes in the tooltip.
function mediaErrorText(err, what = 'camera') {
  switch (err && err.name) {
    case 'NotAllowedError': case 'SecurityError':
      return `The browser was not allowed to use the ${what}. Allow it in the address bar and try again.`;
    case 'NotFoundError': case 'OverconstrainedError':
      return `No ${what} was found. Plug one in and try again.`;
    case 'NotReadableError': case 'AbortError':
      return `The ${what} is in use by another program, or could not start.`;
    default:
      return `The ${what} could not start.`;
  }
}
function errDetail(err) { return err ? `${err.name || 'Error'}: ${err.message || err}` : ''; }
function stored(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

class Call {
  constructor() {
    this.peers = new Map();      // peerId -> Peer (including orphans under their old id)
    this.aliases = new Map();    // new peerId -> orphaned Peer, learnt from 'rebind' over the data channel
    this.deferred = new Map();   // new peerId -> {info, initiator, timer}: waiting to see if it is an orphan
    this.iceServers = [];
    this.state = { audio: true, video: true, screen: false };
    this.stream = new MediaStream(); // what we send: current mic + camera/screen tracks
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.inRoom = '';            // room we are in on the current session
    this.hadSession = false;
    this.left = false;
    this.metrics = { firstConnectedMs: 0, iceRestarts: 0 };
    this.sig = new Signaling({ name: myName, token, client: clientId() });
    this.call = 'joining';        // joining | joined | refused | left | invalid (body data-call)
    this.refusal = '';           // the pill's word for a refusal
    this.awayPeers = new Map();  // peerId -> {info}: away on the server and without media, tile removed
    this.shortcutsOn = stored(STORE_KEYS) !== 'off';
    this.self = makeTile({ self: true, name: `${myName} (you)` });
    this.self.tile.dataset.self = 'true';
    this.self.tile.dataset.video = 'false'; // avatar until the camera starts
    this.levels = new Map();     // tile -> analyser
    this.audioCtx = null;
  }

  log(...args) { console.info('[rtcd]', ...args); }

  // --- hooks used by Peer ---
  rtcConfig() {
    const cfg = { iceServers: this.servers(), bundlePolicy: 'max-bundle' };
    if (forceRelay) cfg.iceTransportPolicy = 'relay';
    return cfg;
  }
  localStream() { return this.stream; }
  sendTrack(kind) {
    if (kind === 'audio') return this.mic;
    return this.screen || this.cam;
  }
  signal(peer, kind, data) { this.sig.send({ type: 'signal', to: peer.id, kind, data }); }
  onTrack(peer, track) { if (track.kind === 'audio') this.watchLevel(peer.tile, track); }
  onState(peer) {
    if (peer.tile.dataset.state === 'connected') this.tuneSenders();
    if (peer.tile.dataset.state === 'connected' && !this.metrics.firstConnectedMs) {
      this.metrics.firstConnectedMs = Math.round(performance.now()); // since navigation start
    }
    // An orphan can only be matched again over its data channel, so once its
    // connection is not up any more it is gone for good.
    if (peer.orphan && peer.pc && peer.pc.connectionState !== 'connected') this.removePeer(peer);
    this.dropIfGone(peer);
  }

  // dropIfGone removes the tile of a peer whose signaling is away and whose
  // media is down too: its browser or network is gone. It comes back as a new
  // peer if its session resumes (peer-updated without away).
  dropIfGone(p) {
    if (!p.away || p.orphan || this.peers.get(p.id) !== p) return;
    const cs = p.pc?.connectionState;
    if (cs === 'connected') return; // only its signaling dropped: the call goes on
    this.awayPeers.set(p.id, { info: { id: p.id, name: p.name, state: p.state, polite: p.polite } });
    this.removePeer(p, `${p.name} lost the connection`);
  }
  needAudioUnlock() {
    if (this.unlockShown) return;
    this.unlockShown = true;
    this.notice('Your browser blocked sound until you interact with the page.', [
      ['Turn on sound', () => { this.unlockAudio(); this.hideNotice(); }],
    ], 'info');
  }
  unlockAudio() {
    for (const p of this.peers.values()) p.audio.play().catch(() => {});
    if (this.audioCtx && this.audioCtx.state === 'suspended') this.audioCtx.resume().catch(() => {});
  }

  onData(peer, msg) {
    switch (msg.t) {
      case 'chat':
        if (typeof msg.text === 'string') this.addChat(peer.name, msg.text.slice(0, 2000));
        break;
      case 'bye':
        peer.bye = true;
        this.removePeer(peer);
        break;
      case 'rebind':
        // The peer lost its signaling session and has a new id: keep this connection for it.
        if (typeof msg.peerId === 'string' && msg.peerId) {
          this.aliases.set(msg.peerId, peer);
          const d = this.deferred.get(msg.peerId);
          if (d) this.resolveDeferred(msg.peerId);
        }
        break;
      case 'closed':
        // Nothing here closes the channel but closing the connection, so the other
        // side closed its page or call: do not wait for the server's peer-left (it
        // comes only after the resume window).
        this.removePeer(peer);
        break;
    }
  }

  // --- start ---
  async start() {
    document.title = `${room || 'No such room'} · rtcd`;
    $('room-title').textContent = room || 'Not a room link';
    $('grid').append(this.self.tile);
    new ResizeObserver(() => this.layout()).observe($('grid'));
    this.layout();
    this.bindControls();
    $('policy').textContent = (forceRelay ? 'relay only (TURN), your address stays hidden' : 'direct when possible, relay otherwise') +
      (onlyTransport ? `; relay over ${onlyTransport.toUpperCase()} only` : '');
    if (!room) {
      this.setCall('invalid');
      let why = 'This link does not name a valid room.';
      if (!linkRoom) why = 'This link has no room name.';
      else if ([...linkRoom].length > 64) why = 'The room name in this link is too long (at most 64 characters).';
      this.noticeKind = 'invalid_room';
      this.notice(`${why} Room names use letters and digits of any language, dots, dashes and underscores, without spaces.`,
        [['Go to the start page', '/']], 'error');
      return;
    }
    this.sig.addEventListener('status', (e) => this.onSigStatus(e.detail));
    this.sig.addEventListener('fatal', (e) => this.onFatal(e.detail));
    this.sig.addEventListener('open', (e) => this.onHello(e.detail));
    this.sig.addEventListener('message', (e) => this.onMessage(e.detail));
    this.mediaReady = this.acquireMedia();
    this.sig.connect();
    setInterval(() => this.statsTick(), 1000);
    setInterval(() => this.levelTick(), 150);
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.fillDevices());
    window.addEventListener('pagehide', () => this.leave(true));
  }

  // acquireMedia gets camera and microphone; on failure it asks the user what to do
  // and resolves once there is an answer (audio only, viewer, or a retry that works).
  async acquireMedia() {
    if (params.get('viewer') === '1') { // join without camera or microphone
      this.state.audio = false;
      this.state.video = false;
      this.applyMediaState();
      return;
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      this.notice('This page needs a secure (https) address to use the camera and microphone. You joined as a viewer.', [], 'error');
      this.applyMediaState();
      return;
    }
    for (;;) {
      try {
        const s = await navigator.mediaDevices.getUserMedia(this.constraints(true, true));
        this.setMic(s.getAudioTracks()[0] || null);
        this.setCam(s.getVideoTracks()[0] || null);
        this.hideNoticeIf('media');
        break;
      } catch (err) {
        if (err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError')) {
          // No camera (or none that fits): go on with the microphone alone if there is one.
          try {
            const s = await navigator.mediaDevices.getUserMedia(this.constraints(true, false));
            this.setMic(s.getAudioTracks()[0] || null);
            this.notice('No camera was found: you joined with your microphone only.', [['Dismiss', () => this.hideNotice()]], 'info');
            break;
          } catch (e2) {
            this.log('microphone alone failed too', e2);
          }
        }
        const choice = await this.askMediaFallback(err);
        if (choice === 'retry') continue;
        this.hideNoticeIf('media');
        if (choice === 'audio') {
          try {
            const s = await navigator.mediaDevices.getUserMedia(this.constraints(true, false));
            this.setMic(s.getAudioTracks()[0] || null);
          } catch (e2) {
            this.log('audio only failed', e2);
            this.notice('The microphone is not available either. You joined as a viewer.', [], 'info');
          }
        }
        break;
      }
    }
    this.state.audio = !!this.mic;
    this.state.video = !!this.cam;
    this.applyMediaState();
    this.fillDevices();
  }

  askMediaFallback(err) {
    const name = err && err.name;
    let text;
    if (name === 'NotAllowedError' || name === 'SecurityError') text = 'Camera and microphone access was denied. Allow it in the browser\'s address bar and try again, or join without them.';
    else if (name === 'NotFoundError' || name === 'OverconstrainedError') text = 'No camera or microphone was found. Plug one in and try again, or join as a viewer.';
    else text = mediaErrorText(err);
    return new Promise((resolve) => {
      this.noticeKind = 'media';
      this.notice(text, [
        ['Try again', () => resolve('retry')],
        ['Microphone only', () => resolve('audio')],
        ['Join as viewer', () => resolve('viewer')],
      ], 'error', errDetail(err));
    });
  }

  constraints(audio, video) {
    const mic = stored(STORE_MIC);
    const cam = stored(STORE_CAM);
    return {
      audio: audio ? (mic ? { deviceId: { ideal: mic }, echoCancellation: true, noiseSuppression: true } : { echoCancellation: true, noiseSuppression: true }) : false,
      video: video ? { ...(cam ? { deviceId: { ideal: cam } } : {}), width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } } : false,
    };
  }

  setMic(track) {
    if (this.mic && this.mic !== track) { this.stream.removeTrack(this.mic); this.mic.stop(); }
    this.mic = track;
    if (track) {
      track.enabled = this.state.audio !== false;
      this.stream.addTrack(track);
      this.watchLevel(this.self.tile, track);
    }
    this.pushTrack('audio');
  }

  setCam(track) {
    if (this.cam && this.cam !== track) { this.stream.removeTrack(this.cam); this.cam.stop(); }
    this.cam = track;
    if (track && !this.screen) this.stream.addTrack(track);
    this.pushTrack('video');
  }

  pushTrack(kind) {
    const track = this.sendTrack(kind);
    // An element fed an empty stream would delay the page's load event forever.
    const v = this.self.video;
    const want = this.stream.getVideoTracks().length ? this.stream : null;
    if (v.srcObject !== want) v.srcObject = want;
    for (const p of this.peers.values()) {
      if (!p.pc) continue;
      for (const tr of p.pc.getTransceivers()) {
        if (tr.receiver.track.kind === kind && !tr.stopped && tr.sender.track !== track) {
          tr.sender.replaceTrack(track).then(() => this.tuneSenders()).catch((e) => this.log('replaceTrack', e));
        }
      }
    }
  }

  applyMediaState() {
    const t = this.self.tile;
    t.dataset.audio = String(!!this.state.audio);
    t.dataset.video = String(!!(this.state.video || this.state.screen));
    t.classList.toggle('screen', !!this.state.screen);
    // The label says what a press does; no aria-pressed besides (a screen
    // reader would read "Unmute, pressed").
    $('btn-mic').dataset.off = String(!this.state.audio);
    $('btn-mic').disabled = !this.mic;
    $('btn-cam').dataset.off = String(!this.state.video);
    $('btn-screen').dataset.on = String(!!this.state.screen);
    $('btn-mic').querySelector('.lbl').textContent = this.state.audio ? 'Mute' : 'Unmute';
    $('btn-cam').querySelector('.lbl').textContent = this.state.video ? 'Stop video' : 'Start video';
    $('btn-screen').querySelector('.lbl').textContent = this.state.screen ? 'Stop sharing' : 'Share screen';
    this.syncTitles();
    if (this.inRoom) this.sig.send({ type: 'update', state: { ...this.state } });
  }

  // --- signaling ---
  onSigStatus({ state, delay, reason, detail }) {
    document.body.dataset.signal = state;
    if (state === 'connected') { if (this.unreachable) { this.unreachable = false; this.hideNoticeIf('unreachable'); } }
    else if (state === 'reconnecting') {
      this.inRoom = '';
      if (this.call === 'joined') this.setCall('joining');
      if (delay && this.sig.attempt >= 3) {
        this.unreachable = true;
        this.noticeKind = 'unreachable';
        this.notice(`Cannot reach the rtcd server: ${reason || 'it does not answer'}. Calls already running keep going, and the page keeps trying by itself.`, [
          ['Retry now', () => this.sig.retryNow()],
        ], 'info', detail);
      }
    }
    this.renderPill(delay);
  }

  // setCall records what happened to our place in the room; the pill and
  // body[data-call] follow it.
  setCall(state, refusal = '') {
    this.call = state;
    this.refusal = refusal;
    document.body.dataset.call = state;
    this.renderPill();
    this.renderAlone();
  }

  // renderPill makes the header pill say what is true now: a refusal or a
  // departure wins over the state of the signaling socket.
  renderPill(delay) {
    const sig = document.body.dataset.signal;
    let text;
    if (this.call === 'invalid') text = 'Not a room';
    else if (this.call === 'left') text = 'Left';
    else if (this.call === 'refused') text = this.refusal || 'Not admitted';
    else if (sig === 'closed') text = 'Disconnected';
    else if (sig === 'reconnecting') text = delay ? `Reconnecting in ${Math.ceil(delay / 1000)} s…` : 'Reconnecting…';
    else if (sig === 'connecting') text = 'Connecting…';
    else text = this.call === 'joined' ? 'Connected' : 'Joining…';
    const pill = $('conn');
    pill.textContent = text;
    pill.dataset.state = this.call === 'joined' && sig === 'connected' ? 'ok'
      : (this.call === 'refused' || this.call === 'invalid' || sig === 'closed') ? 'bad' : this.call === 'left' ? 'off' : 'wait';
  }

  // releaseMedia stops the camera and microphone (their lights go off) while
  // we are not in a call; acquireMedia starts them again.
  releaseMedia() {
    for (const t of [this.mic, this.cam, this.screen]) if (t) { this.stream.removeTrack(t); t.stop(); }
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.state.screen = false;
    this.self.video.srcObject = null;
    this.self.tile.dataset.video = 'false';
    this.unwatchLevel(this.self.tile);
  }

  onFatal({ code, message }) {
    this.setCall('refused', { token_expired: 'Invite expired', unauthorized: 'Invite needed', forbidden: 'Wrong room', throttled: 'Blocked for now' }[code] || 'Disconnected');
    this.releaseMedia();
    const texts = {
      token_expired: 'Your invite link has expired. Ask the person who invited you for a new one.',
      unauthorized: 'This server only lets people in with an invite link. Ask for one.',
      forbidden: 'Your invite link is for a different room.',
      throttled: 'Too many failed attempts from your network. Wait a few minutes and try again.',
      unsupported_version: 'This page is out of date. Reload it.',
    };
    this.notice(texts[code] || 'The server ended this call.', [
      ['Reload', () => location.reload()], ['Go to the start page', '/'],
    ], 'error', message);
  }

  async onHello(hello) {
    this.iceServers = Array.isArray(hello.iceServers) ? hello.iceServers : [];
    this.applyIce();
    document.body.dataset.selfId = hello.peerId;
    if (hello.resumed) {
      this.inRoom = hello.room || room;
      this.reconcile(hello.peers || []);
      this.applyMediaState(); // re-announce our state
      return;
    }
    if (this.hadSession && this.peers.size) {
      // A new session after a lost one: keep connections that still carry media and
      // tell those peers our new id, so they can match us when we join again.
      for (const p of [...this.peers.values()]) {
        if (!p.pc || p.pc.connectionState !== 'connected') { this.removePeer(p); continue; }
        if (!p.orphan) {
          this.peers.delete(p.id);
          p.orphan = true;
          p.oldId = p.id;
          this.peers.set(`old:${p.id}`, p);
          p.setId(`old:${p.id}`);
          setTimeout(() => { if (p.orphan) this.removePeer(p); }, 20000);
        }
        p.sendData({ t: 'rebind', peerId: hello.peerId });
      }
    }
    this.hadSession = true;
    await this.mediaReady;
    if (this.sig.peerId !== hello.peerId || this.left) return; // superseded meanwhile
    this.join();
  }

  async join() {
    try {
      const reply = await this.sig.request({ type: 'join', room });
      this.inRoom = reply.room || room;
      this.hideNoticeIf('room_full');
      this.setCall('joined');
      for (const info of reply.peers || []) this.admit(info, true);
      this.applyMediaState();
    } catch (err) {
      if (err.code === 'room_full') {
        this.setCall('refused', 'Room full');
        this.releaseMedia();
        this.noticeKind = 'room_full';
        this.notice(`This room is full (${this.sig.hello?.limits?.roomSize || 6} people). Try again later or pick another room.`, [
          ['Try again', () => this.retryJoin()], ['Go to the start page', '/'],
        ], 'error');
      } else if (err.code === 'forbidden' || err.code === 'token_expired' || err.code === 'unauthorized') {
        this.onFatal({ code: err.code, message: err.message });
      } else if (err.code === 'already_joined') {
        this.inRoom = room;
        this.setCall('joined');
      } else {
        this.log('join failed', err);
      }
    }
  }

  // retryJoin starts the camera and microphone again and asks for a place.
  async retryJoin() {
    this.hideNotice();
    this.setCall('joining');
    this.mediaReady = this.acquireMedia();
    await this.mediaReady;
    if (!this.left) this.join();
  }

  onMessage(msg) {
    switch (msg.type) {
      case 'peer-joined':
        if (msg.peer?.id) this.admit(msg.peer, false);
        break;
      case 'peer-left': {
        this.awayPeers.delete(msg.peer?.id);
        const p = this.peers.get(msg.peer?.id);
        if (!p) break;
        if (!p.bye && p.pc && p.pc.connectionState === 'connected' && p.dc?.readyState === 'open') {
          // Its session ended but media still flows: it may be back with a new id.
          this.peers.delete(p.id);
          p.orphan = true;
          this.peers.set(`old:${p.id}`, p);
          p.setId(`old:${p.id}`);
          setTimeout(() => { if (p.orphan) this.removePeer(p); }, 15000);
        } else {
          this.removePeer(p);
        }
        break;
      }
      case 'peer-updated': {
        const id = msg.peer?.id;
        const p = this.peers.get(id);
        if (p) {
          p.update({ name: msg.peer.name, state: msg.peer.state, away: !!msg.peer.away });
          this.dropIfGone(p);
        } else if (!msg.peer?.away && this.awayPeers.has(id)) {
          // Back after we dropped its tile: a new connection, offered by us.
          const { info } = this.awayPeers.get(id);
          this.awayPeers.delete(id);
          this.admit({ ...info, ...msg.peer }, true);
        }
        break;
      }
      case 'signal': {
        const p = this.peers.get(msg.from) || this.claimDeferred(msg.from);
        if (p) p.onSignal(msg.kind, msg.data);
        break;
      }
      case 'ice':
        if (Array.isArray(msg.iceServers)) { this.iceServers = msg.iceServers; this.applyIce(); }
        break;
      case 'session-lost':
        this.inRoom = '';
        this.awayPeers.clear();
        break;
      case 'error':
        this.log('server error', msg.code, msg.message);
        break;
    }
  }

  // admit handles a peer from joined/peer-joined/resume: an existing orphan that
  // told us its new id is kept; otherwise a new Peer is made. initiator: we offer.
  admit(info, initiator) {
    if (info.id === this.sig.peerId) return;
    const known = this.peers.get(info.id);
    if (known) { known.update({ ...info, away: !!info.away }); this.dropIfGone(known); return; }
    if (info.away) {
      // Its browser or network is gone for now: no tile until it is back.
      this.awayPeers.set(info.id, { info });
      return;
    }
    if (this.aliases.has(info.id)) { this.adopt(info); return; }
    const waiting = [...this.peers.values()].some((p) => p.orphan && p.dc?.readyState === 'open' && p.pc?.connectionState === 'connected');
    if (waiting) {
      // An orphan may still announce this id over its data channel; wait briefly.
      const timer = setTimeout(() => this.resolveDeferred(info.id), 1500);
      this.deferred.set(info.id, { info, initiator, timer });
      return;
    }
    this.addPeer(info, initiator);
  }

  resolveDeferred(id) {
    const d = this.deferred.get(id);
    if (!d) return null;
    clearTimeout(d.timer);
    this.deferred.delete(id);
    if (this.aliases.has(id)) return this.adopt(d.info);
    // No rebind arrived over a data channel that claims to be open: an orphan of
    // the same name is most likely this very person on a dead path (its relay
    // went away with the old daemon), so replace it now rather than when it times out.
    for (const p of [...this.peers.values()]) {
      if (p.orphan && p.name === d.info.name) this.removePeer(p);
    }
    return this.addPeer(d.info, d.initiator);
  }

  claimDeferred(id) { return this.deferred.has(id) ? this.resolveDeferred(id) : null; }

  adopt(info) {
    const p = this.aliases.get(info.id);
    this.aliases.delete(info.id);
    this.peers.delete(p.id);
    p.orphan = false;
    p.setId(info.id);
    p.update(info);
    this.peers.set(info.id, p);
    this.log('kept connection across sessions', info.id);
    if (p.pc && p.pc.connectionState !== 'connected') p.restart('adopted while not connected');
    return p;
  }

  addPeer(info, initiator) {
    const p = new Peer(this, info);
    this.peers.set(p.id, p);
    $('grid').append(p.tile);
    this.layout();
    if (initiator) p.ensurePC(true);
    else {
      // The joiner offers (docs/protocol.md §3.4); if no offer comes, offer ourselves.
      p.offerTimer = setTimeout(() => { if (!p.pc && this.peers.get(p.id) === p) p.ensurePC(true); }, 4000);
    }
    this.addChatSys(`${p.name} joined`);
    this.renderAlone();
    return p;
  }

  // tuneSenders shares our upstream between the mesh's connections: every peer
  // gets its own encode, so with more peers each one is smaller and cheaper.
  tuneSenders() {
    const n = [...this.peers.values()].filter((p) => !p.orphan).length;
    const screen = !!this.screen;
    const scale = screen || n < 3 ? 1 : n < 5 ? 1.5 : 2;
    const maxBitrate = screen ? 1_500_000 : n <= 1 ? 1_200_000 : n === 2 ? 800_000 : n <= 4 ? 450_000 : 300_000;
    for (const p of this.peers.values()) {
      if (!p.pc) continue;
      for (const sender of p.pc.getSenders()) {
        if (!sender.track || sender.track.kind !== 'video') continue;
        const params = sender.getParameters();
        if (!params.encodings || !params.encodings.length) continue;
        const e = params.encodings[0];
        if (e.maxBitrate === maxBitrate && (e.scaleResolutionDownBy || 1) === scale) continue;
        e.maxBitrate = maxBitrate;
        e.scaleResolutionDownBy = scale;
        sender.setParameters(params).catch((err) => this.log('setParameters', err));
      }
    }
  }

  removePeer(p, why = '') {
    if (this.peers.get(p.id) !== p) return;
    this.peers.delete(p.id);
    for (const [k, v] of this.aliases) if (v === p) this.aliases.delete(k);
    this.unwatchLevel(p.tile);
    p.close();
    this.layout();
    this.tuneSenders();
    this.addChatSys(why || `${p.name} left`);
    this.renderAlone();
  }

  // renderAlone shows "waiting for others" while we are alone in the room.
  renderAlone() {
    const others = [...this.peers.values()].some((p) => !p.orphan);
    $('alone').hidden = others || this.call !== 'joined';
  }

  reconcile(list) {
    const ids = new Set(list.map((i) => i.id));
    for (const id of [...this.awayPeers.keys()]) if (!ids.has(id)) this.awayPeers.delete(id);
    for (const p of [...this.peers.values()]) if (!p.orphan && !ids.has(p.id)) this.removePeer(p);
    for (const info of list) {
      const p = this.peers.get(info.id);
      if (p) {
        p.update(info);
        if (p.pc && p.pc.connectionState !== 'connected') p.restart('after resume');
      } else {
        this.admit(info, false);
      }
    }
  }

  servers() {
    const byTransport = ['udp', 'tcp', 'tls'].includes(onlyTransport);
    if (!byTransport && !onlyTurnPort) return this.iceServers;
    const keepTransport = (u) => {
      if (/^turns:/i.test(u)) return onlyTransport === 'tls';
      if (!/^turn:/i.test(u)) return false;
      const t = (/[?&]transport=(\w+)/i.exec(u)?.[1] || 'udp').toLowerCase();
      return t === onlyTransport;
    };
    const keepPort = (u) => /^turns?:/i.test(u) && /:(\d+)(\?|$)/.exec(u)?.[1] === onlyTurnPort;
    const keep = (u) => (!byTransport || keepTransport(u)) && (!onlyTurnPort || keepPort(u));
    return this.iceServers
      .map((s) => ({ ...s, urls: [].concat(s.urls).filter(keep) }))
      .filter((s) => s.urls.length);
  }

  applyIce() {
    for (const p of this.peers.values()) {
      if (!p.pc) continue;
      try { p.pc.setConfiguration({ ...p.pc.getConfiguration(), iceServers: this.servers() }); } catch (e) { this.log('setConfiguration', e); }
    }
  }

  // --- stats and levels ---
  async statsTick() {
    for (const p of this.peers.values()) {
      p.watchdog();
      this.refreshStats(p);
    }
  }

  async refreshStats(p) {
    let s;
    try { s = await p.stats(); } catch { return; }
    if (!s) return;
    const t = p.tile;
    const label = t.querySelector('.path');
    const cs = p.pc?.connectionState;
    if (s.local && s.remote && cs === 'connected') {
      const relayed = s.local.candidateType === 'relay' || s.remote.candidateType === 'relay';
      const path = relayed ? 'relay' : 'direct';
      let transport = s.local.protocol || '';
      if (s.local.candidateType === 'relay') transport = s.local.relayProtocol || 'udp';
      else if (relayed) transport = 'their relay';
      if (t.dataset.path !== path) t.dataset.path = path;
      t.dataset.transport = transport;
      if (s.rtt != null) t.dataset.rtt = String(s.rtt);
      const rtt = s.rtt != null ? ` · ${s.rtt} ms` : '';
      const waiting = p.state.video !== false && !s.framesDecoded;
      label.textContent = `${relayed ? 'Via relay' : 'Direct'}${rtt}${waiting ? ' · waiting for video' : ''}`;
      const how = !relayed ? `Your call with ${p.name} goes directly between your devices`
        : transport === 'their relay' ? `Your call with ${p.name} goes through their relay server`
          : `Your call with ${p.name} goes through the relay server (${transport === 'tls' ? 'TURN over TLS' : `TURN over ${transport.toUpperCase()}`})`;
      label.title = `${how}${s.rtt != null ? `, ${s.rtt} ms round trip` : ''}. Technical: local ${s.local.candidateType} ${s.local.protocol}, remote ${s.remote.candidateType}.`;
    } else {
      label.textContent = p.orphan || p.away || cs === 'disconnected' || cs === 'failed' ? 'Reconnecting…' : `Connecting to ${p.name}…`;
      label.title = cs === 'failed' ? 'The connection failed; trying again.' : '';
    }
  }

  watchLevel(tile, track) {
    try {
      if (!this.audioCtx) this.audioCtx = new AudioContext();
      this.unwatchLevel(tile);
      const src = this.audioCtx.createMediaStreamSource(new MediaStream([track]));
      const an = this.audioCtx.createAnalyser();
      an.fftSize = 512;
      src.connect(an);
      this.levels.set(tile, { src, an, buf: new Float32Array(an.fftSize), track, hold: 0 });
    } catch (e) { this.log('level meter', e); }
  }

  unwatchLevel(tile) {
    const m = this.levels.get(tile);
    if (!m) return;
    this.levels.delete(tile);
    try { m.src.disconnect(); } catch { /* already disconnected */ }
  }

  levelTick() {
    for (const [tile, m] of this.levels) {
      if (!tile.isConnected) { this.unwatchLevel(tile); continue; }
      m.an.getFloatTimeDomainData(m.buf);
      let sum = 0;
      for (const v of m.buf) sum += v * v;
      const rms = Math.sqrt(sum / m.buf.length);
      const muted = tile.dataset.audio === 'false' || m.track.readyState === 'ended';
      if (rms > 0.02 && !muted) m.hold = 4; else if (m.hold > 0) m.hold--;
      const speaking = m.hold > 0;
      if (tile.classList.contains('speaking') !== speaking) {
        tile.classList.toggle('speaking', speaking);
        tile.dataset.speaking = String(speaking);
      }
    }
  }

  // layout picks the column count that makes 4:3 tiles largest in the space
  // the grid has (so a phone in portrait stacks them, a wide screen lines them up).
  layout() {
    const grid = $('grid');
    const n = grid.querySelectorAll('.tile').length;
    grid.dataset.count = String(Math.min(n, 7));
    const W = grid.clientWidth - 16;
    const H = grid.clientHeight - 16;
    if (!n || W <= 0 || H <= 0) return;
    const gap = 8;
    let best = { w: 0, cols: 1 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const cw = (W - gap * (cols - 1)) / cols;
      const ch = (H - gap * (rows - 1)) / rows;
      const w = Math.min(cw, ch * 4 / 3);
      if (w > best.w) best = { w, cols };
    }
    grid.style.setProperty('--cols', String(best.cols));
    grid.style.setProperty('--tile-w', `${Math.floor(best.w)}px`);
  }

  // --- controls ---
  bindControls() {
    $('btn-mic').addEventListener('click', () => this.toggleMic());
    $('btn-cam').addEventListener('click', () => this.toggleCam());
    $('btn-screen').addEventListener('click', () => this.toggleScreen());
    $('btn-leave').addEventListener('click', () => this.leave(false));
    $('btn-chat').addEventListener('click', () => this.togglePanel('chat'));
    $('btn-settings').addEventListener('click', () => this.togglePanel('settings'));
    $('copy-link').addEventListener('click', () => this.share($('copy-link')));
    $('alone-share').addEventListener('click', () => this.share($('alone-share')));
    $('btn-help').addEventListener('click', () => this.openHelp());
    $('help-close').addEventListener('click', () => $('help').close());
    $('help').addEventListener('close', () => { (this.helpReturn || $('btn-help')).focus(); });
    $('shortcuts-on').checked = this.shortcutsOn;
    $('shortcuts-on').addEventListener('change', (e) => {
      this.shortcutsOn = e.target.checked;
      try { localStorage.setItem(STORE_KEYS, this.shortcutsOn ? 'on' : 'off'); } catch { /* storage off */ }
      this.syncTitles();
    });
    this.syncTitles();
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.left) return;
      const text = $('chat-input').value.trim();
      if (!text) return;
      let n = 0;
      for (const p of this.peers.values()) if (!p.orphan && p.sendData({ t: 'chat', text })) n++;
      this.addChat('You', text);
      if (this.peers.size && !n) this.addChatSys('Not delivered: nobody is connected yet.');
      $('chat-input').value = '';
    });
    $('cam-select').addEventListener('change', (e) => this.switchDevice('video', e.target.value));
    $('mic-select').addEventListener('change', (e) => this.switchDevice('audio', e.target.value));
    if (!navigator.mediaDevices?.getDisplayMedia) $('btn-screen').hidden = true; // phones
    document.addEventListener('keydown', (e) => {
      // Escape closes a panel wherever the focus is (the dialog closes itself).
      if (e.key === 'Escape' && !$('help').open) {
        if (this.closePanels()) e.preventDefault();
        return;
      }
      if (!this.shortcutsOn || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      if (e.target.closest('input, textarea, select, dialog, [contenteditable]')) return;
      const actions = { m: () => this.toggleMic(), v: () => this.toggleCam(), c: () => this.togglePanel('chat'), '?': () => this.openHelp() };
      const act = actions[e.key];
      if (!act || this.left) return;
      e.preventDefault(); // the key must not also land in the field that gets focus (chat)
      act();
    });
    document.addEventListener('click', () => this.unlockAudio(), { once: true });
  }

  // closePanels hides an open chat or devices panel and gives the focus back
  // to the button that opened it; false when none was open.
  closePanels() {
    let closed = null;
    for (const [panel, btn] of [['chat', 'btn-chat'], ['settings', 'btn-settings']]) {
      if (!$(panel).hidden) { $(panel).hidden = true; closed = btn; }
    }
    if (!closed) return false;
    this.syncPanelButtons();
    $(closed).focus();
    return true;
  }

  openHelp() {
    if ($('help').open) return;
    this.helpReturn = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
    $('help').showModal();
    $('shortcuts-on').focus();
  }

  // syncTitles puts the shortcut keys into the tooltips while they are on.
  syncTitles() {
    const base = {
      'btn-mic': this.state.audio ? 'Mute' : 'Unmute',
      'btn-cam': this.state.video ? 'Stop video' : 'Start video',
      'btn-chat': 'Chat',
    };
    for (const [id, text] of Object.entries(base)) {
      const key = $(id).dataset.key;
      $(id).title = this.shortcutsOn && key ? `${text} (${key})` : text;
    }
    $('btn-help').title = this.shortcutsOn ? 'Keyboard shortcuts (?)' : 'Keyboard shortcuts';
  }

  // share offers the room's link with the system share sheet where there is
  // one (phones), else copies it; the button says what happened.
  async share(btn) {
    const url = `${location.origin}/r/${encodeURIComponent(room)}`;
    const lbl = btn.querySelector('.lbl') || btn;
    const before = lbl.textContent;
    if (navigator.share) {
      try {
        await navigator.share({ title: `Join ${room}`, text: `Join the call "${room}"`, url });
        return;
      } catch (err) {
        if (err && err.name === 'AbortError') return; // the user closed the sheet
      }
    }
    const ok = await copyText(url);
    lbl.textContent = ok ? 'Link copied' : 'Copy this link from the address bar';
    $('announce').textContent = ok ? 'Invite link copied' : 'The link could not be copied';
    clearTimeout(btn.resetTimer);
    btn.resetTimer = setTimeout(() => { lbl.textContent = before; }, 2500);
  }

  togglePanel(which) {
    const panel = $(which);
    const other = $(which === 'chat' ? 'settings' : 'chat');
    panel.hidden = !panel.hidden;
    if (!panel.hidden) other.hidden = true;
    this.syncPanelButtons();
    if (!panel.hidden) {
      if (which === 'chat') { $('chat-input').focus(); $('chat-badge').hidden = true; this.unread = 0; }
      else { this.fillDevices(); $('cam-select').focus(); }
    }
  }

  syncPanelButtons() {
    $('btn-chat').setAttribute('aria-pressed', String(!$('chat').hidden));
    $('btn-settings').setAttribute('aria-pressed', String(!$('settings').hidden));
  }

  toggleMic() {
    if (!this.mic) return;
    this.state.audio = !this.state.audio;
    this.mic.enabled = this.state.audio;
    this.applyMediaState();
  }

  async toggleCam() {
    if (this.state.video) {
      this.state.video = false;
      // Stop the camera (its light goes off); the senders send nothing meanwhile.
      if (this.cam) { this.stream.removeTrack(this.cam); this.cam.stop(); this.cam = null; }
      this.pushTrack('video');
      this.applyMediaState();
      return;
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia(this.constraints(false, true));
      this.state.video = true;
      this.setCam(s.getVideoTracks()[0]);
      this.applyMediaState();
    } catch (err) {
      this.notice(mediaErrorText(err), [['Dismiss', () => this.hideNotice()]], 'error', errDetail(err));
    }
  }

  async toggleScreen() {
    if (this.screen) { this.stopScreen(); return; }
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch (err) {
      if (err.name !== 'NotAllowedError') this.notice('Screen sharing could not start.', [['Dismiss', () => this.hideNotice()]], 'error', errDetail(err));
      return;
    }
    const track = s.getVideoTracks()[0];
    if (!track) return;
    this.screen = track;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => this.stopScreen());
    if (this.cam) this.stream.removeTrack(this.cam);
    this.stream.addTrack(track);
    this.state.screen = true;
    this.pushTrack('video');
    this.applyMediaState();
  }

  stopScreen() {
    if (!this.screen) return;
    const track = this.screen;
    this.screen = null;
    this.stream.removeTrack(track);
    track.stop();
    if (this.cam) this.stream.addTrack(this.cam); // back to the camera
    this.state.screen = false;
    this.pushTrack('video');
    this.applyMediaState();
  }

  async fillDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    let devs;
    try { devs = await navigator.mediaDevices.enumerateDevices(); } catch { return; }
    const fill = (sel, kind, current) => {
      sel.replaceChildren();
      let i = 0;
      for (const d of devs.filter((x) => x.kind === kind)) {
        i++;
        const o = el('option', { value: d.deviceId, text: d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i}` });
        if (current && d.deviceId === current) o.selected = true;
        sel.append(o);
      }
      if (!i) sel.append(el('option', { value: '', text: 'None found' }));
    };
    fill($('cam-select'), 'videoinput', this.cam?.getSettings().deviceId);
    fill($('mic-select'), 'audioinput', this.mic?.getSettings().deviceId);
  }

  async switchDevice(kind, deviceId) {
    try { localStorage.setItem(kind === 'video' ? STORE_CAM : STORE_MIC, deviceId); } catch { /* storage off */ }
    if (kind === 'video' && !this.state.video) return; // used when the camera is turned on again
    try {
      const c = kind === 'video'
        ? { video: { deviceId: { exact: deviceId }, width: { ideal: 640 }, height: { ideal: 480 } } }
        : { audio: { deviceId: { exact: deviceId }, echoCancellation: true, noiseSuppression: true } };
      const s = await navigator.mediaDevices.getUserMedia(c);
      if (kind === 'video') this.setCam(s.getVideoTracks()[0]);
      else this.setMic(s.getAudioTracks()[0]);
      this.applyMediaState();
    } catch (err) {
      this.notice(mediaErrorText(err, kind === 'video' ? 'camera' : 'microphone'), [['Dismiss', () => this.hideNotice()]], 'error', errDetail(err));
    }
  }

  leave(unloading) {
    if (this.left) return;
    this.left = true;
    for (const p of this.peers.values()) { p.sendData({ t: 'bye' }); }
    this.sig.close();
    for (const p of [...this.peers.values()]) p.close();
    this.peers.clear();
    this.awayPeers.clear();
    this.releaseMedia();
    if (unloading) return;
    document.body.dataset.signal = 'closed';
    this.setCall('left');
    this.closePanels();
    $('chat-input').disabled = true;
    $('chat-input').placeholder = 'You left the call';
    $('chat-form').querySelector('button').disabled = true;
    this.layout();
    this.notice('You left the call.', [
      ['Rejoin', () => location.reload()], ['Go to the start page', '/'],
    ], 'info');
    $('controls').hidden = true;
  }

  // --- chat and notices ---
  addChat(who, text) {
    const li = el('li', {}, el('span', { class: 'who', text: `${who}:` }), document.createTextNode(text));
    $('chat-log').append(li);
    li.scrollIntoView({ block: 'end' });
    if ($('chat').hidden && who !== 'You') {
      this.unread = (this.unread || 0) + 1;
      $('chat-badge').textContent = String(this.unread);
      $('chat-badge').hidden = false;
    }
  }

  // addChatSys notes presence in the chat log and tells screen readers, which
  // would not hear the log while the chat panel is closed.
  addChatSys(text) {
    $('chat-log').append(el('li', { class: 'sys', text }));
    $('announce').textContent = text;
  }

  // notice shows a plain sentence with actions: [label, function] for a
  // button, [label, '/path'] for a link. detail (technical words, an error
  // name) is only a tooltip.
  notice(text, actions = [], kind = 'info', detail = '') {
    const n = $('notice');
    n.className = `notice ${kind}`;
    n.dataset.kind = this.noticeKind || kind;
    this.noticeKind = '';
    $('notice-text').textContent = text;
    $('notice-text').title = detail || '';
    const box = $('notice-actions');
    box.replaceChildren();
    for (const [label, act] of actions) {
      let b;
      if (typeof act === 'string') {
        b = el('a', { class: 'button secondary', href: act, text: label });
      } else {
        b = el('button', { type: 'button', class: 'secondary', text: label });
        b.addEventListener('click', act);
      }
      box.append(b);
    }
    n.hidden = false;
    const first = box.querySelector('button, a');
    if (first && kind === 'error') first.focus();
  }

  hideNotice() { $('notice').hidden = true; }
  hideNoticeIf(kind) { if ($('notice').dataset.kind === kind) this.hideNotice(); }
}

const call = new Call();
// Exposed for debugging from the console and for the end-to-end tests.
window.rtcd = call;
call.start();
