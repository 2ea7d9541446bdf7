// The pages around the call: home, /diag against rtcd's own STUN/TURN, and
// the plain-words messages for a full room, an expired invite, a denied
// camera and an unreachable daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const TOKEN_SECRET = 'e2e-token-secret-0123456789abcdef0123456789';
let open;      // open mode, room size 2
let locked;    // token mode
let browser;
L.suite(async (c) => {
  open = await L.startDaemon(c, { signal: { RoomSize: 2 } });
  locked = await L.startDaemon(c, { signal: { Mode: 'token' }, tokenSecret: TOKEN_SECRET });
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser });
async function newPage(viewport = { width: 960, height: 640 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  L.watchPage(page, 'ui');
  return { ctx, page };
}

test('home page creates a readable room and joins it with the name, through the pre-join screen', async () => {
  const { ctx, page } = await newPage({ width: 390, height: 780 });
  await step('home', async () => {
    await page.goto(`${open.url}/`);
    const room = await page.inputValue('#room');
    assert.match(room, /^[a-z]+-[a-z]+-\d{2}$/, 'readable random room');
    assert.match(await page.textContent('#invite'), new RegExp(`/r/${room}$`));
    await page.fill('#room', 'bad room!');
    assert.equal(await page.isVisible('#room-error'), true);
    await page.click('#random');
    assert.equal(await page.isVisible('#room-error'), false);
    await page.fill('#name', 'Dana');
    await page.fill('#room', 'home-test');
    await L.shot(page, 'home-phone');
    await page.press('#room', 'Enter');
    await page.waitForURL(/\/r\/home-test\?name=Dana$/);
    // The pre-join screen offers the name typed on the home page.
    await L.waitFor('pre-join', () => page.$eval('body', (b) => b.dataset.call === 'prejoin'));
    assert.equal(await page.inputValue('#pj-name'), 'Dana');
    await page.click('#pj-join');
    await L.waitFor('signaling connected', () => page.$eval('body', (b) => b.dataset.signal === 'connected'));
    assert.equal(await page.textContent('#room-title'), 'home-test');
    // The name is remembered for the next visit.
    await page.goto(`${open.url}/`);
    assert.equal(await page.inputValue('#name'), 'Dana');
  });
  await ctx.close();
});

test('/diag finds rtcd\'s STUN and TURN working and a relayed test call', async () => {
  const { ctx, page } = await newPage();
  await step('diag', async () => {
    await page.goto(`${open.url}/diag?auto=1`);
    await L.waitFor('diag done', () => page.$eval('body', (b) => b.dataset.status === 'done' || b.dataset.status === 'error'), 30000);
    assert.equal(await page.$eval('body', (b) => b.dataset.status), 'done');
    const res = await page.evaluate(() => window.rtcdTest.diag());
    L.log('diag:', JSON.stringify(res.results.map((r) => [r.kind, r.transport, r.ok, r.ms, r.detail])), JSON.stringify(res.call));
    const turn = res.results.filter((r) => r.kind === 'TURN');
    assert.ok(turn.length >= 2, 'TURN over UDP and TCP offered');
    for (const r of turn) assert.ok(r.ok, `${r.url}: ${r.detail}`);
    assert.ok(turn.some((r) => r.transport === 'UDP') && turn.some((r) => r.transport === 'TCP'));
    assert.ok(res.call && res.call.ok, `relay test call: ${JSON.stringify(res.call)}`);
    assert.ok(res.call.rtt >= 0);
    const advice = await page.textContent('#advice-list');
    assert.match(advice, /test call through the relay worked/);
    await L.shot(page, 'diag');
  });
  await ctx.close();
});

test('a full room, an expired invite and a bad token get plain messages', async () => {
  const users = [];
  await step('messages', async () => {
    // Room size is 2 on this daemon: the third gets "room is full".
    for (const name of ['A', 'B', 'C']) {
      const { ctx, page } = await newPage();
      users.push(ctx);
      await page.goto(`${open.url}/r/full-room?prejoin=0&name=${name}`);
      await L.waitFor(`${name} hello`, () => page.$eval('body', (b) => b.dataset.signal === 'connected'));
      if (name !== 'C') continue;
      await L.waitFor('room full notice', () => page.$eval('#notice', (n) => !n.hidden && n.dataset.kind === 'room_full'), 5000);
      assert.match(await page.textContent('#notice-text'), /room is full/i);
      // The pill says so, and the camera and microphone are off behind the notice.
      assert.equal(await page.textContent('#conn'), 'Room full');
      assert.equal(await page.evaluate(() => window.rtcdTest.localTracks().filter((t) => t.readyState === 'live').length), 0);
      assert.equal(await page.$eval('.tile.self', (t) => t.dataset.video), 'false');
    }
    const expired = L.jwtHS256(TOKEN_SECRET, { room: 'locked', sub: 'u1', exp: Math.floor(Date.now() / 1000) - 60 });
    const { ctx, page } = await newPage();
    users.push(ctx);
    await page.goto(`${locked.url}/r/locked?prejoin=0&name=E&token=${expired}`);
    await L.waitFor('expired notice', () => page.$eval('#notice', (n) => !n.hidden), 5000);
    assert.match(await page.textContent('#notice-text'), /invite link has expired/);
    assert.equal(await page.$eval('body', (b) => b.dataset.signal), 'closed', 'no retry loop');

    await page.goto(`${locked.url}/r/locked?prejoin=0&name=E`);
    await L.waitFor('unauthorized notice', () => page.$eval('#notice', (n) => !n.hidden), 5000);
    assert.match(await page.textContent('#notice-text'), /only lets people in with an invite link/);

    const good = L.jwtHS256(TOKEN_SECRET, { room: 'locked', sub: 'u1', exp: Math.floor(Date.now() / 1000) + 600 });
    await page.goto(`${locked.url}/r/locked?prejoin=0&name=E&token=${good}`);
    await L.waitFor('token accepted', () => page.$eval('body', (b) => b.dataset.signal === 'connected'), 5000);
    await L.shot(page, 'token-ok');
  });
  for (const c of users) await c.close();
});

test('a denied camera offers audio-only or viewer, and a viewer still sees the call', async () => {
  const ctxs = [];
  await step('denied', async () => {
    const a = await newPage();
    ctxs.push(a.ctx);
    await a.page.goto(`${open.url}/r/denied?prejoin=0&name=Cam`);
    const v = await newPage();
    ctxs.push(v.ctx);
    await v.page.addInitScript(() => {
      navigator.mediaDevices.getUserMedia = async () => { throw new DOMException('Permission denied', 'NotAllowedError'); };
    });
    await v.page.goto(`${open.url}/r/denied?prejoin=0&name=Viewer`);
    await L.waitFor('denied notice', () => v.page.$eval('#notice', (n) => !n.hidden), 5000);
    assert.match(await v.page.textContent('#notice-text'), /access was denied/);
    const focused = await v.page.evaluate(() => document.activeElement?.textContent);
    assert.equal(focused, 'Try again', 'focus moves to the first choice');
    await L.shot(v.page, 'camera-denied');
    await v.page.click('text=Join as viewer');
    await L.waitConnected(v.page, 1);
    await L.waitVideo(v.page, 1);
    await L.waitConnected(a.page, 1);
    const [t] = await L.tiles(a.page);
    await L.waitFor('viewer state seen', async () => {
      const [x] = await L.tiles(a.page);
      return x.audio === 'false' && x.video === 'false';
    }, 5000);
    assert.equal(t.name, 'Viewer');
  });
  for (const c of ctxs) await c.close();
});

test('no camera: the page joins with the microphone alone and says so', async () => {
  const ctxs = [];
  await step('nocam', async () => {
    const a = await newPage();
    ctxs.push(a.ctx);
    await a.page.goto(`${open.url}/r/nocam?prejoin=0&name=Cam`);
    const m = await newPage();
    ctxs.push(m.ctx);
    await m.page.addInitScript(() => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (c && c.video) throw new DOMException('Requested device not found', 'NotFoundError');
        return real(c);
      };
    });
    await m.page.goto(`${open.url}/r/nocam?prejoin=0&name=MicOnly`);
    await L.waitFor('no-camera notice', () => m.page.$eval('#notice', (n) => !n.hidden && /microphone only/.test(n.textContent)), 5000);
    await L.waitConnected(a.page, 1);
    await L.waitFor('mic-only state seen', async () => {
      const [t] = await L.tiles(a.page);
      return t && t.audio === 'true' && t.video === 'false';
    }, 5000);
    await L.waitVideo(m.page, 1);
  });
  for (const c of ctxs) await c.close();
});

test('an unreachable daemon is reported and the page comes back by itself', async () => {
  const { ctx, page } = await newPage();
  await step('unreachable', async () => {
    await page.goto(`${open.url}/r/lonely?prejoin=0&name=Solo`);
    await L.waitFor('connected', () => page.$eval('body', (b) => b.dataset.signal === 'connected'));
    await open.stop({ hard: true });
    await L.waitFor('unreachable notice', () => page.$eval('#notice', (n) => !n.hidden && /Cannot reach the rtcd server/.test(n.textContent)), 10000);
    await L.shot(page, 'unreachable');
    await open.start();
    await L.waitFor('back', () => page.$eval('body', (b) => b.dataset.signal === 'connected'), 10000);
    assert.equal(await page.$eval('#notice', (n) => n.hidden), true, 'notice cleared');
  });
  await ctx.close();
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
