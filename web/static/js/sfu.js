// The media server transport (the interface is in transport.js): one
// RTCPeerConnection to the server (peer id SFU_PEER), which forwards every
// participant's tracks to the others. Perfect negotiation with the server
// impolite and us polite: we offer what we publish (one audio transceiver,
// one video transceiver with three simulcast encodings), the server offers
// what we receive; each forwarded track's stream id is its publisher's peer
// id. Chat goes over the negotiated data channel to the server, which relays
// it with `from` set. We tell the server how large each participant's tile is
// (layers.js) and it tells us the dominant speaker.
import { MSG, KIND, CHANNEL, DATA, SFU_PEER, description, decode, chatText } from './protocol.js';
import { pickIceServers, linkOf } from './transport.js';
import { Member } from './member.js';
import { Layers } from './layers.js';
import { readStats, statsRow } from './rtcstats.js';

// Quarter, half and full resolution: the server picks one per receiver.
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_200_000 },
];

export class Sfu extends EventTarget {
  constructor({ session, stream, view, relayOnly = false, ice = {} }) {
    super();
    this.session = session;
    this.stream = stream;
    this.view = view;
    this.relayOnly = relayOnly;
    this.ice = ice;
    this.iceServers = [];
    this.sending = { audio: null, video: null };
    this.map = new Map();       // peer id -> Member
    this.pending = new Map();   // peer id -> [track]: forwarded before we knew the participant
    this.owner = new Map();     // track -> Member
    this.pc = null;
    this.dc = null;
    this.senders = { audio: null, video: null };
    this.makingOffer = false;
    this.watched = new WeakSet(); // remote streams whose removetrack we follow
    this.negotiated = false;    // a remote description was applied on this connection
    this.createdAt = 0;
    this.offeredAt = 0;
    this.downSince = 0;
    this.backoff = 0;
    this.lastRestart = 0;
    this.speaker = '';
    this.metrics = { firstConnectedMs: 0, iceRestarts: 0 };
    this.layers = new Layers({ send: (tiles) => this.send(KIND.layers, { tiles }), ready: () => this.negotiated });
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  log(...args) { console.info('[rtcd]', 'sfu', ...args); }
  peers() { return this.map.values(); }
  others() { return this.map.size > 0; }
  ready() { return this.pc?.connectionState === 'connected' && [...this.map.values()].every((m) => m.conn === 'connected'); }

  // --- the connection ---
  rtcConfig() {
    const cfg = { iceServers: pickIceServers(this.iceServers, this.ice), bundlePolicy: 'max-bundle' };
    if (this.relayOnly) cfg.iceTransportPolicy = 'relay';
    return cfg;
  }

  send(kind, data) { this.session.send({ type: MSG.signal, to: SFU_PEER, kind, data }); }

  // start connects to the media server (once; again after close or renew).
  start() {
    if (this.pc) return;
    const pc = new RTCPeerConnection(this.rtcConfig());
    this.pc = pc;
    this.createdAt = performance.now();
    this.negotiated = false;
    this.dc = pc.createDataChannel(CHANNEL.label, { negotiated: true, id: CHANNEL.id });
    this.dc.onmessage = (ev) => { const msg = decode(ev.data); if (msg) this.onData(msg); };
    const streams = [this.stream];
    this.senders.audio = pc.addTransceiver(this.sending.audio || 'audio', { direction: 'sendonly', streams }).sender;
    this.senders.video = pc.addTransceiver(this.sending.video || 'video', { direction: 'sendonly', streams, sendEncodings: SIMULCAST }).sender;
    pc.ontrack = (e) => this.onTrack(e);
    pc.onicecandidate = ({ candidate }) => this.send(KIND.candidate, candidate ? candidate.toJSON() : null);
    pc.onnegotiationneeded = () => this.offer(pc);
    pc.onconnectionstatechange = () => this.onConnState(pc);
    this.layers.resend();
    this.onConnState(pc);
  }

  async offer(pc) {
    if (this.makingOffer) return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      this.offeredAt = performance.now();
      if (this.pc === pc) this.send(pc.localDescription.type, pc.localDescription.toJSON());
    } catch (err) {
      this.log('negotiation failed', err);
    } finally {
      this.makingOffer = false;
    }
  }

  // onDescription applies the server's offer or answer. We are polite: a
  // server offer that collides with ours rolls ours back (setRemoteDescription
  // does that); negotiationneeded offers again once stable.
  async onDescription(desc) {
    const pc = this.pc;
    if (!pc) return;
    if (desc.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale answer
    await pc.setRemoteDescription(desc);
    this.negotiated = true;
    if (desc.type === 'offer') {
      await pc.setLocalDescription();
      this.send(pc.localDescription.type, pc.localDescription.toJSON());
    }
  }

  onConnState(pc) {
    if (this.pc !== pc) return;
    const cs = pc.connectionState;
    if (cs === 'connected') {
      this.downSince = 0;
      this.backoff = 0;
      if (!this.metrics.firstConnectedMs) this.metrics.firstConnectedMs = Math.round(performance.now());
      this.refreshStats();
    } else if ((cs === 'disconnected' || cs === 'failed') && !this.downSince) {
      this.downSince = performance.now();
    }
    if (cs === 'failed') this.restart('connection failed');
    for (const m of this.map.values()) m.follow(cs);
  }

  // watchdog: an offer the server has not answered in 10 s (lost, or the
  // server could not take us then) is rolled back and made again; a
  // connection down for 5 s (disconnected) or failed gets ICE restarts,
  // spaced 4, 8, 16, 20, 20... s apart until it is back.
  watchdog() {
    const pc = this.pc;
    if (pc?.signalingState === 'have-local-offer' && performance.now() - this.offeredAt > 10000) {
      this.log('offer unanswered, offering again');
      this.offeredAt = performance.now();
      pc.setLocalDescription({ type: 'rollback' }).then(() => this.offer(pc)).catch((e) => this.log('rollback', e));
      return;
    }
    if (!pc || !this.downSince) return;
    const cs = pc.connectionState;
    if (cs === 'connected' || cs === 'closed') return;
    if (cs === 'failed' || performance.now() - this.downSince > 5000) this.restart(cs);
  }

  // restart offers new ICE credentials (restartIce makes the next offer an ICE restart).
  restart(why) {
    const pc = this.pc;
    if (!pc || pc.connectionState === 'closed') return;
    const now = performance.now();
    if (this.lastRestart && now - this.lastRestart < this.backoff) return;
    this.lastRestart = now;
    this.backoff = Math.min(20000, Math.max(4000, (this.backoff || 2000) * 2));
    this.metrics.iceRestarts++;
    this.log('ice restart', why);
    pc.restartIce();
  }

  stop() {
    const pc = this.pc;
    if (!pc) return;
    pc.onconnectionstatechange = null;
    pc.onnegotiationneeded = null;
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.close();
    this.pc = null;
    this.dc = null;
    this.negotiated = false;
    this.downSince = 0;
    this.owner.clear();
    this.pending.clear();
  }

  // --- forwarded tracks ---
  onTrack({ track, streams }) {
    const stream = streams[0];
    const id = stream?.id;
    if (!id) return;
    const before = this.owner.get(track);
    if (before && before.id !== id) before.removeTrack(track); // a transceiver the server reuses for someone else
    if (!this.watched.has(stream)) {
      this.watched.add(stream);
      stream.addEventListener('removetrack', (e) => this.untrack(e.track, id));
    }
    const m = this.map.get(id);
    if (m) this.track(m, track);
    else if (id !== this.session.peerId) this.pending.set(id, [...(this.pending.get(id) || []), track]);
  }

  track(m, track) {
    this.owner.set(track, m);
    m.addTrack(track, () => m.follow(this.pc?.connectionState || 'new'));
    m.follow(this.pc?.connectionState || 'new');
    this.emit('track', { peer: m, track });
  }

  untrack(track, id) {
    const m = this.owner.get(track);
    if (!m || m.id !== id) return;
    this.owner.delete(track);
    m.removeTrack(track);
  }

  // --- participants (transport.js) ---
  addPeer(info) {
    if (!info?.id || info.id === this.session.peerId || info.id === SFU_PEER) return;
    const known = this.map.get(info.id);
    if (known) { known.update({ ...info, away: !!info.away }); known.follow(this.pc?.connectionState || 'new'); return; }
    const m = new Member(info, this.view(info), () => this.emit('audio-blocked'));
    this.map.set(m.id, m);
    m.follow(this.pc?.connectionState || 'new');
    this.layers.watch(m.id, m.view.el);
    this.emit('peer-added', { peer: m });
    for (const track of this.pending.get(m.id) || []) this.track(m, track);
    this.pending.delete(m.id);
  }

  updatePeer(info) {
    const m = this.map.get(info?.id);
    if (!m) return;
    m.update({ name: info.name, state: info.state, away: !!info.away, host: info.host });
    m.follow(this.pc?.connectionState || 'new');
  }

  removePeer(id, why = '') {
    const m = this.map.get(id);
    this.pending.delete(id);
    if (!m) return;
    this.map.delete(id);
    this.layers.unwatch(id);
    for (const [t, owner] of this.owner) if (owner === m) this.owner.delete(t);
    m.close();
    this.emit('peer-removed', { peer: m, why });
  }

  syncPeers(list) {
    const ids = new Set(list.map((i) => i.id));
    for (const id of [...this.map.keys()]) if (!ids.has(id)) this.removePeer(id);
    for (const info of list) this.addPeer(info);
    if (this.pc && this.negotiated && this.pc.connectionState !== 'connected') this.restart('after resume');
  }

  // renew: the server forgot our session, and with it our connection to the
  // media server; the next join starts a new one (start).
  renew() {
    this.stop();
    for (const m of this.map.values()) m.follow('disconnected');
  }

  sessionLost() {}

  async receive(from, kind, data) {
    if (from !== SFU_PEER) return;
    try {
      const desc = description(kind, data);
      if (desc) await this.onDescription(desc);
      else if (kind === KIND.candidate) await this.addCandidate(data);
      else if (kind === KIND.speaker) this.onSpeaker(data);
    } catch (err) {
      this.log('signal', kind, err);
    }
  }

  async addCandidate(data) {
    if (!this.pc) return;
    try {
      if (data && data.candidate) await this.pc.addIceCandidate(data);
      else await this.pc.addIceCandidate();
    } catch (err) {
      if (data && data.candidate) this.log('addIceCandidate', err);
    }
  }

  onSpeaker(data) {
    const id = typeof data?.peer === 'string' ? data.peer : '';
    if (id === this.speaker) return;
    this.speaker = id;
    this.emit('speaker', { id, peer: this.map.get(id) || null });
  }

  onData(msg) {
    const m = this.map.get(msg.from);
    if (!m) return;
    if (msg.t === DATA.chat) {
      const text = chatText(msg);
      if (text !== null) this.emit('chat', { peer: m, text });
    } else if (msg.t === DATA.bye) {
      // It left on purpose: its tile goes now, not when the server's peer-left comes.
      m.bye = true;
      this.removePeer(m.id);
    }
  }

  // --- media ---
  publish(kind, track) {
    this.sending[kind] = track;
    const sender = this.senders[kind];
    if (this.pc && sender && sender.track !== track) sender.replaceTrack(track).catch((e) => this.log('replaceTrack', e));
  }

  setIceServers(list) {
    this.iceServers = list;
    if (!this.pc) return;
    try { this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: this.rtcConfig().iceServers }); } catch (e) { this.log('setConfiguration', e); }
  }

  sendData(msg) {
    if (this.dc?.readyState !== 'open') return false;
    this.dc.send(JSON.stringify(msg));
    return true;
  }

  sendChat(text) {
    const peers = this.map.size;
    return { delivered: this.sendData({ t: DATA.chat, text }) ? peers : 0, peers };
  }

  leave() { this.sendData({ t: DATA.bye }); }

  close() {
    this.stop();
    this.layers.close();
    for (const m of this.map.values()) m.close();
    this.map.clear();
  }

  // --- stats ---
  tick() {
    this.watchdog();
    this.refreshStats();
  }

  async report() {
    const pc = this.pc;
    if (!pc) return null;
    try { return await pc.getStats(); } catch { return null; }
  }

  async refreshStats() {
    const report = await this.report();
    if (!report) return;
    const conn = this.pc?.connectionState;
    for (const m of this.map.values()) {
      m.link = linkOf(readStats(report, m.trackIds()), { conn, expectVideo: m.state.video !== false, reconnecting: m.away, prev: m.link });
      m.view.showLink(m.link, m.name);
    }
  }

  snapshot() {
    const pc = this.pc;
    const sending = { audio: this.senders.audio?.track?.id || null, video: this.senders.video?.track?.id || null };
    const iceUfrag = /a=ice-ufrag:(\S+)/.exec(pc?.localDescription?.sdp || '')?.[1] || '';
    const iceUsername = pc?.getConfiguration().iceServers.find((s) => s.username)?.username || '';
    return [...this.map.values()].map((m) => ({
      id: m.id, name: m.name, state: m.conn, path: m.link?.up ? m.link.path : '', away: m.away, orphan: false,
      createdAt: this.createdAt, iceUfrag, iceUsername, sending,
    }));
  }

  // sent: the video encodings we publish to the server, lowest first, as
  // the browser sends them now (outbound-rtp: rid, frame size, bytes).
  async sent() {
    const report = await this.report();
    const out = [];
    report?.forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video') {
        out.push({ rid: r.rid || '', frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0, bytesSent: r.bytesSent || 0,
          framesEncoded: r.framesEncoded || 0, active: r.active !== false, qualityLimitationReason: r.qualityLimitationReason || '' });
      }
    });
    return out.sort((a, b) => a.frameWidth - b.frameWidth);
  }

  async stats() {
    const report = await this.report();
    return [...this.map.values()].map((m) => statsRow(m.id, report ? readStats(report, m.trackIds()) : null));
  }
}
