// What a new user meets in the call page: a participant whose browser dies
// is noticed within seconds and a rejoining user replaces their own ghost;
// the invite is reachable on a phone; bad room links explain themselves and
// Unicode room names work; the keyboard does what it says (Escape, shortcuts
// that can be turned off, a help list); messages are plain sentences; after
// Leave nothing pretends to be in a call; alone, the page says it waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let daemon;
let browser;
const cleanup = L.suite(async (c) => {
  daemon = await L.startDaemon(c);
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [daemon] });

// names lists the names on the remote tiles of page.
async function names(page) { return (await L.tiles(page)).map((t) => t.name).sort(); }

// crash kills a page's renderer, as a browser that dies does: no pagehide,
// no bye, no close frame.
async function crash(page) {
  const cdp = await page.context().newCDPSession(page);
  const crashed = page.waitForEvent('crash', { timeout: 10000 });
  cdp.send('Page.crash').catch(() => { /* the session dies with the page, unanswered */ });
  await crashed;
}

test('a dead browser leaves no ghost: noticed within seconds, and its user rejoining replaces it', { timeout: 150000 }, async () => {
  const room = L.roomName('ghost');
  const users = [];
  await step('ghost', async () => {
    const a = await L.openCall(browser, daemon.url, room, { name: 'Ann' });
    users.push(a);
    const b = await L.openCall(browser, daemon.url, room, { name: 'Bob', viewer: true });
    users.push(b);
    const c = await L.openCall(browser, daemon.url, room, { name: 'Cy' });
    users.push(c);
    await L.waitConnected(a.page, 2, 30000);
    await L.waitConnected(b.page, 2, 30000);

    const crashedAt = Date.now();
    await crash(c.page);
    // A newcomer while Cy is away sees no tile of Cy.
    const d = await L.openCall(browser, daemon.url, room, { name: 'Dee', viewer: true });
    users.push(d);
    await L.waitConnected(d.page, 2, 30000);
    assert.deepEqual(await names(d.page), ['Ann', 'Bob'], 'the newcomer sees the away peer');
    // Bob's tile of Cy goes within seconds, long before the 30 s resume window.
    await L.waitFor('Cy gone at Bob', async () => !(await names(b.page)).includes('Cy'), 20000);
    const gone = Date.now() - crashedAt;
    L.log(`a crashed browser's tile went after ${gone} ms`);
    assert.ok(gone < 20000, `ghost stayed ${gone} ms`);

    // Cy opens the page again in the same browser: one Cy, connected.
    const c2 = await c.ctx.newPage(); // c.ctx is closed with the others
    L.watchPage(c2, 'Cy again');
    await c2.goto(`${daemon.url}/r/${room}?prejoin=0&name=Cy`);
    await L.waitConnected(c2, 3, 30000);
    assert.deepEqual(await names(c2), ['Ann', 'Bob', 'Dee'], 'Cy sees no ghost of herself');
    await L.waitFor('one connected Cy at Bob', async () => {
      const t = await L.tiles(b.page);
      const cys = t.filter((x) => x.name === 'Cy');
      return cys.length === 1 && cys[0].state === 'connected';
    }, 30000);
  });
  await L.closeAll(...users);
});

test('the invite is one tap away on a phone: the share sheet where there is one, a copy otherwise', { timeout: 90000 }, async () => {
  const room = L.roomName('invite');
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await step('invite', async () => {
    const page = await ctx.newPage();
    L.watchPage(page, 'phone');
    await page.addInitScript(() => {
      window.__shared = [];
      navigator.share = async (data) => { window.__shared.push(data); };
    });
    await page.goto(`${daemon.url}/r/${room}?prejoin=0&name=Pat`);
    await L.waitFor('joined', () => page.$eval('body', (b) => b.dataset.call === 'joined'));
    assert.equal(await page.isVisible('#copy-link'), true, 'invite button visible at 390 px');
    await page.click('#copy-link');
    const shared = await page.evaluate(() => window.__shared);
    assert.equal(shared.length, 1);
    assert.equal(shared[0].url, `${daemon.url}/r/${room}`);
    // Alone in the room, the page says it waits and offers the link too.
    assert.equal(await page.isVisible('#alone'), true);
    assert.match(await page.textContent('#alone'), /Waiting for others/);
    await L.shot(page, 'phone-alone');

    // A narrow desktop window without a share sheet copies the link.
    const narrow = await browser.newContext({ viewport: { width: 560, height: 700 } });
    await narrow.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: daemon.url });
    const p2 = await narrow.newPage();
    L.watchPage(p2, 'narrow');
    await p2.addInitScript(() => { delete Navigator.prototype.share; delete navigator.share; });
    await p2.goto(`${daemon.url}/r/${room}?prejoin=0&name=Quinn`);
    await L.waitFor('Quinn joined', () => p2.$eval('body', (b) => b.dataset.call === 'joined'));
    assert.equal(await p2.isVisible('#copy-link'), true);
    await p2.click('#copy-link');
    await L.waitFor('copied', async () => /Link copied/.test(await p2.textContent('#copy-link')), 3000);
    assert.equal(await p2.evaluate(() => navigator.clipboard.readText()), `${daemon.url}/r/${room}`);
    // With someone else in the room, the waiting note is gone.
    await L.waitFor('not alone', () => page.$eval('#alone', (e) => e.hidden), 15000);
    await narrow.close();
  });
  await ctx.close();
});

test('a bad room link explains itself with a way back; Unicode room names work and are normalized', { timeout: 90000 }, async () => {
  const ctx = await browser.newContext();
  await step('rooms', async () => {
    const page = await ctx.newPage();
    L.watchPage(page, 'rooms');
    for (const [path, why] of [
      ['/r/bad%20room', /does not name a valid room/],
      [`/r/${'a'.repeat(65)}`, /too long/],
      ['/r/', /no room name/],
    ]) {
      const resp = await page.goto(`${daemon.url}${path}`);
      assert.equal(resp.status(), 404, path);
      await L.waitFor(`notice for ${path}`, () => page.$eval('#notice', (n) => !n.hidden && n.dataset.kind === 'invalid_room'), 5000);
      assert.match(await page.textContent('#notice-text'), why);
      assert.equal(await page.getAttribute('#notice-actions a', 'href'), '/');
      assert.equal(await page.textContent('#conn'), 'Not a room');
    }
    await L.shot(page, 'bad-room-link');
    // café typed two ways is one room.
    const a = await L.openCall(browser, daemon.url, encodeURIComponent('caf\u00e9'), { name: 'Élodie' });
    const b = await L.openCall(browser, daemon.url, encodeURIComponent('cafe\u0301'), { name: 'Zoë' });
    await L.waitConnected(a.page, 1, 30000);
    await L.waitConnected(b.page, 1, 30000);
    assert.equal(await b.page.textContent('#room-title'), 'caf\u00e9');
    const c = await L.openCall(browser, daemon.url, encodeURIComponent('会議室'), { name: 'Kenji', viewer: true });
    await L.waitFor('joined 会議室', () => c.page.$eval('body', (x) => x.dataset.call === 'joined'));
    await L.closeAll(a, b, c);
  });
  await ctx.close();
});

test('keyboard: Escape closes chat and devices and gives focus back, c opens an empty chat, shortcuts can be turned off', { timeout: 90000 }, async () => {
  const room = L.roomName('keys');
  const u = await L.openCall(browser, daemon.url, room, { name: 'Kay' });
  await step('keys', async () => {
    const { page } = u;
    await L.waitFor('joined', () => page.$eval('body', (b) => b.dataset.call === 'joined'));
    await L.waitFor('camera on', () => page.evaluate(() => !!window.rtcdTest.cameraTrackId()));
    await page.keyboard.press('c');
    assert.equal(await page.isVisible('#chat'), true);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'chat-input');
    assert.equal(await page.inputValue('#chat-input'), '', 'the c did not land in the chat');
    await page.keyboard.press('Escape');
    assert.equal(await page.isVisible('#chat'), false, 'Escape in the chat input closes the chat');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'btn-chat');

    await page.click('#btn-settings');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'cam-select');
    await page.keyboard.press('Escape');
    assert.equal(await page.isVisible('#settings'), false);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'btn-settings', 'focus not stranded on a hidden select');
    await page.keyboard.press('m');
    assert.equal(await page.textContent('#btn-mic .lbl'), 'Unmute', 'shortcuts work after closing Devices');
    assert.equal(await page.getAttribute('#btn-mic', 'title'), 'Unmute (m)');

    // ? lists the shortcuts, with a switch to turn them off (WCAG 2.1.4).
    await page.keyboard.press('?');
    assert.equal(await page.evaluate(() => document.getElementById('help').open), true);
    await L.shot(page, 'shortcuts-help');
    await page.uncheck('#shortcuts-on');
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.getElementById('help').open), false);
    await page.keyboard.press('m');
    assert.equal(await page.textContent('#btn-mic .lbl'), 'Unmute', 'm does nothing once shortcuts are off');
    assert.equal(await page.getAttribute('#btn-mic', 'title'), 'Unmute', 'no key in the tooltip when off');
    await page.reload();
    await L.waitFor('joined again', () => page.$eval('body', (b) => b.dataset.call === 'joined'));
    assert.equal(await page.isChecked('#shortcuts-on'), false, 'the choice is remembered');
  });
  await L.closeAll(u);
});

test('plain words: no close codes, error names or upper-case jargon in what the user reads', { timeout: 90000 }, async () => {
  const room = L.roomName('words');
  const own = await L.Daemon.create();
  cleanup.add(() => own.stop({ hard: true }));
  await own.start();
  const ctx = await browser.newContext();
  await step('words', async () => {
    const page = await ctx.newPage();
    L.watchPage(page, 'words');
    // The camera fails when it is turned back on.
    await page.addInitScript(() => {
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c) => {
        if (c && c.video && !c.audio) throw new DOMException('Could not start video source', 'NotReadableError');
        return real(c);
      };
    });
    await page.goto(`${own.url}/r/${room}?prejoin=0&name=Wes`);
    await L.waitFor('joined', () => page.$eval('body', (b) => b.dataset.call === 'joined'));
    await page.click('#btn-cam');
    await page.click('#btn-cam');
    await L.waitFor('camera notice', () => page.$eval('#notice', (n) => !n.hidden), 5000);
    const text = await page.textContent('#notice-text');
    assert.match(text, /in use by another program/);
    assert.doesNotMatch(text, /Error/);
    assert.match(await page.getAttribute('#notice-text', 'title'), /NotReadableError/);

    await own.stop({ hard: true });
    await L.waitFor('unreachable notice', () => page.$eval('#notice', (n) => !n.hidden && n.dataset.kind === 'unreachable'), 15000);
    const t2 = await page.textContent('#notice-text');
    assert.doesNotMatch(t2, /\(\d{4}\)|closed \(|1006/, t2);
    assert.match(t2, /Cannot reach the rtcd server: (the connection was lost|the server does not answer)/);
    assert.match(await page.getAttribute('#notice-text', 'title'), /close code 1006/);
    assert.match(await page.textContent('#conn'), /Reconnecting/);
  });
  await ctx.close();
});

test('after Leave: no chat as if sent, the avatar instead of a black tile, the pill says Left', { timeout: 90000 }, async () => {
  const room = L.roomName('leave');
  const a = await L.openCall(browser, daemon.url, room, { name: 'Lee' });
  await step('leave', async () => {
    const { page } = a;
    await L.waitFor('joined', () => page.$eval('body', (b) => b.dataset.call === 'joined'));
    assert.equal(await page.textContent('#conn'), 'Connected');
    await page.click('#btn-leave');
    assert.equal(await page.textContent('#conn'), 'Left');
    assert.equal(await page.isDisabled('#chat-input'), true);
    assert.equal(await page.$eval('.tile.self', (t) => t.dataset.video), 'false');
    assert.equal(await page.isVisible('.tile.self .avatar'), true);
    assert.equal(await page.evaluate(() => window.rtcdTest.localTracks().filter((t) => t.readyState === 'live').length), 0, 'camera and microphone released');
    assert.equal(await page.isVisible('#alone'), false);
  });
  await L.closeAll(a);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
