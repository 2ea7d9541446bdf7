// The call's transport as the page sees it: it follows the session and hands
// participants and signals to the transport of the room's media mode, the
// mesh (mesh.js) or the media server (sfu.js). joined.media names the mode
// (no media: the mesh), and a media message moves a running call from the
// mesh to the server make-before-break: the server connection starts while
// the mesh connections go on, and the mesh closes once every participant's
// media arrives through the server, or after 10 s. The tiles (views.js) stay
// the same elements throughout; only their media source changes.
//
// It has the methods of the transport interface the page uses (transport.js:
// publish, sendChat, leave, close, tick, peers, others, snapshot, stats,
// metrics), re-emits its transports' events (peer-added and peer-removed once
// per tile), and adds:
//   mode                     the current media mode (MEDIA.*)
//   transports()             the modes of the transports open now (two while switching)
//   speaker                  the dominant speaker's peer id the server named, or ''
//   'mode'    {detail: {mode}}         the media mode changed
//   'speaker' {detail: {id, peer}}     the server's dominant speaker (peer null: not a remote one)
import { MSG, MEDIA, SFU_PEER, mediaMode } from './protocol.js';
import { Mesh } from './mesh.js';
import { Sfu } from './sfu.js';
import { Views } from './views.js';

const SWITCH_MS = 10000;
const EVENTS = ['peer-added', 'peer-removed', 'track', 'chat', 'audio-blocked', 'speaker'];

export class Switcher extends EventTarget {
  // opts: {session, stream, relayOnly, ice} as for a transport; tile(info) makes a Tile.
  constructor({ tile, ...opts }) {
    super();
    this.opts = opts;
    this.views = new Views(tile);
    this.modeOf = new WeakMap(); // transport -> its media mode
    this.iceServers = [];
    this.sending = { audio: null, video: null };
    this.screen = false;
    this.roster = new Map();  // peer id -> info: the room's other participants
    this.mode = MEDIA.mesh;
    this.speaker = '';
    this.old = null;          // the mesh being replaced, until the server carries the call
    this.oldSince = 0;
    this.past = { firstConnectedMs: 0, iceRestarts: 0 }; // the metrics of closed transports
    this.current = this.make(MEDIA.mesh);
    this.views.setPrimary(MEDIA.mesh);
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  make(mode) {
    const T = mode === MEDIA.sfu ? Sfu : Mesh;
    const t = new T({ ...this.opts, view: this.views.factory(mode) });
    this.modeOf.set(t, mode);
    t.setIceServers(this.iceServers);
    for (const kind of ['audio', 'video']) t.publish(kind, this.sending[kind], { screen: this.screen });
    for (const type of EVENTS) t.addEventListener(type, (e) => this.forward(t, type, e.detail));
    return t;
  }

  forward(t, type, detail) {
    if (type === 'peer-added' && detail.peer.view.shared) return; // its tile is already shown
    if (type === 'peer-removed' && !detail.peer.view.gone) return; // its tile stays, fed by the other transport
    if (type === 'speaker') this.speaker = detail.id;
    this.emit(type, detail);
  }

  // follow feeds the transports the session's participants and signals.
  follow(session) {
    session.addEventListener('ice', (e) => { this.iceServers = e.detail.iceServers; for (const t of this.all()) t.setIceServers(this.iceServers); });
    session.addEventListener('renew', (e) => { this.finish(); this.current.renew(e.detail.peerId); });
    session.addEventListener('resumed', (e) => this.onResumed(e.detail.peers));
    session.addEventListener('joined', (e) => this.onJoined(e.detail));
    session.addEventListener('message', ({ detail: msg }) => this.onMessage(msg));
  }

  all() { return this.old ? [this.current, this.old] : [this.current]; }
  transports() { return this.all().map((t) => this.modeOf.get(t)); }

  onJoined({ peers, media }) {
    this.finish(); // a half-done switch does not outlive its session
    this.roster = new Map(peers.map((info) => [info.id, info]));
    this.setMode(mediaMode(media));
    this.current.start();
    if (this.mode === MEDIA.sfu) this.current.syncPeers(peers);
    else for (const info of peers) this.current.addPeer(info, { initiator: true });
  }

  // onResumed: the same session is back; a switch under way goes on, and the
  // mesh being replaced only drops whoever is gone.
  onResumed(peers) {
    this.roster = new Map(peers.map((info) => [info.id, info]));
    this.current.syncPeers(peers);
    if (!this.old) return;
    for (const p of [...this.old.peers()]) if (!p.orphan && !this.roster.has(p.id)) this.old.removePeer(p.id);
  }

  onMessage(msg) {
    switch (msg.type) {
      case MSG.media:
        this.setMode(mediaMode(msg.mode));
        this.current.start();
        for (const info of this.roster.values()) this.current.addPeer(info, { initiator: true });
        break;
      case MSG.peerJoined:
        if (!msg.peer?.id) break;
        this.roster.set(msg.peer.id, msg.peer);
        this.current.addPeer(msg.peer, { initiator: false });
        break;
      case MSG.peerLeft:
        this.roster.delete(msg.peer?.id);
        for (const t of this.all()) t.removePeer(msg.peer?.id);
        break;
      case MSG.peerUpdated:
        if (msg.peer?.id && this.roster.has(msg.peer.id)) this.roster.set(msg.peer.id, { ...this.roster.get(msg.peer.id), ...msg.peer });
        for (const t of this.all()) t.updatePeer(msg.peer);
        break;
      case MSG.signal: {
        const t = this.all().find((x) => (msg.from === SFU_PEER) === (this.modeOf.get(x) === MEDIA.sfu));
        if (t) t.receive(msg.from, msg.kind, msg.data);
        break;
      }
      case MSG.sessionLost:
        for (const t of this.all()) t.sessionLost();
        break;
    }
  }

  // setMode moves the call to the transport of mode. Towards the media
  // server a running mesh is kept until the server carries the call (finish);
  // anything else closes the transport before at once.
  setMode(mode) {
    if (mode === this.mode) return;
    const before = this.current;
    this.finish();
    this.mode = mode;
    this.current = this.make(mode);
    this.views.setPrimary(mode);
    if (mode === MEDIA.sfu && before.others()) {
      this.old = before;
      this.oldSince = performance.now();
    } else {
      this.closeOld(before);
    }
    this.emit('mode', { mode });
  }

  // finish ends a switch: the transport being replaced is closed.
  finish() {
    if (!this.old) return;
    const old = this.old;
    this.old = null;
    this.closeOld(old);
  }

  closeOld(t) {
    const peers = [...t.peers()];
    this.past = this.sum([this.past, t.metrics]);
    t.close();
    for (const peer of peers) if (peer.view.gone) this.emit('peer-removed', { peer, why: '' });
  }

  // --- the transport interface the page uses ---
  publish(kind, track, { screen = false } = {}) {
    this.sending[kind] = track;
    this.screen = screen;
    for (const t of this.all()) t.publish(kind, track, { screen });
  }

  sendChat(text) {
    const r = this.current.sendChat(text);
    if (r.delivered || !this.old) return r;
    return this.old.sendChat(text); // the server's channel is not open yet
  }

  leave() { for (const t of this.all()) t.leave(); }
  close() { for (const t of this.all()) t.close(); this.old = null; }

  tick() {
    for (const t of this.all()) t.tick();
    if (this.old && (this.current.ready() || performance.now() - this.oldSince > SWITCH_MS)) this.finish();
  }

  peers() { return this.all().flatMap((t) => [...t.peers()]); }
  others() { return this.all().some((t) => t.others()); }

  // snapshot and stats: per participant, from the transport whose media its tile shows.
  snapshot() { return this.bySource((t) => t.snapshot()); }
  async stats() {
    const lists = await Promise.all(this.all().map((t) => t.stats()));
    return this.bySource((t) => lists[this.all().indexOf(t)]);
  }

  // sent: what we publish to the media server (sfu.js), [] in a mesh.
  async sent() { return this.current.sent ? this.current.sent() : []; }

  bySource(listOf) {
    const out = new Map();
    for (const t of this.all()) {
      const peers = new Map([...t.peers()].map((p) => [p.id, p]));
      for (const row of listOf(t)) {
        const p = peers.get(row.id);
        if (!out.has(row.id) || p?.view.source) out.set(row.id, row);
      }
    }
    return [...out.values()];
  }

  get metrics() { return this.sum([this.past, ...this.all().map((t) => t.metrics)]); }

  // sum merges transports' metrics: the earliest first connection, all ICE restarts.
  sum(ms) {
    const first = ms.map((m) => m.firstConnectedMs).filter(Boolean);
    return { firstConnectedMs: first.length ? Math.min(...first) : 0, iceRestarts: ms.reduce((n, m) => n + (m.iceRestarts || 0), 0) };
  }
}
