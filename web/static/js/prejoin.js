// The pre-join screen: before the call, the camera's preview, the
// microphone's level, the device lists, the display name (remembered) and
// two switches to join with the microphone and the camera on or off. What
// could not be used (access denied, none found, in use) is said in a plain
// sentence, the error's name in its tooltip; without any device the user
// joins to listen and watch. onJoin(name) runs when the user joins.
import { cleanName } from './protocol.js';
import { rememberName } from './util.js';
import { mediaErrorText, errDetail } from './media.js';
import { Devices } from './devices.js';

const $ = (id) => document.getElementById(id);

// explain says in one or two sentences what the errors of media.open() mean.
export function explain({ microphone, camera }, secure = true) {
  if (!secure) return 'This page needs a secure (https) address to use the camera and microphone. You can join to listen and watch.';
  if (!microphone && !camera) return '';
  const both = microphone && camera && microphone.name === camera.name;
  const text = both && /^No /.test(mediaErrorText(camera)) ? 'No camera or microphone was found. Plug one in and try again.'
    : both ? mediaErrorText(camera, 'camera and microphone').replace('Allow it', 'Allow them')
      : [camera && mediaErrorText(camera, 'camera'), microphone && mediaErrorText(microphone, 'microphone')].filter(Boolean).join(' ');
  const rest = microphone && camera ? 'You can still join to listen and watch.'
    : camera ? 'You can join with your microphone only.' : 'You can join with your camera only, muted.';
  return `${text} ${rest}`;
}

export class PreJoin {
  // media: LocalMedia (media.js); levels: Levels (levels.js) for the meter;
  // name: the name the link or the last visit gave ('' for none), guest the
  // one used when the field is left empty; onJoin(name) joins.
  constructor({ media, levels, name, guest, onJoin }) {
    this.media = media;
    this.levels = levels;
    this.active = false;
    this.metered = null; // the microphone track the meter shows
    this.devices = new Devices(media, { cam: 'pj-cam-select', mic: 'pj-mic-select' });
    $('pj-name').value = name;
    $('pj-name').placeholder = guest;
    $('pj-mic-on').addEventListener('change', (e) => { if (e.target.checked !== !!media.state.audio) media.toggleMic(); });
    $('pj-cam-on').addEventListener('change', (e) => { if (e.target.checked !== !!media.state.video) media.toggleCam(); });
    media.addEventListener('state', () => this.sync());
    media.addEventListener('track', () => this.sync());
    media.addEventListener('devices', () => { if (this.active) this.devices.fill(); });
    $('pj-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const typed = cleanName($('pj-name').value);
      if (typed) rememberName(typed);
      this.close();
      onJoin(typed || guest);
    });
  }

  // open shows the screen and starts the camera and microphone, unless
  // devices is false (a viewer's link: the switches start off).
  async open({ devices = true } = {}) {
    this.active = true;
    $('prejoin').hidden = false;
    const secure = !!navigator.mediaDevices?.getUserMedia;
    let text = 'You join without camera and microphone, to listen and watch.';
    let errs = { microphone: null, camera: null };
    if (devices && secure) {
      this.say('Starting your camera and microphone…');
      errs = await this.media.open();
      if (!this.active) return;
      text = explain(errs);
    } else {
      await this.media.acquire({ viewer: true }); // nothing asked for
      if (!secure) text = explain(errs, false);
    }
    this.say(text, [errs.camera, errs.microphone].filter(Boolean).map(errDetail).join('; '));
    $('pj-msg').classList.toggle('error', !!(errs.camera || errs.microphone || !secure));
    this.sync();
    this.devices.fill();
    (!$('pj-name').value ? $('pj-name') : $('pj-join')).focus();
  }

  say(text, detail = '') {
    $('pj-msg').textContent = text;
    $('pj-msg').title = detail;
  }

  // sync shows the media state: the switches, the preview, the meter.
  sync() {
    if (!this.active) return;
    const { audio, video } = this.media.state;
    const m = this.media;
    $('pj-mic-on').checked = !!audio;
    $('pj-mic-on').disabled = !m.mic;
    $('pj-cam-on').checked = !!video;
    const v = $('pj-video');
    const stream = m.cam ? m.stream : null;
    if (v.srcObject !== stream) v.srcObject = stream;
    $('prejoin').dataset.video = String(!!m.cam);
    $('pj-avatar').textContent = video ? '' : 'Camera off';
    const meter = $('pj-level');
    meter.dataset.audio = String(!!audio);
    if (m.mic && this.metered !== m.mic) {
      this.metered = m.mic;
      this.levels.watch(meter, m.mic, (level) => this.level(level));
    } else if (!m.mic) {
      this.metered = null;
      this.levels.unwatch(meter);
      this.level(0);
    }
    $('pj-join').textContent = audio || video ? 'Join' : 'Join to listen and watch';
  }

  level(n) {
    const meter = $('pj-level');
    meter.setAttribute('aria-valuenow', String(n));
    meter.style.setProperty('--level', `${n}%`);
  }

  close() {
    this.active = false;
    $('prejoin').hidden = true;
    $('pj-video').srcObject = null;
    this.metered = null;
    this.levels.unwatch($('pj-level'));
  }
}
