// The grid of tiles: holds them and lays them out in one of two views. The
// grid view gives every tile one size, with the column count that makes 4:3
// tiles largest in the space it has (so a phone in portrait stacks them, a
// wide screen lines them up). The speaker view shows one tile large and the
// others in a strip under it. The large tile is the pinned one, else a
// screen someone shares, else (speaker view only) the last one speaking, or
// before anyone spoke one with its camera on; a
// pin or a shared screen shows large in the grid view too. It lays out again
// whenever its size, its tiles or their speaking and screen state change,
// and emits 'change' when the view, the pin or the large tile changed.
const GAP = 8;
const PAD = 16;
const WATCHED = ['data-speaking', 'data-screen', 'data-video'];
const STORE_VIEW = 'rtcd.view';

// storedView is the view this browser picked last, grid if none.
function storedView() {
  try { return localStorage.getItem(STORE_VIEW) === 'speaker' ? 'speaker' : 'grid'; } catch { return 'grid'; }
}

export class Grid extends EventTarget {
  constructor(el) {
    super();
    this.el = el;
    this.view = storedView(); // grid | speaker: the view asked for, remembered
    this.pinned = null;      // the pinned tile element
    this.lastSpeaker = null; // the remote tile that spoke last
    this.shown = null;       // the tile shown large now
    new ResizeObserver(() => this.layout()).observe(el);
    new MutationObserver((list) => this.changed(list)).observe(el, { childList: true, subtree: true, attributes: true, attributeFilter: WATCHED });
    el.addEventListener('click', (e) => {
      const pin = e.target.closest('.tile .pin');
      if (pin) this.pin(pin.closest('.tile'));
    });
  }

  add(tile) {
    this.el.append(tile);
    this.layout();
  }

  tiles() { return [...this.el.querySelectorAll('.tile')]; }

  // pin shows tile large until it is unpinned (pin(it) again, or pin(null)).
  pin(tile) {
    this.pinned = tile && tile !== this.pinned ? tile : null;
    this.layout(true);
  }

  // setView picks the grid or the speaker view, and remembers it for the
  // next call.
  setView(view) {
    this.view = view === 'speaker' ? 'speaker' : 'grid';
    try { localStorage.setItem(STORE_VIEW, this.view); } catch { /* storage off */ }
    this.layout(true);
  }

  toggleView() { this.setView(this.view === 'speaker' ? 'grid' : 'speaker'); }

  changed(list) {
    for (const m of list) {
      const t = m.target;
      if (m.attributeName === 'data-speaking' && t.dataset.speaking === 'true' && !t.dataset.self) this.lastSpeaker = t;
    }
    this.layout();
  }

  // main is the tile to show large, or null for a plain grid.
  main(tiles) {
    if (this.pinned && !tiles.includes(this.pinned)) this.pinned = null;
    if (this.pinned) return this.pinned;
    const remote = tiles.filter((t) => !t.dataset.self);
    const screen = remote.find((t) => t.dataset.screen === 'true');
    if (screen) return screen;
    if (this.view !== 'speaker' || tiles.length < 2) return null;
    if (remote.includes(this.lastSpeaker)) return this.lastSpeaker;
    return remote.find((t) => t.dataset.video !== 'false') || remote[0] || null;
  }

  layout(changed = false) {
    const grid = this.el;
    const tiles = this.tiles();
    const n = tiles.length;
    grid.dataset.count = String(Math.min(n, 7));
    const main = this.main(tiles);
    for (const t of tiles) {
      t.classList.toggle('main', t === main);
      t.querySelector('.pin')?.setAttribute('aria-pressed', String(t === this.pinned));
    }
    grid.classList.toggle('speaker', !!main);
    grid.dataset.view = main ? 'speaker' : 'grid';
    if (main !== this.shown || changed) {
      this.shown = main;
      this.dispatchEvent(new Event('change'));
    }
    const W = grid.clientWidth - PAD;
    const H = grid.clientHeight - PAD;
    if (!n || W <= 0 || H <= 0) return;
    if (main) this.speakerLayout(W, H, n - 1);
    else this.gridLayout(W, H, n);
  }

  gridLayout(W, H, n) {
    let best = { w: 0, cols: 1 };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const cw = (W - GAP * (cols - 1)) / cols;
      const ch = (H - GAP * (rows - 1)) / rows;
      const w = Math.min(cw, ch * 4 / 3);
      if (w > best.w) best = { w, cols };
    }
    this.size(best.cols, best.w, 0);
  }

  // speakerLayout: the strip's tiles at most 200 px wide and a quarter of the
  // height, as many columns as fit (more rows scroll); the large tile takes
  // the rest of the height.
  speakerLayout(W, H, others) {
    let w = 0;
    let cols = 1;
    if (others) {
      w = Math.max(96, Math.min(200, (W - GAP * (others - 1)) / others, (H / 4) * 4 / 3, W));
      cols = Math.max(1, Math.min(others, Math.floor((W + GAP) / (w + GAP))));
    }
    const strip = others ? w * 3 / 4 + GAP : 0;
    this.size(cols, w, Math.max(0, Math.min(W, ((H - strip) * 4) / 3)));
  }

  size(cols, w, mainW) {
    const s = this.el.style;
    s.setProperty('--cols', String(cols));
    s.setProperty('--tile-w', `${Math.floor(w)}px`);
    s.setProperty('--main-w', `${Math.floor(mainW)}px`);
  }
}
