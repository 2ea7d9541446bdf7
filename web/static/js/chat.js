// The chat panel: the log of lines and presence notes, the unread badge on
// the Chat button, and the form that sends a line through send(text), which
// returns {delivered, peers} (transport.js sendChat).
import { el } from './util.js';

const $ = (id) => document.getElementById(id);

export class Chat {
  constructor(send) {
    this.unread = 0;
    this.closed = false;
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.closed) return;
      const text = $('chat-input').value.trim();
      if (!text) return;
      const { delivered, peers } = send(text);
      this.add('You', text);
      if (peers && !delivered) this.note('Not delivered: nobody is connected yet.');
      $('chat-input').value = '';
    });
  }

  add(who, text) {
    const li = el('li', {}, el('span', { class: 'who', text: `${who}:` }), document.createTextNode(text));
    $('chat-log').append(li);
    li.scrollIntoView({ block: 'end' });
    if ($('chat').hidden && who !== 'You') {
      this.unread++;
      $('chat-badge').textContent = String(this.unread);
      $('chat-badge').hidden = false;
    }
  }

  // note records presence in the chat log and tells screen readers, which
  // would not hear the log while the chat panel is closed.
  note(text) {
    $('chat-log').append(el('li', { class: 'sys', text }));
    $('announce').textContent = text;
  }

  // opened focuses the input and clears the unread count.
  opened() {
    $('chat-input').focus();
    $('chat-badge').hidden = true;
    this.unread = 0;
  }

  // close stops sending once we left the call.
  close() {
    this.closed = true;
    $('chat-input').disabled = true;
    $('chat-input').placeholder = 'You left the call';
    $('chat-form').querySelector('button').disabled = true;
  }
}
