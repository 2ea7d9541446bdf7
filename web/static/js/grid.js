// The grid of tiles: holds them and picks the column count that makes 4:3
// tiles largest in the space it has (so a phone in portrait stacks them, a
// wide screen lines them up), again whenever its size or its tiles change.
export class Grid {
  constructor(el) {
    this.el = el;
    new ResizeObserver(() => this.layout()).observe(el);
  }

  add(tile) {
    this.el.append(tile);
    this.layout();
  }

  layout() {
    const grid = this.el;
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
}
