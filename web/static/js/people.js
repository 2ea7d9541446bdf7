// The People panel: one row per participant, ourselves first, saying what
// their tile shows (the data-* of tile.js): the name, microphone and camera,
// a shared screen, the path (direct or through a relay), the connection's
// state and quality, who is speaking, the host's mark (data-host), a raised
// hand (data-hand) and a pin button (grid.js). Each row keeps a place for
// badges other features put there with badge(). Rows are updated in place, so a focused
// pin button keeps the focus.
import { el } from './util.js';

const WATCHED = ['data-audio', 'data-video', 'data-screen', 'data-path', 'data-state', 'data-speaking', 'data-quality', 'data-away', 'data-hand', 'data-host', 'aria-label'];
const SELF = 'self';

const idOf = (tile) => (tile.dataset.self ? SELF : tile.dataset.peerId || '');

// words describes a tile's participant in short phrases.
function words(t) {
  const d = t.dataset;
  const screen = d.screen === 'true';
  const out = [d.audio === 'false' ? 'muted' : 'mic on'];
  // Our own tile's data-video covers the screen too, so with one only the screen is said.
  if (screen) out.push(...(d.self ? [] : [d.video === 'false' ? 'camera off' : 'camera on']), 'sharing screen');
  else out.push(d.video === 'false' ? 'camera off' : 'camera on');
  if (!d.self) {
    if (d.away === 'true' || d.state === 'reconnecting') out.push('reconnecting');
    else if (d.state === 'failed') out.push('connection failed');
    else if (d.state !== 'connected') out.push('connecting');
    else out.push(d.path === 'relay' ? 'via relay' : 'direct');
  }
  if (d.speaking === 'true') out.push('speaking');
  return out;
}

export class People {
  // grid: the Grid (grid.js) whose tiles are listed and pinned.
  constructor(grid) {
    this.grid = grid;
    this.list = document.getElementById('people-list');
    this.count = document.getElementById('people-count');
    this.rows = new Map();   // person id -> {li, name, badges, state, quality, pin}
    this.badges = new Map(); // person id -> Map(key -> text)
    this.timer = 0;
    new MutationObserver(() => this.schedule()).observe(grid.el, { childList: true, subtree: true, attributes: true, attributeFilter: WATCHED });
    grid.addEventListener('change', () => this.schedule());
    this.list.addEventListener('click', (e) => {
      const pin = e.target.closest('.pin');
      const tile = pin && this.tileOf(pin.closest('li').dataset.person);
      if (tile) this.grid.pin(tile);
    });
    this.schedule();
  }

  tileOf(id) { return this.grid.tiles().find((t) => idOf(t) === id) || null; }

  // badge shows text in the row of the participant id (SELF for us) under
  // key, or removes that badge when text is empty.
  badge(id, key, text) {
    const b = this.badges.get(id) || new Map();
    if (text) b.set(key, text); else b.delete(key);
    this.badges.set(id, b);
    this.schedule();
  }

  schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = 0; this.render(); }, 50);
  }

  render() {
    const tiles = this.grid.tiles().filter((t) => idOf(t));
    tiles.sort((a, b) => (b.dataset.self ? 1 : 0) - (a.dataset.self ? 1 : 0));
    const seen = new Set();
    for (const t of tiles) {
      const id = idOf(t);
      seen.add(id);
      const row = this.rows.get(id) || this.make(id);
      this.fill(row, t, id);
      this.list.append(row.li); // in tile order, ourselves first
    }
    for (const [id, row] of this.rows) if (!seen.has(id)) { row.li.remove(); this.rows.delete(id); }
    this.count.textContent = String(tiles.length);
    this.count.setAttribute('aria-label', `${tiles.length} in the call`);
  }

  make(id) {
    const row = {
      name: el('span', { class: 'pname' }),
      badges: el('span', { class: 'badges' }),
      state: el('span', { class: 'pstate' }),
      quality: el('span', { class: 'pquality' }),
      pin: el('button', { type: 'button', class: 'pin secondary small', 'aria-pressed': 'false', text: 'Pin' }),
    };
    row.li = el('li', { class: 'person', 'data-person': id },
      el('span', { class: 'who' }, row.name, row.badges), row.state, row.quality, row.pin);
    this.rows.set(id, row);
    return row;
  }

  fill(row, t, id) {
    const name = t.querySelector('.name')?.textContent || '';
    const d = t.dataset;
    setText(row.name, name);
    setText(row.state, words(t).join(' · '));
    row.li.dataset.speaking = String(d.speaking === 'true');
    // One badge per key: the tile's marks, then those given by badge(), which win.
    const badges = [...new Map([...(d.host === 'true' ? [['host', 'Host']] : []), ...(d.hand === 'true' ? [['hand', 'Hand raised']] : []),
      ...(this.badges.get(id)?.entries() || [])])];
    const have = [...row.badges.children].map((b) => `${b.dataset.key}=${b.textContent}`).join('|');
    if (have !== badges.map(([k, v]) => `${k}=${v}`).join('|')) {
      row.badges.replaceChildren(...badges.map(([key, text]) => el('span', { class: 'pbadge', 'data-key': key, text })));
    }
    const q = t.querySelector('.quality');
    const qText = d.self ? '' : q?.getAttribute('aria-label') || '';
    setText(row.quality, qText);
    row.quality.dataset.level = d.self ? '' : d.quality || 'unknown';
    row.pin.setAttribute('aria-label', `Pin ${name}`);
    row.pin.setAttribute('aria-pressed', String(this.grid.pinned === t));
  }
}

function setText(node, text) { if (node.textContent !== text) node.textContent = text; }
