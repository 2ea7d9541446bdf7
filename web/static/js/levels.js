// The speaking indicator: an audio level meter per tile (our microphone on
// the self tile, each peer's audio on theirs). A tile whose level stays
// above a threshold gets the class "speaking" and data-speaking="true".
// With the media server, the remote tiles are not metered here: the server
// names the dominant speaker, and setSpeaker marks that one tile the same way.
// watch's show(level), when given, gets the level (0-100) at every tick (the
// pre-join screen's meter).
export class Levels {
  constructor() {
    this.meters = new Map(); // tile element -> {src, an, buf, track, hold}
    this.speaker = null;     // the tile setSpeaker marked
    this.ctx = null;
    setInterval(() => this.tick(), 150);
  }

  watch(tile, track, show = null) {
    try {
      if (!this.ctx) this.ctx = new AudioContext();
      this.unwatch(tile);
      const src = this.ctx.createMediaStreamSource(new MediaStream([track]));
      const an = this.ctx.createAnalyser();
      an.fftSize = 512;
      src.connect(an);
      this.meters.set(tile, { src, an, buf: new Float32Array(an.fftSize), track, hold: 0, show });
    } catch (e) { console.info('[rtcd]', 'level meter', e); }
  }

  unwatch(tile) {
    const m = this.meters.get(tile);
    if (!m) return;
    this.meters.delete(tile);
    try { m.src.disconnect(); } catch { /* already disconnected */ }
    if (tile !== this.speaker) mark(tile, false);
  }

  // setSpeaker marks tile (not metered) as the one speaking, or none (null).
  setSpeaker(tile) {
    if (this.speaker === tile) return;
    if (this.speaker && !this.meters.has(this.speaker)) mark(this.speaker, false);
    this.speaker = tile;
    if (tile && !this.meters.has(tile)) mark(tile, true);
  }

  // resume restarts an audio context the browser suspended before a gesture.
  resume() {
    if (this.ctx && this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
  }

  tick() {
    for (const [tile, m] of this.meters) {
      if (!tile.isConnected) { this.unwatch(tile); continue; }
      m.an.getFloatTimeDomainData(m.buf);
      let sum = 0;
      for (const v of m.buf) sum += v * v;
      const rms = Math.sqrt(sum / m.buf.length);
      const muted = tile.dataset.audio === 'false' || m.track.readyState === 'ended';
      if (rms > 0.02 && !muted) m.hold = 4; else if (m.hold > 0) m.hold--;
      mark(tile, m.hold > 0);
      if (m.show) m.show(muted ? 0 : Math.min(100, Math.round(rms * 300)));
    }
  }
}

function mark(tile, speaking) {
  if (tile.classList.contains('speaking') === speaking && tile.dataset.speaking === String(speaking)) return;
  tile.classList.toggle('speaking', speaking);
  tile.dataset.speaking = String(speaking);
}
