// Getting into a room that hosts control (docs/protocol.md §3.11): the
// waiting notice while a host decides, the password prompt, the plain words
// for a removal, an end or a refusal, and a host's requests to mute or
// unmute. session.js reports; this module decides what the page says.
import { ERR, HOST, LIMITS, needsPassword } from './protocol.js';

const $ = (id) => document.getElementById(id);

export class Admission {
  // rejoin(): ask again for a place (after a password); mic(on): turn our
  // microphone on or off; leave(): leave the call.
  constructor({ session, notices, rejoin, mic, leave }) {
    this.session = session;
    this.notices = notices;
    this.rejoin = rejoin;
    this.mic = mic;
    this.leave = leave;
    $('join-pw-input').maxLength = LIMITS.passwordChars;
    $('join-pw').addEventListener('submit', (e) => {
      e.preventDefault();
      const pw = $('join-pw-input').value;
      if (!pw) return;
      session.password = pw;
      $('join-pw').hidden = true;
      this.notices.hide();
      this.rejoin();
    });
    session.addEventListener('host-request', ({ detail: { action } }) => this.request(action));
  }

  // state handles a session state it has words for, and reports whether it did.
  state(state, reason) {
    $('join-pw').hidden = true;
    if (state === 'waiting') {
      this.notices.show('This room is locked. Waiting for a host to let you in…', [['Leave', () => this.leave()]], 'info', '', 'waiting');
      return true;
    }
    if (state === 'joined') {
      this.notices.hideIf('waiting');
      this.notices.hideIf(ERR.passwordRequired);
      return false;
    }
    if (state !== 'refused' || !needsPassword(reason)) return false;
    const wrong = reason === ERR.wrongPassword;
    this.notices.show(wrong ? 'That password is not right. Try again.' : 'This room has a password. Enter it to join.',
      [['Go to the start page', '/']], 'error', '', ERR.passwordRequired);
    $('join-pw').hidden = false;
    $('join-pw-input').value = '';
    $('join-pw-input').focus();
    return true;
  }

  // request answers a host's mute or ask-unmute: muted at once, or asked.
  request(action) {
    if (action === HOST.mute) {
      this.mic(false);
      this.notices.show('A host muted your microphone. Unmute yourself when you want to speak.', [
        ['OK', () => this.notices.hideIf('host-mute')],
      ], 'info', '', 'host-mute');
    } else if (action === HOST.askUnmute) {
      this.notices.show('A host asks you to unmute your microphone.', [
        ['Unmute', () => { this.mic(true); this.notices.hideIf('ask-unmute'); }],
        ['Stay muted', () => this.notices.hideIf('ask-unmute')],
      ], 'info', '', 'ask-unmute');
    }
  }
}
