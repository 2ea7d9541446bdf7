// Helpers for the browser tests: build and run the rtcd daemon on free
// loopback ports, launch Debian's Chromium through playwright-core with fake
// media, and read the call page's state. Every process started here is
// tracked by PID and killed in cleanup, also when a test fails.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const artifacts = path.join(here, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
export function log(...a) {
  if (process.env.E2E_QUIET) return;
  console.error(`[e2e +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// freePort finds a port free on 127.0.0.1 for both TCP and UDP (TURN uses
// both). It picks from 20000-31999, below Linux's ephemeral range, so that no
// browser socket takes the port while the daemon is down for a restart test.
export async function freePort() {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const tcpOK = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!tcpOK) continue;
    const udpOK = await new Promise((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpOK) return port;
  }
  throw new Error('no free port');
}

let built = null;
// buildDaemon compiles ./cmd/rtcd once per test process into a temp dir.
// RTCD_BIN (set by run.sh) skips the build.
export function buildDaemon() {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcd-e2e-'));
  if (process.env.RTCD_BIN) {
    built = { dir, bin: process.env.RTCD_BIN };
    return built;
  }
  const bin = path.join(dir, 'rtcd');
  const started = Date.now();
  execFileSync('go', ['build', '-o', bin, './cmd/rtcd'], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
  log(`built daemon in ${Date.now() - started} ms`);
  built = { dir, bin };
  return built;
}

// removeTemp deletes the temp dir of configs and logs (call it last).
export function removeTemp() {
  if (built && !process.env.E2E_KEEP) fs.rmSync(built.dir, { recursive: true, force: true });
}

// Daemon runs the rtcd binary with a generated config on fixed (chosen free)
// ports, so that it can be restarted on the same addresses mid-call.
export class Daemon {
  // signal: extra Signal keys (e.g. {Mode: 'token', RoomSize: 2}); tokenSecret: Auth.TokenSecret;
  // sections: more top-level sections, each {Key: value} (e.g. {SFU: {Loopback: true}}).
  // tls: {certFile, keyFile, caPem, host, turnsPort, onePort, metricsPort}: HTTPS/WSS on the main
  // port (url is https://<host>:<port>), Turn.TLSListen on turnsPort when set, TURN over TLS on
  // the main port with onePort, Turn.PublicHost = host, and go-zero's DevServer (/metrics) on
  // 127.0.0.1:metricsPort when set. metricsPort: the DevServer (/metrics) without TLS.
  constructor({ httpPort, turnPort, relayMin, relayMax, secret, dir, signal = {}, turn = {}, sections = {}, tokenSecret = '', tls = null, metricsPort = 0 }) {
    // The media server listens on free loopback ports, so daemons side by side never collide.
    sections = { ...sections, SFU: { UDP: '127.0.0.1:0', TCP: '127.0.0.1:0', Loopback: true, ...sections.SFU } };
    // The calls of most tests are peer to peer, rooms of up to Signal.RoomSize: they pin mesh, and
    // the media server's tests ask for auto or sfu.
    signal = { Media: 'mesh', ...signal };
    metricsPort = metricsPort || tls?.metricsPort || 0;
    Object.assign(this, { httpPort, turnPort, relayMin, relayMax, secret, dir, signal, turn, sections, tokenSecret, tls, metricsPort });
    this.proc = null;
    this.url = tls ? `https://${tls.host}:${httpPort}` : `http://127.0.0.1:${httpPort}`;
    this.cfgPath = path.join(dir, `rtcd-${httpPort}.yaml`);
    this.logPath = path.join(dir, `rtcd-${httpPort}.log`);
  }

  static async create(opts = {}) {
    const { dir } = buildDaemon();
    const httpPort = await freePort();
    let turnPort = await freePort();
    while (turnPort === httpPort) turnPort = await freePort();
    // A small relay port range, also below the ephemeral range.
    const base = 12000 + Math.floor(Math.random() * 80) * 100;
    return new Daemon({ httpPort, turnPort, relayMin: base, relayMax: base + 99, secret: `e2e-${process.pid}-${Date.now()}`, dir, ...opts });
  }

  config() {
    return `Name: rtcd-e2e
Host: 127.0.0.1
Port: ${this.httpPort}
Timeout: 10000
Log:
  Encoding: plain
  Level: ${process.env.E2E_DAEMON_LOG || 'error'}
  Stat: false
Auth:
  Secrets: ["${this.secret}"]
  TTL: 1h
${this.tokenSecret ? `  TokenSecret: "${this.tokenSecret}"\n` : ''}${this.tlsConfig()}Turn:
  Listen: 127.0.0.1:${this.turnPort}
  PublicIP: 127.0.0.1
  Realm: rtcd
  MinPort: ${this.relayMin}
  MaxPort: ${this.relayMax}
${Object.entries(this.turn).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}${this.tls ? `${this.tls.turnsPort ? `  TLSListen: 127.0.0.1:${this.tls.turnsPort}\n` : ''}  OnePort: ${!!this.tls.onePort}
  PublicHost: ${this.tls.host}
` : ''}Signal:
${Object.entries({ Mode: 'open', ...this.signal }).map(([k, v]) => `  ${k}: ${v}`).join('\n')}
${Object.entries(this.sections).map(([name, keys]) => `${name}:\n${Object.entries(keys).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('')}`).join('')}`;
  }

  tlsConfig() {
    const t = this.tls;
    return `${t ? `TLS:
  CertFile: ${t.certFile}
  KeyFile: ${t.keyFile}
` : ''}${this.metricsPort ? `DevServer:
  Enabled: true
  Host: 127.0.0.1
  Port: ${this.metricsPort}
  EnableMetrics: true
  EnablePprof: false
` : ''}`;
  }

  // get fetches a path of the daemon: over HTTPS it trusts the test CA only
  // (node's fetch cannot be given a CA), and connects to 127.0.0.1 with the
  // certificate's name as SNI.
  get(pathname) {
    if (!this.tls) return fetch(`${this.url}${pathname}`).then(async (r) => ({ status: r.status, body: await r.text() }));
    return httpsGet({ host: '127.0.0.1', port: this.httpPort, servername: this.tls.host, ca: this.tls.caPem, path: pathname });
  }

  // metrics scrapes the DevServer's Prometheus text into {name{labels}: value}.
  async metrics() {
    if (!this.metricsPort) throw new Error('no metricsPort');
    const r = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const out = {};
    for (const line of (await r.text()).split('\n')) {
      const m = /^(rtcd_[\w]+(?:\{[^}]*\})?) ([\d.e+-]+)$/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }

  async start() {
    fs.writeFileSync(this.cfgPath, this.config());
    const out = fs.openSync(this.logPath, 'a');
    const started = Date.now();
    this.proc = spawn(built.bin, ['-f', this.cfgPath], { stdio: ['ignore', out, out], detached: false });
    fs.closeSync(out);
    const proc = this.proc;
    proc.on('exit', (code, sig) => { proc.exited = { code, sig }; });
    for (;;) {
      if (proc.exited) throw new Error(`rtcd exited at start (${JSON.stringify(proc.exited)}): ${this.tail()}`);
      try {
        const r = await this.get('/healthz');
        if (r.status === 200) break;
      } catch { /* not yet */ }
      if (Date.now() - started > 15000) throw new Error(`rtcd not ready after 15 s: ${this.tail()}`);
      await sleep(50);
    }
    log(`rtcd pid ${proc.pid} ready on ${this.url} (turn ${this.turnPort}) in ${Date.now() - started} ms`);
    return this;
  }

  tail() {
    try { return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
  }

  // stop kills the daemon by PID. hard: SIGKILL (a crash), else SIGTERM (a restart).
  async stop({ hard = false } = {}) {
    const proc = this.proc;
    if (!proc || proc.exited) return;
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    const deadline = Date.now() + 8000;
    while (!proc.exited && Date.now() < deadline) await sleep(25);
    if (!proc.exited) { proc.kill('SIGKILL'); while (!proc.exited) await sleep(25); }
    log(`rtcd pid ${proc.pid} stopped (${hard ? 'SIGKILL' : 'SIGTERM'})`);
  }
}

// httpsGet is a GET over TLS with its own CA (and SNI), for test servers.
function httpsGet({ host, port, servername, ca, path: p }) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, servername, ca, path: p, headers: { host: `${servername}:${port}` }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// makeCerts writes a throw-away CA and a server certificate for name (and
// the IP 127.0.0.1) into dir with openssl, the way deploy/smoke.sh does. It
// returns the file names, the CA's PEM and the base64 SHA-256 of the server
// key's SubjectPublicKeyInfo (for --ignore-certificate-errors-spki-list).
export function makeCerts(dir, name) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n) => path.join(dir, n);
  const ossl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=rtcd e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,digitalSignature', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', f('server.key'), '-out', f('server.csr'));
  fs.writeFileSync(f('server.ext'), `subjectAltName=DNS:${name},IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`);
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem'));
  fs.writeFileSync(f('fullchain.pem'), fs.readFileSync(f('server.pem'), 'utf8') + fs.readFileSync(f('ca.pem'), 'utf8'));
  const caPem = fs.readFileSync(f('ca.pem'), 'utf8');
  const spki = new crypto.X509Certificate(fs.readFileSync(f('server.pem'))).publicKey.export({ type: 'spki', format: 'der' });
  const caSpki = new crypto.X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  const b64 = (der) => crypto.createHash('sha256').update(der).digest('base64');
  return { certFile: f('fullchain.pem'), keyFile: f('server.key'), caFile: f('ca.pem'), caPem, spkiHash: b64(spki), caSpkiHash: b64(caSpki) };
}

// launchBrowser starts headless Chromium with fake devices (browser-e2e.md).
// hosts maps extra names to addresses ({'rtc.test': '127.0.0.1'}), inside the
// one --host-resolver-rules switch Chromium keeps; args are extra switches.
// env: the browser's environment (e.g. a HOME whose NSS database trusts a test CA).
// devices: 'fake' (a fake camera and microphone, allowed), 'none' (no fake
// devices: inside the namespace there are none, getUserMedia finds nothing)
// or 'denied' (fake devices, but no fake permission prompt: headless
// Chromium refuses them as a user who says no).
export async function launchBrowser({ hosts = {}, args = [], env, devices = 'fake' } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run test/e2e/run.sh (it installs chromium)`);
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    ...(env ? { env } : {}),
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(devices === 'none' ? [] : ['--use-fake-device-for-media-stream']),
      ...(devices === 'denied' ? [] : ['--use-fake-ui-for-media-stream']),
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
      '--auto-select-desktop-capture-source=Entire screen',
      `--host-resolver-rules=${Object.entries(hosts).map(([h, a]) => `MAP ${h} ${a} , `).join('')}MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1 , EXCLUDE ::1`,
      // One merged --disable-features: Chromium keeps only the last one.
      `--disable-features=${PLAYWRIGHT_DISABLED_FEATURES},WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints`,
      ...args,
    ],
  });
  log(`chromium ${browser.version()} launched in ${Date.now() - started} ms`);
  return browser;
}

// Playwright's own --disable-features list (chromiumSwitches in playwright-core
// 1.65), restated because Chromium keeps only the last --disable-features switch
// and ours comes after Playwright's.
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync', 'DestroyProfileOnBrowserClose', 'HttpsUpgrades', 'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay', 'PaintHolding', 'ThirdPartyStoragePartitioning', 'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin', 'NetworkTimeServiceQuerying', 'AimEnabled', 'PreconnectToSearch',
].join(',');

// problems collects uncaught page errors and CSP violations from every watched
// page; the suites assert it stays empty.
export const problems = [];

export function watchPage(page, name) {
  page.on('pageerror', (e) => { problems.push(`[${name}] ${e.message}`); log(`[${name}] pageerror: ${e.message}`); });
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy/i.test(text)) problems.push(`[${name}] ${text}`);
    if (process.env.E2E_CONSOLE || m.type() === 'error') log(`[${name}] ${m.type()}: ${text}`);
  });
}

// smallCamera makes the fake camera of every page of ctx capture at most
// 320x240 (the page asks for 640x480), so a test with several cameras costs
// less CPU on a shared machine.
export function smallCamera(ctx) {
  return ctx.addInitScript(() => {
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) return;
    const real = md.getUserMedia.bind(md);
    md.getUserMedia = (c) => {
      if (!c?.video) return real(c);
      const v = typeof c.video === 'object' ? c.video : {};
      return real({ ...c, video: { ...v, width: { max: 320 }, height: { max: 240 } } });
    };
  });
}

// openCall opens /r/<room> in a fresh context (a separate user). It joins
// at once (?prejoin=0) unless prejoin is true (the pre-join screen); small
// caps the camera at 320x240 (smallCamera).
// query: extra query parameters (e.g. {turnport: 443}).
export async function openCall(browser, base, room, { name, relay = false, transport = '', viewer = false, viewport, query = {}, prejoin = false, small = false } = {}) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 960, height: 640 } });
  if (small) await smallCamera(ctx);
  const page = await ctx.newPage();
  watchPage(page, name);
  const q = new URLSearchParams({ name });
  if (!prejoin) q.set('prejoin', '0');
  if (relay) q.set('relay', '1');
  if (transport) q.set('transport', transport);
  if (viewer) q.set('viewer', '1');
  for (const [k, v] of Object.entries(query)) q.set(k, String(v));
  const opened = Date.now();
  await page.goto(`${base}/r/${room}?${q}`);
  return { ctx, page, name, opened };
}

// tiles reads every remote tile's contract attributes.
export function tiles(page) {
  return page.$$eval('[data-peer-id]', (els) => els.map((e) => ({
    id: e.dataset.peerId, state: e.dataset.state, path: e.dataset.path, transport: e.dataset.transport,
    audio: e.dataset.audio, video: e.dataset.video, name: e.querySelector('.name')?.textContent,
    hasVideo: !!e.querySelector('video'), media: e.dataset.media, speaking: e.dataset.speaking,
  })));
}

// waitFor polls fn until it returns a truthy value or the timeout passes.
export async function waitFor(what, fn, timeoutMs = 15000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

// waitConnected waits until the page has n remote tiles, all connected.
export function waitConnected(page, n, timeoutMs = 15000) {
  return waitFor(`${n} connected tile(s)`, async () => {
    const t = await tiles(page);
    return t.length === n && t.every((x) => x.state === 'connected' && x.path) ? t : false;
  }, timeoutMs);
}

// media reads, for each remote peer, what the browser really receives: the
// selected candidate pair, inbound video frames and the <video> element size
// (window.rtcdTest.stats(), see README.md).
export async function media(page) {
  const stats = await page.evaluate(() => window.rtcdTest.stats());
  return stats.map((s) => ({
    id: s.id,
    framesDecoded: s.framesDecoded,
    bytesReceived: s.bytesReceived,
    videoWidth: s.videoWidth,
    local: s.local ? { type: s.local.candidateType, protocol: s.local.protocol, relayProtocol: s.local.relayProtocol, address: s.local.address, port: s.local.port, url: s.local.url } : null,
    remote: s.remote ? { type: s.remote.candidateType, protocol: s.remote.protocol, address: s.remote.address, port: s.remote.port } : null,
    rtt: s.rtt,
    audio: s.audio,
    video: s.video,
    audioLive: s.audioLive,
  }));
}

// peers reads the page's participants (window.rtcdTest.peers()).
export function peers(page) { return page.evaluate(() => window.rtcdTest.peers()); }

// waitVideo waits until every remote video on the page decodes frames.
export function waitVideo(page, n, timeoutMs = 15000) {
  return waitFor(`${n} decoding video(s)`, async () => {
    const m = await media(page);
    return m.length === n && m.every((x) => x.framesDecoded > 0 && x.videoWidth > 0) ? m : false;
  }, timeoutMs);
}

// Cleanup collects teardown steps and runs them in reverse, ignoring errors.
export class Cleanup {
  constructor() { this.fns = []; }
  add(fn) { this.fns.push(fn); }
  async run() {
    for (const fn of this.fns.reverse()) {
      try { await fn(); } catch (e) { log('cleanup:', e.message); }
    }
    this.fns = [];
  }
}

// suite registers the hooks of a test file: setup runs before the first test
// with the file's Cleanup (which also removes the temporary directory), and
// the cleanup runs after the last test, also when one failed. With timings,
// they are logged first.
export function suite(setup, { timings } = {}) {
  const cleanup = new Cleanup();
  before(async () => {
    cleanup.add(() => removeTemp());
    await setup(cleanup);
  });
  after(async () => {
    if (timings) log('timings (ms):', JSON.stringify(timings));
    await cleanup.run();
  });
  return cleanup;
}

// startDaemon creates and starts a Daemon (opts as Daemon.create) that
// cleanup kills.
export async function startDaemon(cleanup, opts) {
  const d = await Daemon.create(opts);
  cleanup.add(() => d.stop({ hard: true }));
  await d.start();
  return d;
}

// startBrowser launches Chromium (opts as launchBrowser) that cleanup closes.
export async function startBrowser(cleanup, opts) {
  const b = await launchBrowser(opts);
  cleanup.add(() => b.close());
  return b;
}

// step runs a test body; when it throws, it saves a screenshot of every page
// of browser and logs the tail of each daemon's log, then rethrows.
export async function step(label, fn, { browser, daemons = [] } = {}) {
  try {
    await fn();
  } catch (err) {
    await screenshotAll(browser, label);
    for (const d of daemons) if (d) log('daemon log tail:\n' + d.tail());
    throw err;
  }
}

// closeAll closes the browser contexts of the users openCall returned.
export async function closeAll(...users) {
  for (const u of users) if (u) await u.ctx.close().catch(() => {});
}

// roomName is a fresh room name with a readable prefix.
export function roomName(prefix) { return `${prefix}-${Date.now().toString(36)}`; }

// screenshotAll saves a PNG of every open page (called on failure).
export async function screenshotAll(browser, label) {
  if (!browser) return [];
  fs.mkdirSync(artifacts, { recursive: true });
  const saved = [];
  let i = 0;
  for (const ctx of browser.contexts()) {
    for (const page of ctx.pages()) {
      const file = path.join(artifacts, `${label.replace(/[^\w.-]+/g, '_')}-${++i}.png`);
      try { await page.screenshot({ path: file, timeout: 5000 }); saved.push(file); } catch (e) { log('screenshot failed', e.message); }
    }
  }
  if (saved.length) log('screenshots:', saved.join(' '));
  return saved;
}

// shot saves one page's screenshot under artifacts/ (kept for people to look at).
export async function shot(page, name) {
  fs.mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// jwtHS256 mints a join token the way an operator's app would (docs/protocol.md §6).
export function jwtHS256(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  const sig = crypto.createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${sig}`;
}
