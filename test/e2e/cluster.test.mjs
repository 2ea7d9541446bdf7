// Two rtcd nodes sharing rooms through Redis (docs/cluster.md): two browser
// pages, each on a different node, connect to each other, directly and
// through the nodes' TURN relays. redis-server (Debian's package) is started
// on a free loopback port without persistence and killed by PID at the end;
// the test is skipped when it is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import * as L from './lib.mjs';

let browser;
let nodes = [];
let redisMissing = false;

function which(bin) {
  try { return execFileSync('sh', ['-c', `command -v ${bin}`]).toString().trim(); } catch { return ''; }
}

// ClusterDaemon is lib.mjs's Daemon with a Cluster section.
class ClusterDaemon extends L.Daemon {
  config() {
    return `${super.config()}Cluster:
  Enabled: true
  RedisAddr: 127.0.0.1:${this.redisPort}
  NodeID: ${this.nodeID}
  HeartbeatInterval: 200ms
  NodeTTL: 2s
`;
  }
}

async function startRedis() {
  const bin = which('redis-server');
  if (!bin) return null;
  const port = await L.freePort();
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: 'ignore' });
  proc.on('exit', () => { proc.exited = true; });
  cleanup.add(async () => {
    if (!proc.exited) { proc.kill('SIGKILL'); while (!proc.exited) await L.sleep(20); }
  });
  await L.waitFor('redis-server to listen', () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  }), 5000, 50);
  L.log(`redis-server pid ${proc.pid} on 127.0.0.1:${port}`);
  return port;
}

const cleanup = L.suite(async () => {
  const redisPort = await startRedis();
  if (!redisPort) { redisMissing = true; return; }
  const secret = `e2e-cluster-${process.pid}-${Date.now()}`;
  for (const id of ['node-a', 'node-b']) {
    // Daemon.create builds a plain Daemon (ports, relay range): give it the Cluster section.
    // Both nodes are 127.0.0.1 here (real nodes have addresses of their
    // own), and a relay reaches its own address only at its own allocations:
    // the other node's relay needs the address allowed.
    const d = Object.setPrototypeOf(await L.Daemon.create({ secret, turn: { AllowPeers: ['127.0.0.1/32'] } }), ClusterDaemon.prototype);
    Object.assign(d, { redisPort, nodeID: id });
    cleanup.add(() => d.stop({ hard: true }));
    await d.start();
    await L.waitFor(`${id} /readyz`, async () => (await d.get('/readyz')).status === 200, 10000, 50);
    assert.match(d.config(), /Cluster:\n  Enabled: true/);
    nodes.push(d);
  }
  browser = await L.startBrowser(cleanup);
});

async function callAcross(t, relay) {
  if (redisMissing) { t.skip('redis-server not installed (test/deps.sh installs it)'); return; }
  const r = `cluster-${relay ? 'relay' : 'direct'}-${Date.now().toString(36)}`;
  let a, b;
  try {
    a = await L.openCall(browser, nodes[0].url, r, { name: 'OnA', relay });
    b = await L.openCall(browser, nodes[1].url, r, { name: 'OnB', relay });
    const [ta] = await L.waitConnected(a.page, 1, 20000);
    const [tb] = await L.waitConnected(b.page, 1, 20000);
    assert.equal(ta.name, 'OnB');
    assert.equal(tb.name, 'OnA');
    const [ma] = await L.waitVideo(a.page, 1, 20000);
    const [mb] = await L.waitVideo(b.page, 1, 20000);
    L.log(`cross-node call (${relay ? 'relay' : 'direct'}) connected ${Date.now() - b.opened} ms after the second page opened;`,
      `A local ${ma.local?.type} ${ma.local?.url || ''}, B local ${mb.local?.type} ${mb.local?.url || ''}`);
    if (relay) {
      assert.equal(ma.local.type, 'relay');
      assert.equal(mb.local.type, 'relay');
      // Each page allocated on its own node's relay.
      assert.match(ma.local.url || '', new RegExp(`:${nodes[0].turnPort}\\b`), `A relays on node A: ${JSON.stringify(ma.local)}`);
      assert.match(mb.local.url || '', new RegExp(`:${nodes[1].turnPort}\\b`), `B relays on node B: ${JSON.stringify(mb.local)}`);
    }
  } catch (err) {
    await L.screenshotAll(browser, `cluster-${relay ? 'relay' : 'direct'}`);
    for (const d of nodes) L.log(`${d.nodeID} log tail:\n${d.tail()}`);
    throw err;
  } finally {
    for (const u of [a, b]) if (u) await u.ctx.close().catch(() => {});
  }
}

test('two pages on different nodes connect directly', (t) => callAcross(t, false));
test('two pages on different nodes connect through their own nodes\' relays', (t) => callAcross(t, true));

test('no page threw or hit the CSP', () => {
  assert.deepEqual(L.problems, []);
});
