// One remote participant of the mesh: the RTCPeerConnection to it, run with
// MDN's "perfect negotiation" (the server tells us whether we are polite).
// Its tile is a view (transport.js) that it only tells what changed.
//
// Media layout per connection: exactly one audio and one video transceiver,
// both sendrecv, plus one negotiated data channel (id 0) for chat and control.
// Mute, camera off, device switch and screen share are all replaceTrack on
// those senders, so they never renegotiate.
import { KIND, CHANNEL, description, decode } from './protocol.js';
import { readStats } from './rtcstats.js';

const STATE_MAP = { new: 'connecting', connecting: 'connecting', connected: 'connected', disconnected: 'reconnecting', failed: 'reconnecting', closed: 'failed' };

export class Peer {
  // app supplies: rtcConfig(), localStream(), sendTrack(kind), signal(peer, kind, data),
  // onData(peer, msg), onState(peer), onTrack(peer, track), refreshStats(peer),
  // needAudioUnlock(), log(...), metrics; view is the peer's tile (transport.js).
  constructor(app, info, view) {
    this.app = app;
    this.view = view;
    this.id = info.id;
    this.name = info.name || 'guest';
    this.polite = !!info.polite;
    this.state = { audio: true, video: true, screen: false, ...(info.state || {}) };
    this.pc = null;
    this.dc = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.srdAnswerPending = false;
    this.orphan = false;      // our signaling session for it is gone; kept while media flows
    this.away = !!info.away;  // its signaling session is gone, the server waits for a resume
    this.host = !!info.host;  // a host of the room (docs/protocol.md §3.11)
    this.bye = false;
    this.conn = 'connecting'; // the view's state: connecting | connected | reconnecting | failed
    this.connectedAt = 0;
    this.createdAt = performance.now();
    this.remote = new MediaStream();
    this.render();
  }

  setId(id) { this.id = id; this.render(); }

  update(info) {
    if (info.name) this.name = info.name;
    // A presence state is whole, but for hand, which is absent while down (§3.4).
    if (info.state) this.state = { ...this.state, hand: false, ...info.state };
    if (typeof info.polite === 'boolean') this.polite = info.polite;
    if (typeof info.away === 'boolean') this.away = info.away;
    if (typeof info.host === 'boolean') this.host = info.host;
    this.render();
  }

  render() { this.view.show(this); }

  // ensurePC creates the connection. The initiator adds the transceivers (and
  // so sends the first offer); the other side gets them from that offer.
  ensurePC(initiator) {
    if (this.pc) return this.pc;
    const pc = new RTCPeerConnection(this.app.rtcConfig());
    this.pc = pc;
    this.dc = pc.createDataChannel(CHANNEL.label, { negotiated: true, id: CHANNEL.id });
    this.dc.onmessage = (ev) => {
      const msg = decode(ev.data);
      if (msg) this.app.onData(this, msg);
    };
    this.dc.onopen = () => this.app.onData(this, { t: 'open' });
    this.dc.onclose = () => this.app.onData(this, { t: 'closed' });
    if (initiator) {
      const stream = this.app.localStream();
      for (const kind of ['audio', 'video']) {
        pc.addTransceiver(this.app.sendTrack(kind) || kind, { direction: 'sendrecv', streams: [stream] });
      }
    }
    pc.ontrack = ({ track }) => {
      for (const old of this.remote.getTracks()) if (old.kind === track.kind && old !== track) this.remote.removeTrack(old);
      if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
      if (track.kind === 'audio') {
        this.view.playAudio(track).catch((e) => { if (e.name === 'NotAllowedError') this.app.needAudioUnlock(); });
      }
      this.view.attach(this.remote);
      this.app.onTrack(this, track);
    };
    pc.onicecandidate = ({ candidate }) => this.send(KIND.candidate, candidate ? candidate.toJSON() : null);
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.send(pc.localDescription.type, pc.localDescription.toJSON());
      } catch (err) {
        this.app.log('negotiation failed', this.id, err);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => this.onConnState();
    this.onConnState();
    return pc;
  }

  send(kind, data) {
    if (this.orphan) return;
    this.app.signal(this, kind, data);
  }

  // onSignal applies a relayed offer/answer/candidate/restart (docs/protocol.md §3.6).
  async onSignal(kind, data) {
    try {
      const desc = description(kind, data);
      if (desc) {
        const pc = this.ensurePC(false);
        const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.srdAnswerPending);
        const collision = desc.type === 'offer' && !readyForOffer;
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        if (desc.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale answer
        this.srdAnswerPending = desc.type === 'answer';
        await pc.setRemoteDescription(desc);
        this.srdAnswerPending = false;
        if (desc.type === 'offer') {
          this.attachLocal();
          await pc.setLocalDescription();
          this.send(pc.localDescription.type, pc.localDescription.toJSON());
        }
      } else if (kind === KIND.candidate) {
        if (!this.pc) return;
        try {
          if (data && data.candidate) await this.pc.addIceCandidate(data);
          else await this.pc.addIceCandidate();
        } catch (err) {
          if (!this.ignoreOffer && data && data.candidate) this.app.log('addIceCandidate', this.id, err);
        }
      } else if (kind === KIND.restart) {
        if (this.pc) this.pc.restartIce();
        else this.ensurePC(true);
      }
    } catch (err) {
      this.app.log('signal', kind, this.id, err);
    }
  }

  // attachLocal puts our current tracks on every sender and makes sure we send.
  attachLocal() {
    if (!this.pc) return;
    const stream = this.app.localStream();
    for (const tr of this.pc.getTransceivers()) {
      if (tr.stopped || tr.currentDirection === 'stopped') continue;
      const kind = tr.receiver.track.kind;
      const want = this.app.sendTrack(kind);
      if (tr.sender.track !== want) tr.sender.replaceTrack(want).catch((e) => this.app.log('replaceTrack', e));
      if (tr.direction !== 'sendrecv') tr.direction = 'sendrecv';
      if (tr.sender.setStreams) tr.sender.setStreams(stream);
    }
  }

  onConnState() {
    const pc = this.pc;
    const cs = pc ? pc.connectionState : 'new';
    this.conn = STATE_MAP[cs] || 'connecting';
    this.view.setState(this.conn);
    if (cs === 'connected') {
      if (!this.connectedAt) this.connectedAt = performance.now();
      this.downSince = 0;
      this.backoff = 0;
      this.app.refreshStats(this);
    } else if ((cs === 'disconnected' || cs === 'failed') && !this.downSince) {
      this.downSince = performance.now();
    }
    if (cs === 'failed') this.restart('connection failed');
    this.app.onState(this);
  }

  // watchdog runs every second: a connection down for 5 s (disconnected) or
  // failed gets ICE restarts, spaced 4, 8, 16, 20, 20... s apart until it is
  // back, so a network that comes back later is picked up too.
  watchdog() {
    const pc = this.pc;
    if (!pc || !this.downSince) return;
    const cs = pc.connectionState;
    if (cs === 'connected' || cs === 'closed') return;
    if (cs === 'failed' || performance.now() - this.downSince > 5000) this.restart(`${cs}`);
  }

  // restart runs an ICE restart. The impolite side offers at once; the polite side
  // asks the other to do it (fewer collisions), and offers itself if nothing happens.
  restart(why) {
    const pc = this.pc;
    if (!pc || pc.connectionState === 'closed' || this.orphan) return;
    const now = performance.now();
    if (this.lastRestart && now - this.lastRestart < this.backoff) return;
    this.lastRestart = now;
    this.backoff = Math.min(20000, Math.max(4000, (this.backoff || 2000) * 2));
    this.restarts = (this.restarts || 0) + 1;
    this.app.metrics.iceRestarts = (this.app.metrics.iceRestarts || 0) + 1;
    this.app.log('ice restart', this.id, why);
    if (!this.polite) {
      pc.restartIce();
      return;
    }
    this.send(KIND.restart, {});
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.pc === pc && pc.connectionState !== 'connected' && pc.connectionState !== 'closed') pc.restartIce();
    }, 2000);
  }

  sendData(msg) {
    if (this.dc && this.dc.readyState === 'open') {
      this.dc.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  async stats() {
    const pc = this.pc;
    if (!pc) return null;
    return readStats(await pc.getStats());
  }

  close() {
    clearTimeout(this.restartTimer);
    clearTimeout(this.offerTimer);
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.onnegotiationneeded = null;
      this.pc.close();
    }
    this.pc = null;
    this.view.remove();
  }
}
