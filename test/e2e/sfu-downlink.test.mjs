// A media server subscriber whose downlink is short: the traffic towards
// its page's UDP port is limited with tc on the namespace's lo (netem
// rate, a short queue), the server moves it to a lower simulcast layer,
// its video keeps decoding and its audio keeps arriving, and once the limit
// is gone it gets the full layer again.
//
// Needs run.sh's network namespace as root (tc on the namespace's lo only);
// skipped elsewhere, so a host's own lo is never shaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as L from './lib.mjs';

const SFU = { Loopback: true, UDP: '127.0.0.1:0', TCP: '127.0.0.1:0' };
const inNamespace = process.env.E2E_NETNS === '1' && process.getuid?.() === 0;

let daemon;
let browser;
L.suite(async (c) => {
  if (!inNamespace) return;
  daemon = await L.startDaemon(c, { signal: { Media: 'sfu' }, sections: { SFU }, metricsPort: await L.freePort() });
  browser = await L.startBrowser(c);
  c.add(() => unshape()); // also when a test failed half way
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [daemon] });

function tc(...args) {
  return execFileSync('tc', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

// shape sends the UDP datagrams to port on lo through an HTB class of
// rate (e.g. 200kbit) with a FIFO of limit packets, so what does not fit
// queues and then drops; everything else takes the default class, at
// 10gbit. (This kernel has htb, pfifo and u32, but no netem or prio.)
function shape(port, rate, limit) {
  unshape();
  tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '10');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit');
  tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:30', 'htb', 'rate', rate, 'ceil', rate);
  tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:30', 'handle', '30:', 'pfifo', 'limit', String(limit));
  tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32',
    'match', 'ip', 'protocol', '17', '0xff', 'match', 'ip', 'dport', String(port), '0xffff', 'flowid', '1:30');
  L.log(`tc: ${tc('class', 'show', 'dev', 'lo').trim().replace(/\n\s*/g, ' | ')}`);
}

// unshape removes the root qdisc of lo (and with it every rule above).
function unshape() {
  if (!inNamespace) return;
  try {
    const st = tc('-s', 'qdisc', 'show', 'dev', 'lo', 'parent', '1:30').trim();
    if (st) L.log(`tc before removal: ${st.replace(/\n\s*/g, ' | ')}`);
    tc('qdisc', 'del', 'dev', 'lo', 'root');
  } catch { /* none */ }
}

// sfuMetrics reads the room's layer switches and the server's estimate towards peer.
async function sfuMetrics(room, peer) {
  const m = await daemon.metrics();
  return {
    switches: m[`rtcd_sfu_layer_switches_total{room="${room}"}`] ?? 0,
    estimate: m[`rtcd_sfu_estimated_bitrate_bps{peer="${peer}",room="${room}"}`] ?? 0,
  };
}

// Received is what the subscriber gets of its one participant, with the
// video rate since the previous read.
class Received {
  constructor(page) { this.page = page; this.prev = null; }
  async read() {
    const [m] = await L.media(this.page);
    if (!m) return null;
    const now = Date.now();
    const kbps = this.prev && now > this.prev.at ? Math.round((m.video.bytesReceived - this.prev.bytes) * 8 / (now - this.prev.at)) : 0;
    this.prev = { at: now, bytes: m.video.bytesReceived };
    return { ...m, kbps };
  }
}

test('a subscriber with a limited downlink gets a lower layer, keeps decoding, and recovers', { skip: !inNamespace && 'needs test/e2e/run.sh as root (a network namespace for tc)' }, async () => {
  let ann, ben;
  await step('sfu-downlink', async () => {
    const room = L.roomName('sfu-down');
    // Ann publishes; Ben's window is large, so his tile of Ann wants her
    // top layer. For the fake camera's 640x480 Chromium sends two of the
    // three encodings, q 160x120 and h 320x240 (f is left out), so
    // "full" here is the widest Ann sends.
    ann = await L.openCall(browser, daemon.url, room, { name: 'Ann', viewport: { width: 640, height: 480 } });
    ben = await L.openCall(browser, daemon.url, room, { name: 'Ben', viewport: { width: 1600, height: 1000 } });
    await L.waitConnected(ben.page, 1, 30000);
    const benId = await ben.page.$eval('body', (e) => e.dataset.selfId);
    const rx = new Received(ben.page);
    const watch = async (what, cond, timeoutMs) => L.waitFor(what, async () => {
      const m = await rx.read();
      const s = await sfuMetrics(room, benId);
      const sent = await ann.page.evaluate(() => window.rtcdTest.sent());
      L.log(`Ann sends ${sent.map((e) => `${e.rid}:${e.frameWidth}${e.active ? '' : '(off)'}/${e.bytesSent}/${e.qualityLimitationReason}`).join(' ')}`);
      if (m) L.log(`Ben: ${m.videoWidth}x? frames ${m.framesDecoded} video ${m.kbps} kbit/s audio bytes ${m.audio?.bytesReceived}; server estimate ${s.estimate}, switches ${s.switches}`);
      return m && cond(m, s) ? { m, s } : false;
    }, timeoutMs, 1000);

    const top = await L.waitFor('Ann sends two layers or more', async () => {
      const sent = (await ann.page.evaluate(() => window.rtcdTest.sent())).filter((e) => e.frameWidth > 0);
      return sent.length >= 2 ? Math.max(...sent.map((e) => e.frameWidth)) : false;
    }, 30000, 500);
    L.log(`Ann's widest layer: ${top} px`);
    const full = await watch('Ben decodes Ann in the full layer', (m) => m.framesDecoded > 0 && m.videoWidth >= top, 60000);
    const port = full.m.local.port;
    assert.equal(full.m.local.protocol, 'udp', JSON.stringify(full.m.local));
    L.log(`Ben's port to the server: ${port} (server ${full.m.remote.port})`);

    // Limit what reaches Ben's port: the server must step him down.
    shape(port, '200kbit', 25);
    const low = await watch('Ben on a lower layer', (m) => m.videoWidth > 0 && m.videoWidth < top, 90000);
    assert.ok(low.s.switches > full.s.switches, `layer switches ${full.s.switches} -> ${low.s.switches}`);
    // Still moving, not frozen on the last big frame, and audio arrives.
    await watch('Ben keeps decoding the lower layer', (m) => m.videoWidth < top &&
      m.framesDecoded >= low.m.framesDecoded + 30 && m.audio.bytesReceived > low.m.audio.bytesReceived && m.audioLive, 60000);

    // The limit goes: Ben is back on the full layer, decoding.
    unshape();
    const back = await watch('Ben back on the full layer', (m) => m.videoWidth >= top, 120000);
    await watch('Ben keeps decoding the full layer', (m) => m.videoWidth >= top &&
      m.framesDecoded >= back.m.framesDecoded + 30 && m.audio.bytesReceived > back.m.audio.bytesReceived && m.audioLive, 60000);
    assert.ok(back.s.switches > low.s.switches, `layer switches ${low.s.switches} -> ${back.s.switches}`);
  });
  unshape();
  await L.closeAll(ann, ben);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
