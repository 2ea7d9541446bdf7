// One remote participant of a call through the media server (sfu.js): who it
// is, the tracks the server forwards of it, and its view's state. It has no
// connection of its own; its state follows the one connection to the server:
// connected when that is connected and its media has arrived (a track of it
// is unmuted) or it announces none to send.
const PC_STATE = { new: 'connecting', connecting: 'connecting', connected: 'connected', disconnected: 'reconnecting', failed: 'reconnecting', closed: 'failed' };

export class Member {
  // onAudioBlocked() is called when the browser blocks its sound until a gesture.
  constructor(info, view, onAudioBlocked) {
    this.view = view;
    this.id = info.id;
    this.name = info.name || 'guest';
    this.state = { audio: true, video: true, screen: false, ...(info.state || {}) };
    this.away = !!info.away;
    this.host = !!info.host;
    this.orphan = false;
    this.bye = false;
    this.conn = 'connecting';
    this.link = null;
    this.arrived = false;          // a track of it carried media
    this.remote = new MediaStream();
    this.onAudioBlocked = onAudioBlocked;
    this.render();
  }

  update(info) {
    if (info.name) this.name = info.name;
    // A presence state is whole, but for hand, which is absent while down (§3.4).
    if (info.state) this.state = { ...this.state, hand: false, ...info.state };
    if (typeof info.away === 'boolean') this.away = info.away;
    if (typeof info.host === 'boolean') this.host = info.host;
    this.render();
  }

  render() { this.view.show(this); }

  // sendsNothing: it announced neither sound nor picture, so no track is awaited.
  sendsNothing() { return this.state.audio === false && this.state.video === false && !this.state.screen; }

  // follow sets the view's state from the server connection's state.
  follow(pcState) {
    let s = PC_STATE[pcState] || 'connecting';
    if (s === 'connected' && !this.arrived && !this.sendsNothing()) s = 'connecting';
    this.conn = s;
    this.view.setState(s);
  }

  // addTrack shows a track the server forwards of this participant.
  addTrack(track, onChange) {
    for (const old of this.remote.getTracks()) if (old.kind === track.kind && old !== track) this.remote.removeTrack(old);
    if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
    const arrived = () => { if (!this.arrived && !track.muted) { this.arrived = true; onChange(); } };
    track.addEventListener('unmute', arrived);
    arrived();
    if (track.kind === 'audio') {
      this.view.playAudio(track).catch((e) => { if (e.name === 'NotAllowedError') this.onAudioBlocked(); });
    }
    this.view.attach(this.remote);
  }

  removeTrack(track) {
    if (this.remote.getTracks().includes(track)) this.remote.removeTrack(track);
  }

  trackIds() { return new Set(this.remote.getTracks().map((t) => t.id)); }

  close() { this.view.remove(); }
}
