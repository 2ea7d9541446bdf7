// What the page says about the connection, read as a user would: a banner
// while the server is being reached again (and the pill agreeing), gone
// when it is back; a join the server refuses shows its reason by code, the
// pill never says Connected, and nothing of the call shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const TOKEN_SECRET = 'e2e-token-secret-state-0123456789abcdef012345';
let locked;
let browser;
const cleanup = L.suite(async (c) => {
  locked = await L.startDaemon(c, { signal: { Mode: 'token' }, tokenSecret: TOKEN_SECRET });
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [locked] });

// watchPill records every text the header pill shows from now on.
function watchPill(page) {
  return page.evaluate(() => {
    const pill = document.getElementById('conn');
    window.pillSeen = [pill.textContent];
    new MutationObserver(() => window.pillSeen.push(pill.textContent)).observe(pill, { childList: true, characterData: true, subtree: true });
  });
}

test('a banner while the server is being reached again, and the pill agrees; both clear when it is back', { timeout: 90000 }, async () => {
  const own = await L.Daemon.create();
  cleanup.add(() => own.stop({ hard: true }));
  await own.start();
  const room = L.roomName('banner');
  const a = await L.openCall(browser, own.url, room, { name: 'Ann' });
  const b = await L.openCall(browser, own.url, room, { name: 'Bob', viewer: true });
  await step('banner', async () => {
    await L.waitConnected(a.page, 1);
    assert.equal(await a.page.isVisible('#banner'), false);
    await own.stop({ hard: true });
    await L.waitFor('banner', () => a.page.isVisible('#banner'), 10000);
    assert.match(await a.page.textContent('#banner'), /^Reconnecting to the server… The call goes on/);
    assert.equal(await a.page.getAttribute('#banner', 'role'), 'status');
    assert.match(await a.page.textContent('#conn'), /^Reconnecting/);
    assert.notEqual(await a.page.$eval('#conn', (e) => e.dataset.state), 'ok');
    // The call itself goes on meanwhile.
    assert.equal((await L.tiles(a.page))[0].state, 'connected');
    await L.shot(a.page, 'reconnecting-banner');
    await own.start();
    await L.waitFor('banner gone', async () => !(await a.page.isVisible('#banner')) && (await a.page.textContent('#conn')) === 'Connected', 20000);
  });
  await L.closeAll(a, b);
});

test('an expired invite, through the pre-join screen: its reason by code, no Connected, nothing of the call', { timeout: 60000 }, async () => {
  const expired = L.jwtHS256(TOKEN_SECRET, { room: 'st', sub: 'u1', exp: Math.floor(Date.now() / 1000) - 60 });
  const u = await L.openCall(browser, locked.url, 'st', { name: 'Eve', prejoin: true, query: { token: expired } });
  await step('expired', async () => {
    const p = u.page;
    await L.waitFor('pre-join', () => p.$eval('body', (b) => b.dataset.call === 'prejoin'));
    await watchPill(p);
    await p.click('#pj-join');
    await L.waitFor('refused', () => p.$eval('body', (b) => b.dataset.call === 'refused'), 10000);
    assert.equal(await p.$eval('#notice', (n) => n.dataset.kind), 'token_expired');
    assert.match(await p.textContent('#notice-text'), /invite link has expired/);
    assert.equal(await p.textContent('#conn'), 'Invite expired');
    assert.ok(!(await p.evaluate(() => window.pillSeen)).includes('Connected'));
    assert.equal(await p.isVisible('#grid'), false);
    assert.equal(await p.isVisible('#controls'), false);
    assert.equal(await p.isVisible('#prejoin'), false);
    assert.equal(await p.evaluate(() => window.rtcdTest.localTracks().filter((t) => t.readyState === 'live').length), 0);
    // The socket is closed for good: the way out is a reload, not a retry loop.
    assert.equal(await p.textContent('#notice-actions button'), 'Reload');
    assert.equal(await p.$eval('body', (b) => b.dataset.signal), 'closed');
  });
  await L.closeAll(u);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
