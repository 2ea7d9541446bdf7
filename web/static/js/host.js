// Host controls (docs/protocol.md §3.11): the Host panel a host of the room
// sees (lock, password, the lobby with admit and deny, per-participant mute,
// ask to unmute and remove, end the meeting), the notice that someone is
// waiting, and the raise-hand button everyone has. The server enforces
// every action; this module only offers them to hosts and says how each went.
import { HOST, hostAction } from './protocol.js';
import { el } from './util.js';

const $ = (id) => document.getElementById(id);

export class HostControls {
  // session: session.js; roster(): the other participants' infos {id, name,
  // host}; notices: notice.js; onHand(raised): our hand went up or down;
  // onEnd(): we ended the meeting; badge(id, text): mark a participant ('self'
  // for us) as host in the People panel ('' unmarks).
  constructor({ session, roster, notices, onHand, onEnd, badge }) {
    this.session = session;
    this.roster = roster;
    this.notices = notices;
    this.onHand = onHand;
    this.onEnd = onEnd;
    this.badge = badge;
    this.marked = new Set(); // ids marked host
    this.hand = false;
    this.waiting = new Set(); // lobby ids already announced
    $('btn-hand').addEventListener('click', () => this.toggleHand());
    $('host-lock').addEventListener('click', () => this.act(session.settings.locked ? HOST.unlock : HOST.lock));
    $('host-pw-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const pw = $('host-pw').value;
      if (pw) this.act(HOST.password, { password: pw }).then((ok) => { if (ok) $('host-pw').value = ''; });
    });
    $('host-pw-clear').addEventListener('click', () => this.act(HOST.password, { password: '' }));
    $('host-end').addEventListener('click', () => {
      if (confirm('End the meeting for everyone?')) this.act(HOST.end).then((ok) => { if (ok) this.onEnd(); });
    });
    session.addEventListener('room', () => this.render());
    session.addEventListener('lobby', () => { this.renderLobby(); this.announceLobby(); });
    session.addEventListener('message', () => { this.renderPeople(); this.markHosts(); });
    this.render();
  }

  // act sends a host action and says how it went; true when done.
  async act(action, opts = {}) {
    try {
      await this.session.request(hostAction(action, opts));
      this.say('');
      return true;
    } catch (err) {
      this.say(`Could not ${action.replace('-', ' ')}: ${err.message}`);
      return false;
    }
  }

  say(text) { $('host-status').textContent = text; }

  toggleHand() {
    this.hand = !this.hand;
    $('btn-hand').setAttribute('aria-pressed', String(this.hand));
    $('btn-hand').querySelector('.lbl').textContent = this.hand ? 'Lower hand' : 'Raise hand';
    this.onHand(this.hand);
  }

  render() {
    const { host, settings } = this.session;
    document.body.dataset.host = String(!!host);
    $('btn-host').hidden = !host;
    if (!host && !$('host').hidden) $('host').hidden = true;
    $('host-lock').querySelector('.lbl').textContent = settings.locked ? 'Unlock room' : 'Lock room';
    $('host-lock').dataset.on = String(!!settings.locked);
    $('host-pw-clear').hidden = !settings.password;
    $('host-pw-state').textContent = settings.password ? 'This room has a password.' : 'No password.';
    this.renderLobby();
    this.renderPeople();
    this.markHosts();
  }

  // markHosts puts the host badge on whoever hosts the room, us included.
  markHosts() {
    const hosts = new Set([...this.roster()].filter((p) => p.host).map((p) => p.id));
    if (this.session.host && this.session.inRoom) hosts.add('self');
    for (const id of this.marked) if (!hosts.has(id)) this.badge(id, '');
    for (const id of hosts) if (!this.marked.has(id)) this.badge(id, 'Host');
    this.marked = hosts;
  }

  renderLobby() {
    const list = this.session.host ? this.session.lobby : [];
    $('host-lobby').replaceChildren(...list.map((p) => this.row(p, [
      ['Admit', () => this.act(HOST.admit, { target: p.id })],
      ['Deny', () => this.act(HOST.deny, { target: p.id })],
    ])));
    $('host-lobby-empty').hidden = list.length > 0;
    const badge = $('host-badge');
    badge.hidden = list.length === 0;
    badge.textContent = String(list.length);
  }

  // announceLobby tells a host, once per arrival, that someone waits.
  announceLobby() {
    if (!this.session.host) return;
    const ids = new Set(this.session.lobby.map((p) => p.id));
    for (const p of this.session.lobby) {
      if (this.waiting.has(p.id)) continue;
      this.notices.show(`${p.name || 'Someone'} is waiting to join.`, [
        ['Admit', () => { this.notices.hideIf('lobby'); this.act(HOST.admit, { target: p.id }); }],
        ['Deny', () => { this.notices.hideIf('lobby'); this.act(HOST.deny, { target: p.id }); }],
      ], 'info', '', 'lobby');
    }
    if (ids.size === 0) this.notices.hideIf('lobby');
    this.waiting = ids;
  }

  renderPeople() {
    if (!this.session.host) { $('host-people').replaceChildren(); return; }
    const people = [...this.roster()].sort((a, b) => (a.name || '').localeCompare(b.name || ''));
    $('host-people').replaceChildren(...people.map((p) => this.row(p, [
      ['Mute', () => this.act(HOST.mute, { target: p.id })],
      ['Ask to unmute', () => this.act(HOST.askUnmute, { target: p.id })],
      ['Remove', () => { if (confirm(`Remove ${p.name || 'this participant'} from the call?`)) this.act(HOST.remove, { target: p.id }); }],
    ])));
  }

  // row is a list item naming a participant, with one button per action.
  row(p, actions) {
    const name = p.name || 'guest';
    const li = el('li', { class: 'host-row' });
    li.dataset.peer = p.id;
    li.append(el('span', { class: 'who', text: p.host ? `${name} (host)` : name }));
    for (const [label, fn] of actions) {
      const b = el('button', { type: 'button', class: 'secondary small', text: label });
      b.dataset.action = label;
      b.setAttribute('aria-label', `${label} ${name}`);
      b.addEventListener('click', fn);
      li.append(b);
    }
    return li;
  }
}
