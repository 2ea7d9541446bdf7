// The Devices panel: the camera and microphone lists (media.js devices())
// with the ones in use selected, a choice switching to that device, and the
// connection policy line.
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
  constructor(media) {
    this.media = media;
    $('cam-select').addEventListener('change', (e) => media.switchDevice('video', e.target.value));
    $('mic-select').addEventListener('change', (e) => media.switchDevice('audio', e.target.value));
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.fill());
  }

  async fill() {
    const d = await this.media.devices();
    if (!d) return;
    fill($('cam-select'), d.cameras, 'Camera', d.camera);
    fill($('mic-select'), d.microphones, 'Microphone', d.microphone);
  }

  opened() {
    this.fill();
    $('cam-select').focus();
  }

  // showPolicy says how this page connects (?relay=1, ?transport=).
  showPolicy(relayOnly, transport) {
    $('policy').textContent = (relayOnly ? 'relay only (TURN), your address stays hidden' : 'direct when possible, relay otherwise') +
      (transport ? `; relay over ${transport.toUpperCase()} only` : '');
  }
}
