// /diag: gathers ICE candidates against each STUN/TURN address the daemon
// hands out (one RTCPeerConnection per URL), then makes a relay-only call
// between two local connections through the relay. Results go in a table and
// a few sentences of advice. document.body.dataset.status ends as "done" or
// "error" so tests can wait for it, and the test hook (testhook.js) gives
// the last run's results.
import { ERR } from './protocol.js';
import { fetchHello } from './signal.js';
import { el } from './util.js';
import { exposeDiag } from './testhook.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const TIMEOUT_MS = 6000;
let last = null; // the last run's {results, call}, for the test hook
exposeDiag(() => last);

function describe(url) {
  const m = /^(stuns?|turns?):(?:\/\/)?([^?]+)(?:\?(.*))?$/i.exec(url) || [];
  const scheme = (m[1] || '').toLowerCase();
  const q = new URLSearchParams(m[3] || '');
  let transport = (q.get('transport') || 'udp').toUpperCase();
  if (scheme === 'turns' || scheme === 'stuns') transport = 'TLS';
  return { scheme, host: m[2] || url, transport, kind: scheme.startsWith('turn') ? 'TURN' : 'STUN' };
}

// probe gathers candidates for one URL. TURN is probed relay-only, so success
// means an allocation with these credentials worked.
async function probe(url, entry) {
  const d = describe(url);
  const server = { urls: [url] };
  if (entry.username) { server.username = entry.username; server.credential = entry.credential; }
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: d.kind === 'TURN' ? 'relay' : 'all' });
  const res = { url, ...d, ok: false, ms: null, detail: '', errors: [] };
  try {
    pc.createDataChannel('probe');
    const want = d.kind === 'TURN' ? 'relay' : 'srflx';
    let hostSeen = false;
    const done = new Promise((resolve) => {
      const t = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
      pc.onicecandidate = ({ candidate }) => {
        if (!candidate) { clearTimeout(t); resolve('complete'); return; }
        if (candidate.type === 'host') hostSeen = true;
        if (candidate.type === want && !res.ok) {
          res.ok = true;
          res.ms = Math.round(performance.now() - start);
          res.detail = `${want === 'relay' ? 'relay address' : 'your public address'} ${candidate.address}:${candidate.port}`;
          clearTimeout(t);
          resolve('found');
        }
      };
      pc.onicecandidateerror = (e) => {
        res.errors.push(`${e.errorCode} ${e.errorText || ''}`.trim());
      };
    });
    const start = performance.now();
    await pc.setLocalDescription(await pc.createOffer());
    const how = await done;
    if (!res.ok) {
      if (res.errors.some((e) => e.startsWith('401'))) res.detail = 'credentials refused (401)';
      else if (res.errors.some((e) => e.startsWith('403'))) res.detail = 'refused by the server (403)';
      else if (res.errors.length) res.detail = res.errors[0];
      else if (how === 'timeout') res.detail = 'no answer (blocked or not listening)';
      else if (d.kind === 'STUN' && hostSeen) {
        // Gathering finished quickly without a server-reflexive candidate: the server
        // answered with an address equal to a local one (Chrome drops such duplicates),
        // so there is no NAT in between. A dead server leaves gathering running instead.
        res.ok = true;
        res.ms = Math.round(performance.now() - start);
        res.detail = 'answers; it sees your own address (no NAT in between)';
      } else res.detail = 'no candidate';
    }
  } catch (err) {
    res.detail = String(err.message || err);
  } finally {
    pc.close();
  }
  return res;
}

// relayCall connects two local peers, both relay-only, and measures the round
// trip over a data channel through the relay.
async function relayCall(iceServers) {
  const cfg = { iceServers, iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(cfg);
  const b = new RTCPeerConnection(cfg);
  const res = { ok: false, detail: '', rtt: null, transport: '' };
  try {
    a.onicecandidate = ({ candidate }) => candidate && b.addIceCandidate(candidate).catch(() => {});
    b.onicecandidate = ({ candidate }) => candidate && a.addIceCandidate(candidate).catch(() => {});
    const ch = a.createDataChannel('echo');
    b.ondatachannel = ({ channel }) => { channel.onmessage = (e) => channel.send(e.data); };
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no connection through the relay within 8 s')), 8000);
      ch.onopen = () => { clearTimeout(t); resolve(); };
    });
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await new Promise((resolve) => { ch.onmessage = () => resolve(); ch.send(`ping${i}`); });
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    res.rtt = Math.round(times[2]);
    const stats = await a.getStats();
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = stats.get(r.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local) res.transport = (local.relayProtocol || local.protocol || '').toUpperCase();
      }
    });
    res.ok = true;
    res.detail = `data went through the relay and back${res.transport ? ` (browser to relay over ${res.transport})` : ''}`;
  } catch (err) {
    res.detail = String(err.message || err);
  } finally {
    a.close();
    b.close();
  }
  return res;
}

function row(cells, cls) {
  const tr = el('tr');
  cells.forEach((c, i) => tr.append(el('td', { text: c, class: i === 2 ? cls : '' })));
  $('results').tBodies[0].append(tr);
}

function advise(results, call) {
  const out = [];
  const turn = results.filter((r) => r.kind === 'TURN');
  const by = (t) => turn.filter((r) => r.transport === t);
  const ok = (t) => by(t).some((r) => r.ok);
  if (!turn.length) out.push('The server hands out no TURN relay. Calls between people behind strict firewalls or NATs will fail; configure Turn in rtcd.yaml.');
  if (turn.some((r) => /401/.test(r.detail))) out.push('The relay refused the credentials. The daemon and its TURN relay disagree on the secret or the clock: check Auth.Secrets and the server time.');
  if (turn.length && !turn.some((r) => r.ok)) out.push('No relay address works from this network. Open the TURN port (UDP and TCP) in the server\'s firewall, and check Turn.PublicIP is the address browsers can reach.');
  if (by('UDP').length && !ok('UDP') && (ok('TCP') || ok('TLS'))) out.push('UDP to the relay is blocked on this network; calls will go over TCP/TLS instead. They work, with a little more delay.');
  if (by('TLS').length && !ok('TLS') && ok('UDP')) out.push('TURN over TLS does not work, but UDP does. Only networks that allow nothing but HTTPS need TLS: check the certificate and the TLS port if you expect such users.');
  if (!by('TLS').length && turn.length) out.push('The server offers no TURN over TLS. People on networks that only allow web traffic (some offices, hotels) may not connect.');
  const stun = results.filter((r) => r.kind === 'STUN');
  if (stun.length && !stun.some((r) => r.ok)) out.push('The STUN server did not answer. Direct connections may still work, but open its UDP port.');
  if (call) {
    if (call.ok) out.push(`A test call through the relay worked: round trip ${call.rtt} ms.${call.rtt > 250 ? ' That is slow; calls will feel laggy.' : ''}`);
    else if (turn.some((r) => r.ok)) out.push(`A relay address was granted, but a test call through it failed (${call.detail}). The relay may refuse to relay between its own addresses, or a firewall blocks its relay port range.`);
  }
  if (!out.length || (turn.length && turn.every((r) => r.ok) && call?.ok)) out.unshift('Everything works: this browser can reach the server and its relay. Calls should connect.');
  return out;
}

async function run() {
  const btn = $('run');
  btn.disabled = true;
  document.body.dataset.status = 'running';
  $('results').tBodies[0].replaceChildren();
  $('results').hidden = true;
  $('advice').hidden = true;
  $('status').textContent = 'Asking the server for its STUN and TURN addresses…';
  let hello;
  try {
    hello = await fetchHello({ token: params.get('token') || '' });
  } catch (err) {
    $('status').textContent = err.code === ERR.unauthorized || err.code === ERR.tokenExpired
      ? 'This server needs an invite link: open /diag?token=… with a valid token.'
      : `Cannot reach the rtcd server: ${err.message}. Is the daemon running, and does this page come from it?`;
    document.body.dataset.status = 'error';
    btn.disabled = false;
    return;
  }
  const iceServers = hello.iceServers || [];
  const jobs = [];
  for (const entry of iceServers) {
    const urls = Array.isArray(entry.urls) ? entry.urls : [entry.urls];
    for (const url of urls) jobs.push(probe(url, entry));
  }
  $('status').textContent = `Testing ${jobs.length} address${jobs.length === 1 ? '' : 'es'}…`;
  const results = await Promise.all(jobs);
  $('results').hidden = false;
  for (const r of results) {
    row([`${r.kind} ${r.host}`, r.transport, r.ok ? `works — ${r.detail}` : `fails — ${r.detail}`, r.ms != null ? `${r.ms} ms` : '—'],
      r.ok ? (r.warn ? 'warn' : 'ok') : 'fail');
  }
  let call = null;
  const turnServers = iceServers.filter((s) => [].concat(s.urls).some((u) => /^turns?:/i.test(u)));
  if (turnServers.length && results.some((r) => r.kind === 'TURN' && r.ok)) {
    $('status').textContent = 'Making a test call through the relay…';
    call = await relayCall(turnServers);
    row(['Test call through the relay', call.transport || '—', call.ok ? `works — ${call.detail}` : `fails — ${call.detail}`, call.rtt != null ? `${call.rtt} ms round trip` : '—'], call.ok ? 'ok' : 'fail');
  }
  const list = $('advice-list');
  list.replaceChildren(...advise(results, call).map((t) => el('li', { text: t })));
  $('advice').hidden = false;
  $('status').textContent = 'Done.';
  document.body.dataset.status = 'done';
  btn.disabled = false;
  last = { results, call };
}

$('run').addEventListener('click', run);
if (params.get('auto') === '1') run();
