// Real-browser calls through a real rtcd daemon: two users see each other
// directly and through rtcd's TURN relay, see each other's mute and camera
// state, a third user joins and leaves, and the pages reconnect by themselves
// when the daemon is killed and started again on the same ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as L from './lib.mjs';

let daemon;
let browser;
const timings = {};
const cleanup = L.suite(async (c) => {
  daemon = await L.startDaemon(c);
  browser = await L.startBrowser(c);
}, { timings });

const step = (label, fn) => L.step(label, fn, { browser, daemons: [daemon] });
const room = L.roomName;
const closeAll = L.closeAll;

test('two users each decode the other\'s video over a direct path', async () => {
  let a, b;
  await step('direct', async () => {
    const r = room('direct');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
    const [ta] = await L.waitConnected(a.page, 1);
    timings.directPageLoadToConnected = Date.now() - b.opened;
    const [tb] = await L.waitConnected(b.page, 1);
    assert.equal(ta.name, 'Bob');
    assert.equal(tb.name, 'Alice');
    assert.ok(ta.hasVideo && tb.hasVideo, 'tiles hold a <video>');
    assert.equal(ta.path, 'direct');
    assert.equal(tb.path, 'direct');
    const [ma] = await L.waitVideo(a.page, 1);
    const [mb] = await L.waitVideo(b.page, 1);
    timings.directPageLoadToVideo = Date.now() - b.opened;
    assert.ok(ma.framesDecoded > 0 && ma.videoWidth > 0, `Alice decodes Bob: ${JSON.stringify(ma)}`);
    assert.ok(mb.framesDecoded > 0 && mb.videoWidth > 0, `Bob decodes Alice: ${JSON.stringify(mb)}`);
    assert.notEqual(ma.local.type, 'relay');
    assert.notEqual(mb.local.type, 'relay');
    // Audio flows too, and the fake microphone's beeps light the speaking indicator.
    const audioBytes = (await L.media(a.page))[0].audio.bytesReceived;
    assert.ok(audioBytes > 0, 'audio received');
    await L.waitFor('speaking indicator on Bob\'s tile', () => a.page.$eval('[data-peer-id]', (e) => e.dataset.speaking === 'true'), 8000, 50);
    // The page's own metric: navigation start to first connected peer.
    timings.bobFirstConnectedMetric = await b.page.evaluate(() => window.rtcdTest.metrics().firstConnectedMs);

    // Chat over the data channel.
    await a.page.click('#btn-chat');
    await a.page.fill('#chat-input', 'hello from Alice');
    await a.page.press('#chat-input', 'Enter');
    await L.waitFor('chat message at Bob', () => b.page.$eval('#chat-log', (e) => e.textContent.includes('Alice:hello from Alice')));
  });
  await closeAll(a, b);
});

test('mute, camera off and screen share are seen on the other side', async () => {
  let a, b;
  await step('state', async () => {
    const r = room('state');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
    await L.waitConnected(a.page, 1);
    await L.waitConnected(b.page, 1);
    const attr = async (k) => (await L.tiles(a.page))[0][k];
    assert.equal(await attr('audio'), 'true');
    assert.equal(await attr('video'), 'true');

    await b.page.click('#btn-mic');
    await L.waitFor('Bob muted at Alice', async () => (await attr('audio')) === 'false', 5000);
    // The label says what a press does; no aria-pressed besides it.
    assert.equal(await b.page.textContent('#btn-mic .lbl'), 'Unmute');
    assert.equal(await b.page.getAttribute('#btn-mic', 'aria-pressed'), null);
    await b.page.click('#btn-cam');
    await L.waitFor('Bob camera off at Alice', async () => (await attr('video')) === 'false', 5000);
    assert.equal(await b.page.evaluate(() => window.rtcdTest.cameraTrackId()), null, 'camera track released');

    await b.page.keyboard.press('m'); // keyboard shortcut unmutes
    await L.waitFor('Bob unmuted at Alice', async () => (await attr('audio')) === 'true', 5000);
    await b.page.click('#btn-cam');
    await L.waitFor('Bob camera on at Alice', async () => (await attr('video')) === 'true', 5000);
    const before = (await L.media(a.page))[0].framesDecoded;
    await L.waitFor('frames after camera back on', async () => (await L.media(a.page))[0].framesDecoded > before + 5, 8000);

    // Device selection lists the (fake) devices and switching re-acquires the camera.
    await b.page.click('#btn-settings');
    const cams = await b.page.$$eval('#cam-select option', (os) => os.map((o) => ({ v: o.value, t: o.textContent })));
    assert.ok(cams.length >= 1 && cams[0].v, `cameras listed: ${JSON.stringify(cams)}`);
    const oldTrack = await b.page.evaluate(() => window.rtcdTest.cameraTrackId());
    assert.ok(oldTrack, 'a camera track');
    await b.page.selectOption('#cam-select', cams[cams.length - 1].v);
    await L.waitFor('camera re-acquired', () => b.page.evaluate((id) => {
      const now = window.rtcdTest.cameraTrackId();
      return !!now && now !== id;
    }, oldTrack), 5000);
    const f1 = (await L.media(a.page))[0].framesDecoded;
    await L.waitFor('frames after device switch', async () => (await L.media(a.page))[0].framesDecoded > f1 + 5, 8000);
    await b.page.click('#btn-settings');

    // Screen share replaces the video track and goes back to the camera after.
    await b.page.click('#btn-screen');
    const shared = await L.waitFor('screen share state', () => a.page.$eval('[data-peer-id]', (e) => e.dataset.screen === 'true').catch(() => false), 5000).catch(() => false);
    if (shared) {
      await b.page.click('#btn-screen');
      await L.waitFor('screen share stopped', () => a.page.$eval('[data-peer-id]', (e) => e.dataset.screen === 'false'), 5000);
      // replaceTrack resolves after the state update that Alice saw went
      // out, so the sender's track is awaited, not read once.
      await L.waitFor('video sender back on the camera track', () => b.page.evaluate(() => {
        const cam = window.rtcdTest.cameraTrackId();
        return !!cam && window.rtcdTest.peers()[0].sending.video === cam;
      }), 5000);
    } else {
      L.log('screen capture unavailable in this headless Chromium; share not asserted');
    }
  });
  await closeAll(a, b);
});

test('a third user joins and leaves', async () => {
  let a, b, c;
  await step('third', async () => {
    const r = room('three');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
    await L.waitConnected(a.page, 1);
    await L.waitConnected(b.page, 1);
    c = await L.openCall(browser, daemon.url, r, { name: 'Cy', viewport: { width: 390, height: 780 } });
    await L.waitConnected(c.page, 2);
    timings.thirdPageLoadToConnected = Date.now() - c.opened;
    await L.waitConnected(a.page, 2);
    await L.waitConnected(b.page, 2);
    await L.waitVideo(c.page, 2);
    await L.waitVideo(a.page, 2);
    assert.equal(await a.page.$eval('#grid', (g) => g.dataset.count), '3');
    const names = (await L.tiles(a.page)).map((t) => t.name).sort();
    assert.deepEqual(names, ['Bob', 'Cy']);
    await L.shot(c.page, 'phone-three-peers');
    await L.shot(a.page, 'desktop-three-peers');

    await c.page.click('#btn-leave');
    const left = Date.now();
    await L.waitFor('Cy gone at Alice', async () => (await L.tiles(a.page)).length === 1, 5000);
    await L.waitFor('Cy gone at Bob', async () => (await L.tiles(b.page)).length === 1, 5000);
    timings.leaveSeenByOthers = Date.now() - left;
    assert.equal((await L.tiles(a.page))[0].state, 'connected', 'Alice–Bob call unaffected');

    // A tab that just goes away (no Leave click) disappears quickly too.
    const d = await L.openCall(browser, daemon.url, r, { name: 'Dee', viewer: true });
    await L.waitConnected(d.page, 2);
    await L.waitFor('Dee seen at Alice', async () => (await L.tiles(a.page)).length === 2, 10000);
    const closed = Date.now();
    await d.ctx.close();
    await L.waitFor('Dee gone at Alice', async () => (await L.tiles(a.page)).length === 1, 10000);
    timings.closedTabSeenByOthers = Date.now() - closed;
  });
  await closeAll(a, b, c);
});

test('a dropped signaling socket resumes the same session without touching the call', async () => {
  let a, b;
  await step('resume', async () => {
    const r = room('resume');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
    await L.waitConnected(a.page, 1);
    const [tb] = await L.waitConnected(b.page, 1);
    const selfBefore = await a.page.$eval('body', (e) => e.dataset.selfId);
    await a.page.evaluate(() => window.rtcdTest.dropSocket());
    await L.waitFor('Alice back', () => a.page.evaluate(() => document.body.dataset.signal === 'connected' && window.rtcdTest.signaling().resumed), 10000);
    assert.equal(await a.page.$eval('body', (e) => e.dataset.selfId), selfBefore, 'same peer id after resume');
    assert.equal(await a.page.$eval('body', (e) => e.dataset.call), 'joined', 'in the room again after resume');
    assert.equal(await a.page.textContent('#conn'), 'Connected');
    assert.equal((await L.tiles(b.page))[0].id, tb.id);
    assert.equal((await L.tiles(b.page))[0].state, 'connected');
    await a.page.click('#btn-cam');
    await L.waitFor('camera off after resume seen', async () => (await L.tiles(b.page))[0].video === 'false', 5000);
  });
  await closeAll(a, b);
});

// Only inside run.sh's private network namespace: the firewall rule must never touch the host.
const netns = process.env.E2E_NETNS === '1';

test('a connection that fails comes back by ICE restart, on the same RTCPeerConnection', { skip: !netns && 'needs the network namespace of run.sh' }, async () => {
  let a, b;
  const nft = (script) => execFileSync('nft', ['-f', '-'], { input: script });
  let blocked = false;
  try {
    await step('ice-restart', async () => {
      const r = room('icerestart');
      a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
      b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
      await L.waitConnected(a.page, 1);
      await L.waitConnected(b.page, 1);
      const created = (await L.peers(a.page))[0].createdAt;
      const ufrag = async () => (await L.peers(a.page))[0].iceUfrag;
      const ufrag0 = await ufrag();
      // Drop every UDP packet: media, ICE checks and TURN over UDP all stop.
      nft('table inet e2e {\n chain out {\n  type filter hook output priority 0; policy accept;\n  meta l4proto udp drop\n }\n}\n');
      blocked = true;
      const cut = Date.now();
      await L.waitFor('Alice sees the call drop', async () => (await L.tiles(a.page))[0].state !== 'connected', 20000);
      timings.iceDropDetected = Date.now() - cut;
      await L.waitFor('an ICE restart', async () =>
        (await a.page.evaluate(() => window.rtcdTest.metrics().iceRestarts)) + (await b.page.evaluate(() => window.rtcdTest.metrics().iceRestarts)) > 0, 20000);
      nft('delete table inet e2e');
      blocked = false;
      const healed = Date.now();
      await L.waitConnected(a.page, 1, 30000);
      await L.waitConnected(b.page, 1, 30000);
      timings.iceRestartRecovered = Date.now() - healed;
      assert.equal((await L.peers(a.page))[0].createdAt, created, 'same connection, restarted');
      assert.notEqual(await ufrag(), ufrag0, 'new ICE credentials: the restart was negotiated');
      const f0 = (await L.media(a.page))[0].framesDecoded;
      await L.waitFor('video flows again', async () => (await L.media(a.page))[0].framesDecoded > f0 + 5, 10000);
    });
  } finally {
    if (blocked) { try { nft('delete table inet e2e'); } catch { /* already gone */ } }
    await closeAll(a, b);
  }
});

test('relay=1: both ends use a relay candidate through rtcd\'s TURN', async () => {
  let a, b;
  await step('relay', async () => {
    const r = room('relay');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice', relay: true });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob', relay: true });
    const [ta] = await L.waitConnected(a.page, 1);
    timings.relayPageLoadToConnected = Date.now() - b.opened;
    const [tb] = await L.waitConnected(b.page, 1);
    assert.equal(ta.path, 'relay');
    assert.equal(tb.path, 'relay');
    const [ma] = await L.waitVideo(a.page, 1);
    const [mb] = await L.waitVideo(b.page, 1);
    for (const [who, m] of [['Alice', ma], ['Bob', mb]]) {
      assert.equal(m.local.type, 'relay', `${who} local candidate: ${JSON.stringify(m.local)}`);
      assert.equal(m.remote.type, 'relay', `${who} remote candidate: ${JSON.stringify(m.remote)}`);
      assert.ok(['udp', 'tcp', 'tls'].includes(m.local.relayProtocol), `${who} relayProtocol ${m.local.relayProtocol}`);
      // The relay address is rtcd's: its public IP and its relay port range.
      assert.equal(m.local.address, '127.0.0.1');
      assert.ok(m.local.port >= daemon.relayMin && m.local.port <= daemon.relayMax,
        `${who} relay port ${m.local.port} in ${daemon.relayMin}-${daemon.relayMax}`);
    }
    assert.match(ta.transport, /^(udp|tcp|tls)$/);
    const label = await a.page.$eval('[data-peer-id] .path', (e) => ({ text: e.textContent, title: e.title }));
    assert.match(label.text, /^Via relay/);
    assert.match(label.title, /through the relay server \(TURN over (UDP|TCP|TLS)\)/);

    // Fresh TURN credentials (an 'ice' message) are applied to the running connection.
    const user = async () => (await L.peers(a.page))[0].iceUsername;
    const before = await user();
    assert.ok(before, 'a TURN username in the connection\'s configuration');
    await L.sleep(1100); // usernames carry the expiry in seconds
    await a.page.evaluate(() => window.rtcdTest.request({ type: 'ice' }));
    await L.waitFor('new credentials applied', async () => (await user()) !== before, 3000);
    assert.equal((await L.tiles(a.page))[0].state, 'connected');
  });
  await closeAll(a, b);
});

test('relay=1&transport=tcp: the path indicator shows TURN over TCP', async () => {
  let a, b;
  await step('relay-tcp', async () => {
    const r = room('relay-tcp');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice', relay: true, transport: 'tcp' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob', relay: true, transport: 'tcp' });
    const [ta] = await L.waitConnected(a.page, 1);
    await L.waitConnected(b.page, 1);
    const [m] = await L.waitVideo(a.page, 1);
    assert.equal(m.local.type, 'relay');
    assert.equal(m.local.relayProtocol, 'tcp');
    assert.equal(ta.transport, 'tcp');
    assert.match(await a.page.$eval('[data-peer-id] .path', (e) => e.title), /TURN over TCP/);
  });
  await closeAll(a, b);
});

test('the daemon restarts mid-call and the pages reconnect by themselves', async () => {
  let a, b;
  await step('restart', async () => {
    const r = room('restart');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice' });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob' });
    await L.waitConnected(a.page, 1);
    await L.waitConnected(b.page, 1);
    await L.waitVideo(a.page, 1);
    const pcBefore = (await L.peers(a.page))[0].createdAt;

    await daemon.stop({ hard: true }); // a crash: no bye, sessions lost
    await L.waitFor('pages notice the drop', async () =>
      (await a.page.$eval('body', (e) => e.dataset.signal)) === 'reconnecting' &&
      (await b.page.$eval('body', (e) => e.dataset.signal)) === 'reconnecting', 5000);
    const down = Date.now();
    await L.sleep(1000);
    await daemon.start();
    await L.waitFor('both pages back on signaling', async () =>
      (await a.page.$eval('body', (e) => e.dataset.signal)) === 'connected' &&
      (await b.page.$eval('body', (e) => e.dataset.signal)) === 'connected', 15000);
    timings.restartSignalingBackAfterStart = Date.now() - down - 1000;
    // Back in the room, matched with the same peer, and the media kept flowing.
    await L.waitConnected(a.page, 1, 15000);
    await L.waitConnected(b.page, 1, 15000);
    // The kept call stays "connected" throughout; the tile takes the peer's
    // new id when its rebind arrives over the data channel, so await that.
    await L.waitFor('peer re-identified (tile id no longer old:)', async () => {
      const [t] = await L.tiles(a.page);
      return t && !t.id.startsWith('old:');
    }, 15000);
    const pcAfter = (await L.peers(a.page))[0].createdAt;
    assert.equal(pcAfter, pcBefore, 'the running call was kept, not rebuilt');
    const f0 = (await L.media(a.page))[0].framesDecoded;
    await L.waitFor('video still flowing', async () => (await L.media(a.page))[0].framesDecoded > f0 + 5, 5000);
    // Signaling works again end to end: state changes reach the other side.
    await b.page.click('#btn-mic');
    await L.waitFor('mute after restart seen', async () => (await L.tiles(a.page))[0].audio === 'false', 5000);
    timings.restartTotal = Date.now() - down;
  });
  await closeAll(a, b);
});

test('relayed call across a graceful daemon restart: full rejoin and a new relayed path', async () => {
  let a, b;
  await step('restart-relay', async () => {
    const r = room('restart-relay');
    a = await L.openCall(browser, daemon.url, r, { name: 'Alice', relay: true });
    b = await L.openCall(browser, daemon.url, r, { name: 'Bob', relay: true });
    await L.waitConnected(a.page, 1);
    await L.waitConnected(b.page, 1);
    const idBefore = (await L.tiles(a.page))[0].id;
    await daemon.stop(); // SIGTERM: bye + 1001, and the relay's allocations end with it
    const down = Date.now();
    await daemon.start();
    // The relay is gone with the old process, so the call must be rebuilt on new allocations.
    const [t] = await L.waitFor('a new relayed call', async () => {
      const ts = await L.tiles(a.page);
      return ts.length === 1 && ts[0].id !== idBefore && !ts[0].id.startsWith('old:') && ts[0].state === 'connected' && ts[0].path === 'relay' ? ts : false;
    }, 30000);
    await L.waitConnected(b.page, 1, 10000);
    await L.waitVideo(a.page, 1);
    const [m] = await L.media(a.page);
    assert.equal(m.local.type, 'relay');
    assert.equal(t.name, 'Bob');
    timings.relayRestartToNewCall = Date.now() - down;
  });
  await closeAll(a, b);
});

test('a full mesh of six (one camera, five viewers) and the seventh is refused', async () => {
  const users = [];
  await step('six', async () => {
    const r = room('six');
    const started = Date.now();
    users.push(await L.openCall(browser, daemon.url, r, { name: 'Cam', viewport: { width: 800, height: 600 } }));
    for (const n of ['V1', 'V2', 'V3', 'V4', 'V5']) {
      users.push(await L.openCall(browser, daemon.url, r, { name: n, viewer: true, viewport: { width: 480, height: 360 } }));
    }
    for (const u of users) await L.waitConnected(u.page, 5, 45000);
    timings.sixPeerMeshConnected = Date.now() - started;
    // Every viewer decodes the camera; the camera's page shows five viewer tiles.
    for (const u of users.slice(1)) {
      await L.waitFor(`${u.name} decodes Cam`, async () => (await L.media(u.page)).some((m) => m.framesDecoded > 0 && m.videoWidth > 0), 20000);
    }
    const camTiles = await L.tiles(users[0].page);
    assert.equal(camTiles.length, 5);
    assert.ok(camTiles.every((t) => t.video === 'false' && t.audio === 'false'), 'viewers announce no media');
    assert.equal(await users[0].page.$eval('#grid', (g) => g.dataset.count), '6');
    await L.shot(users[0].page, 'six-peers');
    const seventh = await L.openCall(browser, daemon.url, r, { name: 'Late', viewer: true });
    users.push(seventh);
    await L.waitFor('room full notice', () => seventh.page.$eval('#notice', (n) => !n.hidden && n.dataset.kind === 'room_full'), 5000);
  });
  await closeAll(...users);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
