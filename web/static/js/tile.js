// One participant's tile in the grid: the <figure> with its <video>, avatar,
// name, path label, connection quality and pin button, and the data-*
// attributes the tests, the CSS, the grid and the people list read
// (test/e2e/README.md). A transport drives a remote tile through the view
// methods documented in transport.js; the call page drives the self tile.
import { el } from './util.js';

// initials makes the avatar's letters from a display name.
export function initials(name) {
  const parts = String(name || '?').replace(/\(.*?\)/g, '').trim().split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w[0]));
  return ((parts[0]?.[0] || '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

const LEVEL_WORDS = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'not known yet' };

// qualityText says a link's quality in words, with the numbers it rests on.
export function qualityText(q) {
  if (!q) return 'Connection down';
  const nums = [];
  if (q.loss != null) nums.push(`${q.loss}% packet loss`);
  if (q.rtt != null) nums.push(`${q.rtt} ms round trip`);
  if (q.jitter != null) nums.push(`${q.jitter} ms jitter`);
  return `Connection ${LEVEL_WORDS[q.level]}${nums.length ? `: ${nums.join(', ')}` : ''}`;
}

export class Tile {
  constructor({ self = false, name = '' } = {}) {
    const video = el('video', { autoplay: true, muted: true, playsInline: true });
    video.setAttribute('playsinline', '');
    video.setAttribute('muted', '');
    this.video = video;
    this.nameEl = el('span', { class: 'name', text: name });
    this.avatar = el('div', { class: 'avatar', 'aria-hidden': 'true', text: initials(name) });
    this.label = el('span', { class: 'path', text: self ? 'you' : 'Connecting…' });
    // The grid handles the pin button's clicks (grid.js).
    this.pin = el('button', { type: 'button', class: 'pin secondary small', 'aria-pressed': 'false', text: 'Pin' });
    this.quality = el('span', { class: 'quality', role: 'img', 'data-level': 'unknown' }, el('i'), el('i'), el('i'));
    this.el = el('figure', { class: self ? 'tile self' : 'tile', 'data-audio': 'true', 'data-video': 'true', tabindex: '0' },
      video, this.avatar, this.label, el('span', { class: 'tools' }, self ? null : this.quality, this.pin),
      el('figcaption', { class: 'label' }, this.nameEl, el('span', { class: 'mic', text: 'muted' })));
    this.self = self;
    this.rename(name);
    if (self) {
      this.el.dataset.self = 'true';
      this.el.dataset.video = 'false'; // avatar until the camera starts
      return;
    }
    this.quality.setAttribute('aria-label', 'Connection quality not known yet');
    this.audio = el('audio', { autoplay: true });
    this.el.append(this.audio);
    this.el.dataset.state = 'connecting';
  }

  // --- the view a transport drives (transport.js) ---

  // show renders who the peer is and what it announced.
  show({ id, name, state, away, host = false }) {
    const t = this.el;
    t.dataset.peerId = id;
    t.dataset.audio = String(state.audio !== false);
    t.dataset.video = String(state.video !== false);
    t.dataset.screen = String(!!state.screen);
    t.dataset.hand = String(!!state.hand);
    t.dataset.host = String(!!host);
    t.dataset.away = String(away);
    this.rename(name);
    const bits = [host ? `${name}, host` : name];
    if (state.audio === false) bits.push('microphone muted');
    if (state.video === false) bits.push('camera off');
    if (state.screen) bits.push('sharing screen');
    if (state.hand) bits.push('hand raised');
    if (away) bits.push('reconnecting');
    t.setAttribute('aria-label', bits.join(', '));
    this.video.setAttribute('aria-label', `Video of ${name}`);
  }

  // rename shows name on the tile, its avatar and its pin button.
  rename(name) {
    this.name = name;
    this.nameEl.textContent = name;
    this.avatar.textContent = initials(name);
    this.pin.setAttribute('aria-label', `Pin ${name}`);
    this.pin.title = `Pin ${name}: show large`;
    if (this.self) this.el.setAttribute('aria-label', `${name}: your own picture`);
  }

  // setState sets data-state: connecting | connected | reconnecting | failed.
  setState(s) { if (this.el.dataset.state !== s) this.el.dataset.state = s; }

  // attach shows the peer's incoming stream.
  attach(stream) {
    // Attached with the first track: an element fed an empty stream would delay
    // the page's load event forever.
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    this.video.play().catch(() => { /* muted autoplay: starts when frames come */ });
  }

  // detach stops showing and playing the peer's media (its avatar shows).
  detach() {
    if (this.video.srcObject) this.video.srcObject = null;
    if (this.audio.srcObject) this.audio.srcObject = null;
  }

  // playAudio plays the peer's audio track; the promise rejects with
  // NotAllowedError while the browser blocks sound.
  playAudio(track) {
    if (track) this.audio.srcObject = new MediaStream([track]);
    return this.audio.play();
  }

  // showLink renders the path label, data-path/-transport/-rtt and the
  // quality from a link summary (transport.js linkOf).
  showLink(link, name) {
    const t = this.el;
    const label = this.label;
    if (link.up) {
      const relayed = link.path === 'relay';
      if (t.dataset.path !== link.path) t.dataset.path = link.path;
      t.dataset.transport = link.transport;
      if (link.rtt != null) t.dataset.rtt = String(link.rtt);
      const rtt = link.rtt != null ? ` · ${link.rtt} ms` : '';
      const loss = link.quality?.loss ? ` · ${link.quality.loss}% lost` : '';
      label.textContent = `${relayed ? 'Via relay' : 'Direct'}${rtt}${loss}${link.waitingVideo ? ' · waiting for video' : ''}`;
      const how = !relayed ? `Your call with ${name} goes directly between your devices`
        : link.transport === 'their relay' ? `Your call with ${name} goes through their relay server`
          : `Your call with ${name} goes through the relay server (${link.transport === 'tls' ? 'TURN over TLS' : `TURN over ${link.transport.toUpperCase()}`})`;
      label.title = `${how}${link.rtt != null ? `, ${link.rtt} ms round trip` : ''}. Technical: local ${link.local.candidateType} ${link.local.protocol}, remote ${link.remote.candidateType}.`;
      this.showQuality(link.quality);
    } else {
      this.showQuality(null);
      label.textContent = link.reconnecting ? 'Reconnecting…' : `Connecting to ${name}…`;
      label.title = link.failed ? 'The connection failed; trying again.' : '';
    }
  }

  // showQuality renders a link's quality (rtcstats.js quality) as bars and
  // data-quality/-loss/-jitter; null: the connection is down.
  showQuality(q) {
    const t = this.el;
    const level = q ? q.level : 'poor';
    t.dataset.quality = q ? level : 'down';
    if (q?.loss != null) t.dataset.loss = String(q.loss); else delete t.dataset.loss;
    if (q?.jitter != null) t.dataset.jitter = String(q.jitter); else delete t.dataset.jitter;
    this.quality.dataset.level = q ? level : 'down';
    this.quality.setAttribute('aria-label', qualityText(q));
    this.quality.title = this.quality.getAttribute('aria-label');
  }

  remove() { this.el.remove(); }

  // --- the self tile ---

  // showOwn renders our own announced state.
  showOwn({ audio, video, screen }) {
    this.el.dataset.audio = String(!!audio);
    this.el.dataset.video = String(!!(video || screen));
    this.el.dataset.screen = String(!!screen);
    this.el.classList.toggle('screen', !!screen);
  }

  // preview shows what we send; null shows the avatar. An element fed an
  // empty stream would delay the page's load event forever, so a stream
  // without video is not attached.
  preview(stream) {
    const want = stream && stream.getVideoTracks().length ? stream : null;
    if (this.video.srcObject !== want) this.video.srcObject = want;
  }

  // previewOff drops the preview and shows the avatar.
  previewOff() {
    this.video.srcObject = null;
    this.el.dataset.video = 'false';
  }
}
