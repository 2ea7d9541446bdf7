// The remote tiles of a call, shared by the transports that carry it. While
// a call moves from the mesh to the media server both transports have a view
// (transport.js) of the same participant; both views drive one tile, and the
// tile shows what one of them, its source, last said: the primary transport's
// (the room's media mode) once that one is connected, until then a connected
// other one. So a tile keeps its element and only its media source changes.
// A tile is removed when its last view is. data-media on the tile names the
// transport whose media it shows.
export class Views {
  // make(info) -> a new Tile (tile.js).
  constructor(make) {
    this.make = make;
    this.tiles = new Map(); // peer id -> {tile, views: Set<View>, source}
    this.primary = '';
  }

  // factory is the view(info) function a transport is given; owner names it (MEDIA.*).
  factory(owner) { return (info) => this.view(owner, info); }

  view(owner, info) {
    let entry = this.tiles.get(info.id);
    // A transport's own second view of an id (the mesh's orphans) gets a tile of its own.
    if (!entry || [...entry.views].some((v) => v.owner === owner)) {
      entry = { id: info.id, tile: this.make(info), views: new Set(), source: null };
      this.tiles.set(info.id, entry);
    }
    const v = new View(this, entry, owner);
    entry.views.add(v);
    this.pick(entry);
    return v;
  }

  // setPrimary names the transport of the room's media mode.
  setPrimary(owner) {
    this.primary = owner;
    for (const entry of this.tiles.values()) this.pick(entry);
  }

  pick(entry) {
    const views = [...entry.views];
    const live = (v) => v && v.last.state === 'connected';
    const primary = views.find((v) => v.owner === this.primary);
    const source = live(primary) ? primary : views.find(live) || primary || views[0] || null;
    if (source === entry.source) return;
    entry.source = source;
    if (source) source.apply();
  }

  release(v) {
    const entry = v.entry;
    if (!entry.views.delete(v)) return;
    if (entry.views.size) { this.pick(entry); return; }
    entry.tile.remove();
    if (this.tiles.get(entry.id) === entry) this.tiles.delete(entry.id);
  }
}

// View is one transport's handle on a shared tile: the view interface of
// transport.js, remembering what it was told so it can take over the tile.
class View {
  constructor(views, entry, owner) {
    this.views = views;
    this.entry = entry;
    this.owner = owner;
    this.last = { info: null, state: 'connecting', stream: null, audio: null, link: null, name: '' };
  }

  get el() { return this.entry.tile.el; }
  get tile() { return this.entry.tile; }
  get source() { return this.entry.source === this; }
  // shared: another transport's view drives the same tile.
  get shared() { return this.entry.views.size > 1; }
  // gone: the tile is removed (no view holds it any more).
  get gone() { return !this.entry.views.size; }

  show({ id, name, state, away, host }) {
    this.last.info = { id, name, state: { ...state }, away, host };
    if (this.source) this.tile.show(this.last.info);
  }

  setState(s) {
    this.last.state = s;
    if (this.source) this.tile.setState(s);
    this.views.pick(this.entry);
  }

  attach(stream) {
    this.last.stream = stream;
    if (this.source) this.tile.attach(stream);
  }

  playAudio(track) {
    if (track) this.last.audio = track;
    if (!this.source) return Promise.resolve();
    return this.tile.playAudio(track);
  }

  showLink(link, name) {
    this.last.link = link;
    this.last.name = name;
    if (this.source) this.tile.showLink(link, name);
  }

  remove() { this.views.release(this); }

  // apply puts everything this view was told on the tile.
  apply() {
    const t = this.tile;
    const l = this.last;
    t.el.dataset.media = this.owner;
    if (l.info) t.show(l.info);
    t.setState(l.state);
    if (l.link) t.showLink(l.link, l.name);
    if (l.stream) t.attach(l.stream);
    else t.detach();
    if (l.audio) t.playAudio(l.audio).catch(() => { /* reported when the track first came */ });
  }
}
