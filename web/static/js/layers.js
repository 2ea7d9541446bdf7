// What the media server should send us of each participant's video: the
// size (CSS pixels) its tile is shown at now, {peerId: {width, height}}, and
// 0×0 for a tile that is not visible (hidden, or the page is in the
// background). It watches the tiles with a ResizeObserver and calls
// send(tiles) when the sizes changed, at most once a second, and only once
// ready() says the media server can take it.
const EVERY_MS = 1000;

export class Layers {
  constructor({ send, ready }) {
    this.send = send;
    this.ready = ready;
    this.els = new Map();   // peer id -> tile element
    this.sent = '';         // the last tiles sent, as JSON
    this.lastAt = -Infinity;
    this.timer = 0;
    this.observer = new ResizeObserver(() => this.schedule());
    this.onVisibility = () => this.schedule();
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  watch(id, el) {
    const before = this.els.get(id);
    if (before === el) return;
    if (before) this.observer.unobserve(before);
    this.els.set(id, el);
    this.observer.observe(el);
    this.schedule();
  }

  unwatch(id) {
    const el = this.els.get(id);
    if (!el) return;
    this.els.delete(id);
    this.observer.unobserve(el);
    this.schedule();
  }

  // sizes is what to tell the server now.
  sizes() {
    const tiles = {};
    const shown = document.visibilityState !== 'hidden';
    for (const [id, el] of this.els) {
      const r = el.isConnected && shown ? el.getBoundingClientRect() : { width: 0, height: 0 };
      tiles[id] = { width: Math.round(r.width), height: Math.round(r.height) };
    }
    return tiles;
  }

  // schedule sends the sizes now, or as soon as a second passed since the last send.
  schedule() {
    if (this.timer) return;
    const wait = Math.max(0, this.lastAt + EVERY_MS - performance.now());
    this.timer = setTimeout(() => { this.timer = 0; this.flush(); }, wait);
  }

  flush() {
    if (!this.ready()) { this.timer = setTimeout(() => { this.timer = 0; this.flush(); }, EVERY_MS); return; }
    const tiles = this.sizes();
    const json = JSON.stringify(tiles);
    if (json === this.sent) return;
    this.sent = json;
    this.lastAt = performance.now();
    this.send(tiles);
  }

  // resend forgets what was sent, so the next change or schedule() sends all sizes again (a new connection).
  resend() {
    this.sent = '';
    this.schedule();
  }

  close() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.observer.disconnect();
    this.els.clear();
    document.removeEventListener('visibilitychange', this.onVisibility);
  }
}
