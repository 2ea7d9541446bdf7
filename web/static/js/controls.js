// The call controls and the invite buttons: each button runs its action,
// the media buttons say what a press does (no aria-pressed besides, or a
// screen reader would read "Unmute, pressed"), and tooltips name the
// shortcut keys while those are on.
import { copyText } from './util.js';

const $ = (id) => document.getElementById(id);

export class Controls {
  // actions: mic, cam, screen, leave, chat, people, layout, settings, help, host: functions.
  constructor(actions, inviteURL, inviteTitle) {
    this.inviteURL = inviteURL;
    this.inviteTitle = inviteTitle;
    this.state = { audio: true, video: true, screen: false };
    this.shortcuts = true;
    this.view = 'grid';
    for (const [id, act] of Object.entries({
      'btn-mic': actions.mic, 'btn-cam': actions.cam, 'btn-screen': actions.screen, 'btn-leave': actions.leave,
      'btn-chat': actions.chat, 'btn-people': actions.people, 'btn-layout': actions.layout,
      'btn-settings': actions.settings, 'btn-help': actions.help, 'btn-host': actions.host,
    })) $(id).addEventListener('click', act);
    $('copy-link').addEventListener('click', () => this.share($('copy-link')));
    $('alone-share').addEventListener('click', () => this.share($('alone-share')));
    if (!navigator.mediaDevices?.getDisplayMedia) $('btn-screen').hidden = true; // phones
  }

  // show renders our media state; hasMic: there is a microphone to unmute.
  show(state, hasMic) {
    this.state = state;
    $('btn-mic').dataset.off = String(!state.audio);
    $('btn-mic').disabled = !hasMic;
    $('btn-cam').dataset.off = String(!state.video);
    $('btn-screen').dataset.on = String(!!state.screen);
    $('btn-mic').querySelector('.lbl').textContent = state.audio ? 'Mute' : 'Unmute';
    $('btn-cam').querySelector('.lbl').textContent = state.video ? 'Stop video' : 'Start video';
    $('btn-screen').querySelector('.lbl').textContent = state.screen ? 'Stop sharing' : 'Share screen';
    this.titles();
  }

  // titles puts the shortcut keys into the tooltips while they are on.
  titles(shortcuts = this.shortcuts) {
    this.shortcuts = shortcuts;
    const base = {
      'btn-mic': this.state.audio ? 'Mute' : 'Unmute',
      'btn-cam': this.state.video ? 'Stop video' : 'Start video',
      'btn-chat': 'Chat',
      'btn-people': 'People',
      'btn-layout': this.view === 'speaker' ? 'Grid view' : 'Speaker view',
      'pj-mic-on': 'Microphone',
      'pj-cam-on': 'Camera',
    };
    for (const [id, text] of Object.entries(base)) {
      const node = $(id);
      const key = shortcuts ? node.dataset.key : '';
      // The pre-join switches' labels get the tooltip too.
      for (const n of [node, node.closest('label')]) if (n) n.title = key ? `${text} (${key})` : text;
      if (key) node.setAttribute('aria-keyshortcuts', key); else node.removeAttribute('aria-keyshortcuts');
    }
    $('btn-help').title = shortcuts ? 'Keyboard shortcuts (?)' : 'Keyboard shortcuts';
  }

  // showView says what the layout button does: the view it switches to.
  showView(view) {
    this.view = view;
    $('btn-layout').querySelector('.lbl').textContent = view === 'speaker' ? 'Grid view' : 'Speaker view';
    this.titles();
  }

  hide() { $('controls').hidden = true; }

  // share offers the room's link with the system share sheet where there is
  // one (phones), else copies it; the button says what happened.
  async share(btn) {
    const url = this.inviteURL;
    const lbl = btn.querySelector('.lbl') || btn;
    const before = lbl.textContent;
    if (navigator.share) {
      try {
        await navigator.share({ title: `Join ${this.inviteTitle}`, text: `Join the call "${this.inviteTitle}"`, url });
        return;
      } catch (err) {
        if (err && err.name === 'AbortError') return; // the user closed the sheet
      }
    }
    const ok = await copyText(url);
    lbl.textContent = ok ? 'Link copied' : 'Copy this link from the address bar';
    $('announce').textContent = ok ? 'Invite link copied' : 'The link could not be copied';
    clearTimeout(btn.resetTimer);
    btn.resetTimer = setTimeout(() => { lbl.textContent = before; }, 2500);
  }
}
