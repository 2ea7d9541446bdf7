// The mesh transport (the interface is in transport.js): one Peer
// (peer.js) per other participant, each with its own RTCPeerConnection.
// It keeps a call running across a lost signaling session: a connection
// that still carries media is an "orphan" under old:<id> until the peer
// tells its new id over the data channel ('rebind'), and a peer whose
// signaling is away and whose media is down is dropped until it is back.
import { Peer } from './peer.js';
import { MSG, DATA, chatText } from './protocol.js';
import { pickIceServers, linkOf } from './transport.js';
import { statsRow } from './rtcstats.js';

export class Mesh extends EventTarget {
  constructor({ session, stream, view, relayOnly = false, ice = {} }) {
    super();
    this.session = session;
    this.stream = stream;        // the MediaStream our senders are associated with
    this.view = view;            // info -> a peer's view
    this.relayOnly = relayOnly;
    this.ice = ice;              // {transport, port}: pickIceServers' filter
    this.iceServers = [];
    this.sending = { audio: null, video: null };
    this.screen = false;         // the video we send is a screen
    this.map = new Map();        // peerId -> Peer (including orphans under their old id)
    this.aliases = new Map();    // new peerId -> orphaned Peer, learnt from 'rebind' over the data channel
    this.deferred = new Map();   // new peerId -> {info, initiator, timer}: waiting to see if it is an orphan
    this.awayPeers = new Map();  // peerId -> {info}: away on the server and without media, tile removed
    this.metrics = { firstConnectedMs: 0, iceRestarts: 0 };
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  log(...args) { console.info('[rtcd]', ...args); }
  peers() { return this.map.values(); }
  others() { return [...this.map.values()].some((p) => !p.orphan); }
  ready() { return [...this.map.values()].every((p) => p.conn === 'connected'); }
  start() {} // every connection starts with its peer

  // --- hooks used by Peer ---
  rtcConfig() {
    const cfg = { iceServers: this.servers(), bundlePolicy: 'max-bundle' };
    if (this.relayOnly) cfg.iceTransportPolicy = 'relay';
    return cfg;
  }
  servers() { return pickIceServers(this.iceServers, this.ice); }
  localStream() { return this.stream; }
  sendTrack(kind) { return this.sending[kind]; }
  signal(peer, kind, data) { this.session.send({ type: MSG.signal, to: peer.id, kind, data }); }
  onTrack(peer, track) { this.emit('track', { peer, track }); }
  needAudioUnlock() { this.emit('audio-blocked'); }
  onState(peer) {
    if (peer.conn === 'connected') this.tuneSenders();
    if (peer.conn === 'connected' && !this.metrics.firstConnectedMs) {
      this.metrics.firstConnectedMs = Math.round(performance.now()); // since navigation start
    }
    // An orphan can only be matched again over its data channel, so once its
    // connection is not up any more it is gone for good.
    if (peer.orphan && peer.pc && peer.pc.connectionState !== 'connected') this.drop(peer);
    this.dropIfGone(peer);
  }

  onData(peer, msg) {
    switch (msg.t) {
      case DATA.chat: {
        const text = chatText(msg);
        if (text !== null) this.emit('chat', { peer, text });
        break;
      }
      case DATA.bye:
        peer.bye = true;
        this.drop(peer);
        break;
      case DATA.rebind:
        // The peer lost its signaling session and has a new id: keep this connection for it.
        if (typeof msg.peerId === 'string' && msg.peerId) {
          this.aliases.set(msg.peerId, peer);
          if (this.deferred.get(msg.peerId)) this.resolveDeferred(msg.peerId);
        }
        break;
      case 'closed':
        // Nothing here closes the channel but closing the connection, so the other
        // side closed its page or call: do not wait for the server's peer-left (it
        // comes only after the resume window).
        this.drop(peer);
        break;
    }
  }

  // dropIfGone removes a peer whose signaling is away and whose media is
  // down too: its browser or network is gone. It comes back as a new peer if
  // its session resumes (peer-updated without away).
  dropIfGone(p) {
    if (!p.away || p.orphan || this.map.get(p.id) !== p) return;
    if (p.pc?.connectionState === 'connected') return; // only its signaling dropped: the call goes on
    this.awayPeers.set(p.id, { info: { id: p.id, name: p.name, state: p.state, polite: p.polite } });
    this.drop(p, `${p.name} lost the connection`);
  }

  // orphan keeps a connection that still carries media under old:<id> for a
  // while, waiting for the peer's new id.
  orphan(p, ms) {
    this.map.delete(p.id);
    p.orphan = true;
    this.map.set(`old:${p.id}`, p);
    p.setId(`old:${p.id}`);
    setTimeout(() => { if (p.orphan) this.drop(p); }, ms);
  }

  // --- participants (transport.js) ---
  addPeer(info, { initiator }) {
    if (info.id === this.session.peerId) return;
    const known = this.map.get(info.id);
    if (known) { known.update({ ...info, away: !!info.away }); this.dropIfGone(known); return; }
    if (info.away) {
      // Its browser or network is gone for now: no tile until it is back.
      this.awayPeers.set(info.id, { info });
      return;
    }
    if (this.aliases.has(info.id)) { this.adopt(info); return; }
    const waiting = [...this.map.values()].some((p) => p.orphan && p.dc?.readyState === 'open' && p.pc?.connectionState === 'connected');
    if (waiting) {
      // An orphan may still announce this id over its data channel; wait briefly.
      const timer = setTimeout(() => this.resolveDeferred(info.id), 1500);
      this.deferred.set(info.id, { info, initiator, timer });
      return;
    }
    this.create(info, initiator);
  }

  updatePeer(info) {
    const id = info?.id;
    const p = this.map.get(id);
    if (p) {
      p.update({ name: info.name, state: info.state, away: !!info.away, host: info.host });
      this.dropIfGone(p);
    } else if (!info?.away && this.awayPeers.has(id)) {
      // Back after we dropped its tile: a new connection, offered by us.
      const { info: before } = this.awayPeers.get(id);
      this.awayPeers.delete(id);
      this.addPeer({ ...before, ...info }, { initiator: true });
    }
  }

  removePeer(id) {
    this.awayPeers.delete(id);
    const p = this.map.get(id);
    if (!p) return;
    // Its session ended but media still flows: it may be back with a new id.
    if (!p.bye && p.pc && p.pc.connectionState === 'connected' && p.dc?.readyState === 'open') this.orphan(p, 15000);
    else this.drop(p);
  }

  syncPeers(list) {
    const ids = new Set(list.map((i) => i.id));
    for (const id of [...this.awayPeers.keys()]) if (!ids.has(id)) this.awayPeers.delete(id);
    for (const p of [...this.map.values()]) if (!p.orphan && !ids.has(p.id)) this.drop(p);
    for (const info of list) {
      const p = this.map.get(info.id);
      if (p) {
        p.update(info);
        if (p.pc && p.pc.connectionState !== 'connected') p.restart('after resume');
      } else {
        this.addPeer(info, { initiator: false });
      }
    }
  }

  // renew: a new session after a lost one. Keep the connections that still
  // carry media and tell those peers our new id, so they can match us when
  // we join again.
  renew(peerId) {
    for (const p of [...this.map.values()]) {
      if (!p.pc || p.pc.connectionState !== 'connected') { this.drop(p); continue; }
      if (!p.orphan) this.orphan(p, 20000);
      p.sendData({ t: DATA.rebind, peerId });
    }
  }

  sessionLost() { this.awayPeers.clear(); }

  receive(from, kind, data) {
    const p = this.map.get(from) || this.claimDeferred(from);
    if (p) p.onSignal(kind, data);
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
    for (const p of [...this.map.values()]) {
      if (p.orphan && p.name === d.info.name) this.drop(p);
    }
    return this.create(d.info, d.initiator);
  }

  claimDeferred(id) { return this.deferred.has(id) ? this.resolveDeferred(id) : null; }

  adopt(info) {
    const p = this.aliases.get(info.id);
    this.aliases.delete(info.id);
    this.map.delete(p.id);
    p.orphan = false;
    p.setId(info.id);
    p.update(info);
    this.map.set(info.id, p);
    this.log('kept connection across sessions', info.id);
    if (p.pc && p.pc.connectionState !== 'connected') p.restart('adopted while not connected');
    return p;
  }

  create(info, initiator) {
    const p = new Peer(this, info, this.view(info));
    this.map.set(p.id, p);
    this.emit('peer-added', { peer: p });
    if (initiator) p.ensurePC(true);
    else {
      // The joiner offers (docs/protocol.md §3.4); if no offer comes, offer ourselves.
      p.offerTimer = setTimeout(() => { if (!p.pc && this.map.get(p.id) === p) p.ensurePC(true); }, 4000);
    }
    return p;
  }

  drop(p, why = '') {
    if (this.map.get(p.id) !== p) return;
    this.map.delete(p.id);
    for (const [k, v] of this.aliases) if (v === p) this.aliases.delete(k);
    p.close();
    this.tuneSenders();
    this.emit('peer-removed', { peer: p, why });
  }

  // --- media ---
  publish(kind, track, { screen = false } = {}) {
    this.sending[kind] = track;
    this.screen = screen;
    for (const p of this.map.values()) {
      if (!p.pc) continue;
      for (const tr of p.pc.getTransceivers()) {
        if (tr.receiver.track.kind === kind && !tr.stopped && tr.sender.track !== track) {
          tr.sender.replaceTrack(track).then(() => this.tuneSenders()).catch((e) => this.log('replaceTrack', e));
        }
      }
    }
  }

  // tuneSenders shares our upstream between the mesh's connections: every peer
  // gets its own encode, so with more peers each one is smaller and cheaper.
  tuneSenders() {
    const n = [...this.map.values()].filter((p) => !p.orphan).length;
    const screen = this.screen;
    const scale = screen || n < 3 ? 1 : n < 5 ? 1.5 : 2;
    const maxBitrate = screen ? 1_500_000 : n <= 1 ? 1_200_000 : n === 2 ? 800_000 : n <= 4 ? 450_000 : 300_000;
    for (const p of this.map.values()) {
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

  setIceServers(list) {
    this.iceServers = list;
    for (const p of this.map.values()) {
      if (!p.pc) continue;
      try { p.pc.setConfiguration({ ...p.pc.getConfiguration(), iceServers: this.servers() }); } catch (e) { this.log('setConfiguration', e); }
    }
  }

  sendChat(text) {
    let delivered = 0;
    for (const p of this.map.values()) if (!p.orphan && p.sendData({ t: DATA.chat, text })) delivered++;
    return { delivered, peers: this.map.size };
  }

  leave() { for (const p of this.map.values()) p.sendData({ t: DATA.bye }); }

  close() {
    for (const p of [...this.map.values()]) p.close();
    this.map.clear();
    this.awayPeers.clear();
  }

  // --- stats ---
  tick() {
    for (const p of this.map.values()) {
      p.watchdog();
      this.refreshStats(p);
    }
  }

  async refreshStats(p) {
    let s;
    try { s = await p.stats(); } catch { return; }
    if (!s) return;
    p.link = linkOf(s, { conn: p.pc?.connectionState, expectVideo: p.state.video !== false, reconnecting: p.orphan || p.away, prev: p.link });
    p.view.showLink(p.link, p.name);
  }

  snapshot() {
    return [...this.map.values()].map((p) => {
      const sender = (kind) => p.pc?.getSenders().find((s) => s.track && s.track.kind === kind)?.track.id || null;
      return {
        id: p.id, name: p.name, state: p.conn, path: p.link?.up ? p.link.path : '', away: p.away, orphan: p.orphan,
        createdAt: p.createdAt,
        iceUfrag: /a=ice-ufrag:(\S+)/.exec(p.pc?.localDescription?.sdp || '')?.[1] || '',
        iceUsername: p.pc?.getConfiguration().iceServers.find((s) => s.username)?.username || '',
        sending: { audio: sender('audio'), video: sender('video') },
      };
    });
  }

  async stats() {
    const out = [];
    for (const p of [...this.map.values()]) {
      const s = await p.stats().catch(() => null);
      out.push(statsRow(p.id, s));
    }
    return out;
  }
}
