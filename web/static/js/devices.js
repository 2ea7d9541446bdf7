// The camera and microphone lists (media.js devices()) with the ones in use
// selected, a choice switching to that device: in the Devices panel, with
// the connection policy line, and on the pre-join screen (ids names the two
// <select> elements).
import { el } from './util.js';

const $ = (id) => document.getElementById(id);

function fill(sel, devs, word, current) {
  sel.replaceChildren();
  let i = 0;
  for (const d of devs) {
    i++;
    const o = el('option', { value: d.deviceId, text: d.label || `${word} ${i}` });
    if (current && d.deviceId === current) o.selected = true;
    sel.append(o);
  }
  if (!i) sel.append(el('option', { value: '', text: 'None found' }));
}

export class Devices {
  constructor(media, ids = { cam: 'cam-select', mic: 'mic-select' }) {
    this.media = media;
    this.ids = ids;
    $(ids.cam).addEventListener('change', (e) => media.switchDevice('video', e.target.value));
    $(ids.mic).addEventListener('change', (e) => media.switchDevice('audio', e.target.value));
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.fill());
  }

  async fill() {
    const d = await this.media.devices();
    if (!d) return;
    fill($(this.ids.cam), d.cameras, 'Camera', d.camera);
    fill($(this.ids.mic), d.microphones, 'Microphone', d.microphone);
  }

  opened() {
    this.fill();
    $(this.ids.cam).focus();
  }

  // showPolicy says how this page connects (?relay=1, ?transport=).
  showPolicy(relayOnly, transport) {
    $('policy').textContent = (relayOnly ? 'relay only (TURN), your address stays hidden' : 'direct when possible, relay otherwise') +
      (transport ? `; relay over ${transport.toUpperCase()} only` : '');
  }
}
