// The pre-join screen, as a new user meets it: the camera's preview, the
// microphone's level, the device lists and the shortcuts, joining muted;
// the name remembered; no devices at all (listen and watch) and devices
// refused; and a room that is full: the seventh sees why, nothing pretends
// to be joined, and trying again goes back through the pre-join screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let daemon;
let browser;     // fake camera and microphone
let bare;        // no devices at all
let refusing;    // devices, but the user says no
L.suite(async (c) => {
  daemon = await L.startDaemon(c);
  browser = await L.startBrowser(c);
  bare = await L.startBrowser(c, { devices: 'none' });
  refusing = await L.startBrowser(c, { devices: 'denied' });
});

const step = (label, fn, b = browser) => L.step(label, fn, { browser: b, daemons: [daemon] });
const body = (page, key) => page.$eval('body', (b, k) => b.dataset[k], key);

// prejoin opens the room through the pre-join screen and waits for it.
async function prejoin(b, room, name, opts = {}) {
  const u = await L.openCall(b, daemon.url, room, { small: true, name, prejoin: true, ...opts });
  await L.waitFor(`${name || 'guest'}: pre-join`, async () => (await body(u.page, 'call')) === 'prejoin' && u.page.isVisible('#pj-join'));
  await L.waitFor(`${name || 'guest'}: devices tried`, () => u.page.$eval('#pj-msg', (m) => !/Starting/.test(m.textContent)), 10000);
  return u;
}

const joined = (page) => L.waitFor('joined', async () => (await body(page, 'call')) === 'joined' && (await body(page, 'signal')) === 'connected');

test('pre-join with a camera and a microphone: preview, level, devices, shortcuts; nobody sees us until we join, muted', { timeout: 90000 }, async () => {
  const room = L.roomName('pj');
  const users = [];
  await step('devices', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann' });
    users.push(ann);
    await joined(ann.page);
    const pia = await prejoin(browser, room, 'Pia');
    users.push(pia);
    const p = pia.page;
    // Not in the room, and the page says so: no socket, no "Connected".
    assert.equal(await p.textContent('#conn'), 'Not joined yet');
    assert.equal(await body(p, 'signal'), 'idle');
    assert.equal((await p.evaluate(() => window.rtcdTest.signaling())).socket, null);
    assert.equal(await p.isVisible('#grid'), false);
    assert.equal(await p.isVisible('#controls'), false);
    assert.equal(await p.textContent('#pj-msg'), '', 'nothing failed');
    assert.equal(await p.inputValue('#pj-name'), 'Pia');
    // The preview plays the camera, the meter moves with the fake microphone's beeps.
    await L.waitFor('preview playing', () => p.$eval('#pj-video', (v) => v.videoWidth > 0 && !v.paused));
    assert.equal(await p.$eval('#pj-video', (v) => `${v.videoWidth}x${v.videoHeight}`), '320x240', 'the small fake camera (lib.smallCamera)');
    const level = await L.waitFor('level above 0', () => p.$eval('#pj-level', (m) => Number(m.getAttribute('aria-valuenow')) > 0), 10000, 50);
    assert.ok(level);
    const options = async (sel) => p.$$eval(`${sel} option`, (os) => os.map((o) => o.textContent));
    assert.ok((await options('#pj-cam-select')).some((t) => /fake/i.test(t)), 'camera listed');
    assert.ok((await options('#pj-mic-select')).some((t) => /fake/i.test(t)), 'microphone listed');
    // The switches name their shortcut keys.
    assert.equal(await p.getAttribute('#pj-mic-on', 'title'), 'Microphone (m)');
    assert.equal(await p.getAttribute('#pj-cam-on', 'aria-keyshortcuts'), 'v');
    assert.equal(await p.evaluate(() => document.activeElement.id), 'pj-join', 'Join has the focus');
    await L.shot(p, 'prejoin-devices');
    await p.keyboard.press('v');
    await L.waitFor('camera off by v', async () => !(await p.isChecked('#pj-cam-on')) && !(await p.evaluate(() => window.rtcdTest.cameraTrackId())));
    assert.equal(await p.$eval('#prejoin', (e) => e.dataset.video), 'false');
    await p.keyboard.press('v');
    await L.waitFor('camera on by v', async () => (await p.isChecked('#pj-cam-on')) && !!(await p.evaluate(() => window.rtcdTest.cameraTrackId())));
    await p.click('#pj-mic-on');
    assert.equal(await p.isChecked('#pj-mic-on'), false);
    const mic = (await p.evaluate(() => window.rtcdTest.localTracks())).find((t) => t.kind === 'audio');
    assert.equal(mic.enabled, false, 'the microphone is muted, not gone');
    assert.equal((await L.tiles(ann.page)).length, 0, 'Ann sees nobody while Pia is on the pre-join screen');

    await p.click('#pj-join');
    await joined(p);
    assert.equal(await p.isVisible('#prejoin'), false);
    assert.equal(await p.textContent('#conn'), 'Connected');
    assert.equal(await p.textContent('#btn-mic .lbl'), 'Unmute');
    await L.waitConnected(ann.page, 1);
    await L.waitFor('Ann sees Pia muted with her camera on', async () => {
      const [t] = await L.tiles(ann.page);
      return t && t.name === 'Pia' && t.audio === 'false' && t.video === 'true';
    });
    await L.waitVideo(ann.page, 1);
  });
  await L.closeAll(...users);
});

test('the name typed on the pre-join screen is used and remembered', { timeout: 60000 }, async () => {
  const room = L.roomName('pjname');
  const ctx = await browser.newContext({ viewport: { width: 960, height: 640 } });
  await L.smallCamera(ctx);
  const users = [];
  await step('name', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann', viewer: true });
    users.push(ann);
    const page = await ctx.newPage();
    L.watchPage(page, 'namer');
    await page.goto(`${daemon.url}/r/${room}`);
    await L.waitFor('pre-join', async () => (await body(page, 'call')) === 'prejoin');
    assert.equal(await page.inputValue('#pj-name'), '', 'nothing to offer on a first visit');
    assert.match(await page.getAttribute('#pj-name', 'placeholder'), /^Guest \d{3}$/);
    await page.fill('#pj-name', '  Zoë Q ');
    await page.press('#pj-name', 'Enter');
    await joined(page);
    await L.waitFor('Ann sees Zoë Q', async () => (await L.tiles(ann.page)).some((t) => t.name === 'Zoë Q'));
    assert.equal(await page.textContent('.tile.self .name'), 'Zoë Q (you)');
    await page.reload();
    await L.waitFor('pre-join again', async () => (await body(page, 'call')) === 'prejoin');
    assert.equal(await page.inputValue('#pj-name'), 'Zoë Q', 'remembered');
    await page.goto(`${daemon.url}/`);
    assert.equal(await page.inputValue('#name'), 'Zoë Q', 'the home page knows it too');
  });
  await ctx.close();
  await L.closeAll(...users);
});

test('no camera and no microphone: the pre-join screen says so and the user joins to listen and watch', { timeout: 60000 }, async () => {
  const room = L.roomName('pjnone');
  const users = [];
  await step('none', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann' });
    users.push(ann);
    const lis = await prejoin(bare, room, 'Lis', { viewport: { width: 390, height: 844 } });
    users.push(lis);
    const p = lis.page;
    assert.match(await p.textContent('#pj-msg'), /No camera or microphone was found\. .*join to listen and watch/);
    assert.match(await p.getAttribute('#pj-msg', 'title'), /NotFoundError/);
    assert.equal(await p.isChecked('#pj-cam-on'), false);
    assert.equal(await p.isChecked('#pj-mic-on'), false);
    assert.equal(await p.isDisabled('#pj-mic-on'), true);
    assert.equal(await p.textContent('#pj-join'), 'Join to listen and watch');
    assert.deepEqual(await p.$$eval('#pj-cam-select option', (os) => os.map((o) => o.textContent)), ['None found']);
    await L.shot(p, 'prejoin-no-devices-phone');
    await p.click('#pj-join');
    await joined(p);
    await L.waitConnected(p, 1);
    await L.waitVideo(p, 1);
    await L.waitFor('Lis hears Ann', async () => (await L.media(p))[0].audioLive);
    await L.waitFor('Ann sees a listener', async () => {
      const [t] = await L.tiles(ann.page);
      return t && t.name === 'Lis' && t.audio === 'false' && t.video === 'false' && t.state === 'connected';
    });
    assert.equal(await p.isDisabled('#btn-mic'), true, 'nothing to unmute');
  }, bare);
  await L.closeAll(...users);
});

test('camera and microphone refused: the pre-join screen says how to allow them, and joining still works', { timeout: 60000 }, async () => {
  const room = L.roomName('pjdenied');
  const users = [];
  await step('denied', async () => {
    const u = await prejoin(refusing, room, 'Dee');
    users.push(u);
    const p = u.page;
    assert.match(await p.textContent('#pj-msg'), /not allowed to use the camera and microphone\. Allow them in the address bar/);
    assert.match(await p.getAttribute('#pj-msg', 'title'), /NotAllowedError/);
    assert.doesNotMatch(await p.textContent('#pj-msg'), /Error/);
    await L.shot(p, 'prejoin-denied');
    await p.click('#pj-join');
    await joined(p);
    assert.equal(await p.evaluate(() => window.rtcdTest.localTracks().length), 0);
  }, refusing);
  await L.closeAll(...users);
});

test('the seventh in a full room sees why, no "Connected" and no own camera, and tries again through the pre-join screen, under a new name', { timeout: 150000 }, async () => {
  const room = L.roomName('pjfull');
  const users = [];
  await step('full', async () => {
    for (let i = 1; i <= 6; i++) {
      users.push(await L.openCall(browser, daemon.url, room, { small: true, name: `V${i}`, viewer: true, viewport: { width: 480, height: 360 } }));
    }
    for (const u of users) await joined(u.page);
    const late = await prejoin(browser, room, 'Late');
    users.push(late);
    const p = late.page;
    // Every text the header pill shows from now on.
    await p.evaluate(() => {
      const pill = document.getElementById('conn');
      window.pillSeen = [pill.textContent];
      new MutationObserver(() => window.pillSeen.push(pill.textContent)).observe(pill, { childList: true, characterData: true, subtree: true });
    });
    await L.waitFor('preview', () => p.$eval('#pj-video', (v) => v.videoWidth > 0));
    await p.click('#pj-join');
    await L.waitFor('room full notice', () => p.$eval('#notice', (n) => !n.hidden && n.dataset.kind === 'room_full'), 10000);
    assert.match(await p.textContent('#notice-text'), /This room is full \(6 people\)/);
    assert.equal(await p.textContent('#conn'), 'Room full');
    assert.equal(await p.$eval('#conn', (e) => e.dataset.state), 'bad');
    assert.equal(await body(p, 'call'), 'refused');
    const seen = await p.evaluate(() => window.pillSeen);
    assert.ok(!seen.includes('Connected'), `the pill never said Connected: ${seen}`);
    // Nothing looks joined: no grid with our camera, no call controls, camera and microphone off.
    assert.equal(await p.isVisible('#grid'), false);
    assert.equal(await p.isVisible('.tile.self'), false);
    assert.equal(await p.isVisible('#controls'), false);
    assert.equal(await p.evaluate(() => window.rtcdTest.localTracks().filter((t) => t.readyState === 'live').length), 0);
    await p.keyboard.press('v');
    await L.sleep(500);
    assert.equal(await p.evaluate(() => window.rtcdTest.cameraTrackId()), null, 'v does not start the camera of a call we are not in');
    await L.shot(p, 'prejoin-room-full');

    // Try again: back on the pre-join screen, with the preview.
    await p.click('#notice-actions button:has-text("Try again")');
    await L.waitFor('pre-join again', async () => (await body(p, 'call')) === 'prejoin');
    assert.equal(await p.textContent('#conn'), 'Not joined yet');
    await L.waitFor('preview again', () => p.$eval('#pj-video', (v) => v.videoWidth > 0));
    // Someone leaves; now there is room.
    await users[0].page.click('#btn-leave');
    await p.fill('#pj-name', 'Later');
    await p.click('#pj-join');
    await joined(p);
    assert.equal(await p.textContent('#conn'), 'Connected');
    await L.waitConnected(p, 5, 45000);
    assert.equal(await p.isVisible('.tile.self'), true);
    assert.equal(await p.textContent('.tile.self .name'), 'Later (you)');
    await L.waitFor('the others know the new name', async () => (await L.tiles(users[1].page)).some((t) => t.name === 'Later'), 10000);
  });
  await L.closeAll(...users);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
