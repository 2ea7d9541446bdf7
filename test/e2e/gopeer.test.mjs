// The Go peer (client/, pion/webrtc) and the web app in one relay-only call
// through a real rtcd daemon: a browser page joins /r/<room>?relay=1 and
// test/e2e/gopeer (client.Dial with RelayOnly and Video) joins the same room
// as a subprocess. The page sees the Go peer connected over rtcd's relay,
// receives its video RTP and shows its chat line; the Go peer receives the
// page's RTP and chat line and reports them as one JSON line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as L from './lib.mjs';

let daemon;
let browser;
let gopeerBin;
const cleanup = L.suite(async (c) => {
  gopeerBin = buildGoPeer();
  daemon = await L.startDaemon(c);
  browser = await L.startBrowser(c);
});

// buildGoPeer uses GOPEER_BIN (set by run.sh) or builds ./test/e2e/gopeer.
function buildGoPeer() {
  if (process.env.GOPEER_BIN) return process.env.GOPEER_BIN;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gopeer-e2e-'));
  cleanup.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'gopeer');
  execFileSync('go', ['build', '-o', bin, './test/e2e/gopeer'], { cwd: L.repo, stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

// startGoPeer runs the Go peer; done resolves with its exit and stdout/stderr.
// It is killed by PID in cleanup, also when the test fails.
function startGoPeer(args) {
  const proc = spawn(gopeerBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.E2E_CONSOLE) for (const l of String(d).trimEnd().split('\n')) L.log(`[gopeer] ${l}`);
  });
  const done = new Promise((resolve) => {
    proc.on('exit', (code, sig) => { proc.exited = { code, sig }; });
    proc.on('close', () => resolve({ ...proc.exited, stdout, stderr }));
  });
  cleanup.add(async () => {
    if (proc.exited) return;
    proc.kill('SIGKILL');
    await done;
    L.log(`gopeer pid ${proc.pid} killed`);
  });
  L.log(`gopeer pid ${proc.pid} started`);
  return { proc, done, stderr: () => stderr };
}


// inboundVideo is the page's inbound video RTP from its only peer.
async function inboundVideo(page) {
  const [m] = await L.media(page);
  const v = m?.video || {};
  return { packetsReceived: v.packetsReceived || 0, bytesReceived: v.bytesReceived || 0, framesDecoded: v.framesDecoded || 0, codec: v.codec || '' };
}

test('a browser page and the Go peer call each other relay-only: video RTP both ways, chat both ways', async () => {
  let u;
  let gp;
  try {
    const room = `gopeer-${Date.now().toString(36)}`;
    u = await L.openCall(browser, daemon.url, room, { name: 'Alice', relay: true });
    await L.waitFor('page signaling', () => u.page.$eval('body', (b) => b.dataset.signal === 'connected'), 10000);
    gp = startGoPeer(['-url', daemon.url, '-room', room, '-name', 'GoPeer', '-timeout', '40s',
      '-expect-chat', 'hello from Alice', '-min-packets', '30']);

    // The page's tile for the Go peer: connected, over rtcd's relay.
    const [tile] = await L.waitConnected(u.page, 1, 20000);
    assert.equal(tile.name, 'GoPeer');
    assert.equal(tile.path, 'relay', `tile: ${JSON.stringify(tile)}`);
    const [m] = await L.media(u.page);
    assert.equal(m.local?.type, 'relay', `page local candidate: ${JSON.stringify(m.local)}`);
    assert.equal(m.local.address, '127.0.0.1');
    assert.ok(m.local.port >= daemon.relayMin && m.local.port <= daemon.relayMax,
      `page relay port ${m.local.port} in ${daemon.relayMin}-${daemon.relayMax}`);

    // The Go peer's video: its synthetic VP8 frames are not decodable video
    // (client/media.go), so the proof is inbound video RTP counted by Chromium.
    const v = await L.waitFor('video RTP from the Go peer at the page', async () => {
      const s = await inboundVideo(u.page);
      return s.packetsReceived >= 30 ? s : false;
    }, 15000);
    L.log(`page inbound video from GoPeer: ${JSON.stringify(v)}`);
    assert.match(v.codec, /VP8/i);

    // The Go peer's chat line shows in the page's chat log.
    await L.waitFor('GoPeer chat line at the page', () => u.page.$eval('#chat-log', (e) => e.textContent.includes('GoPeer:hello from GoPeer')), 15000);

    // The page answers in chat; the Go peer waits for it and for 30 RTP packets.
    await u.page.click('#btn-chat');
    await u.page.fill('#chat-input', 'hello from Alice');
    await u.page.press('#chat-input', 'Enter');

    const r = await Promise.race([gp.done, L.sleep(45000).then(() => null)]);
    assert.ok(r, `gopeer did not exit in time; stderr:\n${gp.stderr()}`);
    const line = r.stdout.trim().split('\n').pop();
    let res;
    try { res = JSON.parse(line); } catch { assert.fail(`gopeer printed no JSON (exit ${JSON.stringify(r)}):\n${r.stderr}`); }
    L.log(`gopeer result: ${line}`);
    assert.equal(r.code, 0, `gopeer exit ${r.code}: ${line}\n${r.stderr}`);
    assert.equal(res.ok, true);
    assert.equal(res.connected, true);
    assert.ok(res.rtpPackets >= 30, `gopeer RTP from the page: ${res.rtpPackets}`);
    assert.equal(res.chatReceived, 'hello from Alice');
    assert.equal(res.path.LocalType, 'relay', `gopeer path: ${JSON.stringify(res.path)}`);
    assert.equal(res.peerId, tile.id, 'the page\'s tile is the Go peer');
  } catch (err) {
    await L.screenshotAll(browser, 'gopeer');
    if (daemon) L.log('daemon log tail:\n' + daemon.tail());
    if (gp) L.log('gopeer stderr:\n' + gp.stderr());
    throw err;
  } finally {
    if (u) await u.ctx.close().catch(() => {});
  }
  assert.deepEqual(L.problems, [], 'no page errors or CSP violations');
});
