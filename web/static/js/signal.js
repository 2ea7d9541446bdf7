// Signaling client for rtcd protocol v1 (docs/protocol.md): hello, join,
// signal relay, presence, credential refresh, and automatic reconnect with
// hello{resume}. It emits DOM events so the call page stays decoupled:
//   'open'     {detail: hello reply}       after every successful hello
//   'message'  {detail: msg}               every other server message
//   'status'   {detail: {state, delay?, reason?}}
//   'fatal'    {detail: {code, message}}  the server refused us; no retry
import { MSG, ERR, END, CLOSE, CLIENT_RE, isFatal, envelope, decode } from './protocol.js';

const CLIENT_KEY = 'rtcd.client';

// clientId is this browser's random id (hello.client): a session of the same
// browser joining a room replaces its own stale entry there at once.
export function clientId() {
  try {
    let id = localStorage.getItem(CLIENT_KEY);
    if (!id || id.length < 16 || !CLIENT_RE.test(id)) {
      const b = new Uint8Array(16);
      crypto.getRandomValues(b);
      id = btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      localStorage.setItem(CLIENT_KEY, id);
    }
    return id;
  } catch {
    return ''; // storage off: no replacement, the server's resume window applies
  }
}

// closeReason says in plain words why a socket closed; the code goes in the
// detail (a tooltip), not in the sentence.
function closeReason(ev, opened) {
  if (!opened) return 'the server does not answer';
  if (ev.code === CLOSE.goingAway) return 'the server is restarting';
  if (ev.code === CLOSE.internal) return 'the server had a problem';
  if (ev.code === CLOSE.abnormal) return 'the connection was lost';
  return ev.reason || 'the connection closed';
}

export function wsURL() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/ws`;
}

export class Signaling extends EventTarget {
  constructor({ url = wsURL(), name = '', token = '', client = '' } = {}) {
    super();
    this.url = url;
    this.name = name;
    this.token = token;
    this.client = client;
    this.ws = null;
    this.peerId = '';
    this.resumeToken = '';
    this.hello = null;      // last hello reply
    this.ready = false;     // hello done on the current socket
    this.closed = false;    // close() called, or a fatal error
    this.attempt = 0;
    this.retryTimer = 0;
    this.retryAfter = 0;    // from bye.retryAfterMs
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.outbox = [];         // signal/update messages held while reconnecting
    this.lastClose = null;
  }

  connect() {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry('the server address is not valid', String(err));
      return;
    }
    this.ws = ws;
    this.ready = false;
    let opened = false;
    this.emit('status', { state: this.attempt ? 'reconnecting' : 'connecting' });
    ws.onopen = () => {
      opened = true;
      const hello = envelope({ type: MSG.hello, id: this.newId() });
      if (this.name) hello.name = this.name;
      if (this.client) hello.client = this.client;
      if (this.token) hello.token = this.token;
      if (this.resumeToken) hello.resume = this.resumeToken;
      this.helloId = hello.id;
      this.raw(hello);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      const msg = decode(ev.data);
      if (msg) this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this.lastClose = { code: ev.code, reason: ev.reason };
      for (const p of this.pending.values()) p.reject(new Error('signaling closed'));
      this.pending.clear();
      if (this.closed) return;
      if (ev.code === CLOSE.policy && ev.reason === CLOSE.replacedReason) {
        // Another page resumed this session: fighting over it would ping-pong forever.
        this.fail({ code: END.replaced, message: 'this call was taken over by another window' });
        return;
      }
      if (ev.code === CLOSE.policy && ev.reason !== CLOSE.helloTimeoutReason) {
        // Policy close (flood, throttled, bad version): retrying blindly would repeat it.
        this.fail({ code: END.policy, message: ev.reason || 'the server closed the connection' });
        return;
      }
      this.scheduleRetry(closeReason(ev, opened), `WebSocket close code ${ev.code}${ev.reason ? `, reason "${ev.reason}"` : ''}`);
    };
  }

  onMessage(msg) {
    if (msg.type === MSG.hello) {
      this.ready = true;
      this.attempt = 0;
      this.retryAfter = 0;
      this.peerId = msg.peerId;
      if (msg.resume) this.resumeToken = msg.resume;
      this.hello = msg;
      const held = this.outbox;
      this.outbox = [];
      if (msg.resumed) for (const m of held) this.raw(m);
      this.emit('status', { state: 'connected' });
      this.emit('open', msg);
      return;
    }
    if (msg.type === MSG.bye) {
      if (msg.reconnect && msg.retryAfterMs > 0) this.retryAfter = msg.retryAfterMs;
      if (!msg.reconnect) this.fail({ code: END.bye, message: msg.reason || 'the server ended the session' });
      return;
    }
    if (msg.type === MSG.error) {
      if (msg.code === ERR.noSuchSession && !this.ready) {
        // The server forgot us (restart, or away too long): start a fresh session.
        this.resumeToken = '';
        this.emit('message', { type: MSG.sessionLost });
        this.restartSocket();
        return;
      }
      if (isFatal(msg.code) && (!this.ready || msg.id === this.helloId)) {
        this.fail({ code: msg.code, message: msg.message || msg.code });
        return;
      }
    }
    if (msg.id && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.type === MSG.error) p.reject(Object.assign(new Error(msg.message || msg.code), { code: msg.code }));
      else p.resolve(msg);
    }
    this.emit('message', msg);
  }

  // send delivers a message now, or, for signal/update while the socket is
  // down, keeps it until the session is resumed (a fresh session drops them:
  // they were addressed to peer ids of the old one).
  send(msg) {
    if (!this.ready) {
      if ((msg.type === MSG.signal || msg.type === MSG.update) && this.resumeToken && this.outbox.length < 500) {
        this.outbox.push(envelope(msg));
        return true;
      }
      return false;
    }
    return this.raw(envelope(msg));
  }

  // request sends a message with an id and resolves with the reply that echoes it.
  request(msg, timeoutMs = 10000) {
    const id = this.newId();
    return new Promise((resolve, reject) => {
      if (!this.send({ ...msg, id })) { reject(new Error('signaling not connected')); return; }
      const t = setTimeout(() => { this.pending.delete(id); reject(new Error(`${msg.type}: timeout`)); }, timeoutMs);
      this.pending.set(id, {
        resolve: (m) => { clearTimeout(t); resolve(m); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
    });
  }

  raw(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  newId() { return String(this.nextId++); }

  restartSocket() {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) { ws.onclose = null; ws.onmessage = null; try { ws.close(CLOSE.normal); } catch { /* closing anyway */ } }
    this.connect();
  }

  scheduleRetry(reason, detail = '') {
    this.attempt++;
    // 0.25 s, 0.5 s, 1 s, 2 s, 4 s, then every 5 s, with jitter so a room does not stampede.
    const base = Math.min(5000, 250 * 2 ** (this.attempt - 1));
    const delay = Math.max(this.retryAfter, Math.round(base * (0.75 + Math.random() * 0.5)));
    this.retryAfter = 0;
    this.emit('status', { state: 'reconnecting', delay, reason, detail, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // retryNow skips the backoff wait (the user pressed "Retry now").
  retryNow() {
    if (this.closed || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  fail(detail) {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.ws) { try { this.ws.close(CLOSE.normal); } catch { /* ignore */ } }
    this.ws = null;
    this.emit('status', { state: 'closed', reason: detail.message });
    this.emit('fatal', detail);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.ws) {
      this.raw(envelope({ type: MSG.leave }));
      try { this.ws.close(CLOSE.normal); } catch { /* ignore */ }
    }
    this.ws = null;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}

// fetchHello opens a short-lived signaling session just to get ICE servers
// (used by /diag). It resolves with the hello reply.
export function fetchHello({ name = 'diag', token = '', timeoutMs = 8000 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL());
    const t = setTimeout(() => { ws.close(); reject(new Error('no answer from the server')); }, timeoutMs);
    ws.onopen = () => {
      const hello = envelope({ type: MSG.hello, id: '1', name });
      if (token) hello.token = token;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      const msg = decode(ev.data);
      if (!msg) return;
      if (msg.type === MSG.hello) { clearTimeout(t); ws.close(CLOSE.normal); resolve(msg); }
      if (msg.type === MSG.error) { clearTimeout(t); ws.close(CLOSE.normal); reject(Object.assign(new Error(msg.message || msg.code), { code: msg.code })); }
    };
    ws.onerror = () => { clearTimeout(t); reject(new Error('cannot reach the server')); };
  });
}
