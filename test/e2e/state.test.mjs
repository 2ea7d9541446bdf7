// What the page says about the connection, read as a user would: a banner
// while the server is being reached again (and the pill agreeing), gone
// when it is back; a join the server refuses shows its reason by code, the
// pill never says Connected, and nothing of the call shows; the host
// controls' codes as the joiner meets them (the lobby of a locked room, a
// password, being removed) and a raised hand in the People panel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const TOKEN_SECRET = 'e2e-token-secret-state-0123456789abcdef012345';
let plain;
let locked;
let browser;
const cleanup = L.suite(async (c) => {
  plain = await L.startDaemon(c);
  locked = await L.startDaemon(c, { signal: { Mode: 'token' }, tokenSecret: TOKEN_SECRET });
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [plain, locked] });

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
  const a = await L.openCall(browser, own.url, room, { small: true, name: 'Ann' });
  const b = await L.openCall(browser, own.url, room, { small: true, name: 'Bob', viewer: true });
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
  const u = await L.openCall(browser, locked.url, 'st', { small: true, name: 'Eve', prejoin: true, query: { token: expired } });
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

// hostDo sends a host action from page (the first joiner is the room's host) and waits for its echo.
const hostDo = (page, action, extra = {}) => page.evaluate((m) => window.rtcdTest.request(m), { type: 'host', action, ...extra });
const peerId = async (page) => (await page.evaluate(() => window.rtcdTest.signaling())).peerId;

test('host controls as the others meet them: a raised hand, the lobby of a locked room, removed, a password', { timeout: 120000 }, async () => {
  const room = L.roomName('host');
  const users = [];
  await step('host', async () => {
    const ann = await L.openCall(browser, plain.url, room, { small: true, name: 'Ann', viewer: true });
    users.push(ann);
    await L.waitFor('Ann joined', () => ann.page.$eval('body', (b) => b.dataset.call === 'joined'));
    const bob = await L.openCall(browser, plain.url, room, { small: true, name: 'Bob', viewer: true });
    users.push(bob);
    await L.waitConnected(ann.page, 1);
    // Bob raises his hand (an update with no reply: sent, not awaited).
    await bob.page.evaluate(() => { window.rtcdTest.request({ type: 'update', state: { hand: true } }).catch(() => {}); });
    await ann.page.click('#btn-people');
    await L.waitFor('Bob\'s hand in Ann\'s list', () => ann.page.$eval('#people-list', (l) => [...l.querySelectorAll('li')]
      .some((li) => li.querySelector('.pname').textContent === 'Bob' && /Hand raised/.test(li.querySelector('.badges').textContent))));
    assert.match(await ann.page.getAttribute(`[data-peer-id="${await peerId(bob.page)}"]`, 'aria-label'), /hand raised/);
    // The first joiner is the host: marked in both lists.
    const badges = (page, name) => page.$$eval('#people-list li', (lis, n) => lis.find((li) => li.querySelector('.pname').textContent === n)?.querySelector('.badges').textContent, name);
    await L.waitFor('Ann marked host in her own list', async () => (await badges(ann.page, 'Ann (you)')) === 'Host');
    await bob.page.click('#btn-people');
    await L.waitFor('Ann marked host in Bob\'s list', async () => (await badges(bob.page, 'Ann')) === 'Host');
    assert.equal(await badges(bob.page, 'Bob (you)'), '');

    // A locked room: the newcomer waits in the lobby, and the page does not pretend otherwise.
    await hostDo(ann.page, 'lock');
    const cy = await L.openCall(browser, plain.url, room, { small: true, name: 'Cy', prejoin: true });
    users.push(cy);
    await L.waitFor('Cy pre-join', () => cy.page.$eval('body', (b) => b.dataset.call === 'prejoin'));
    await watchPill(cy.page);
    await cy.page.click('#pj-join');
    await L.waitFor('Cy waits', () => cy.page.$eval('body', (b) => b.dataset.call === 'waiting'), 10000);
    assert.equal(await cy.page.textContent('#conn'), 'Waiting for a host');
    assert.equal(await cy.page.$eval('#notice', (n) => n.dataset.kind), 'waiting');
    assert.equal(await cy.page.isVisible('#grid'), false);
    assert.equal(await cy.page.isVisible('#controls'), false);
    await L.shot(cy.page, 'lobby-waiting');
    assert.ok(!(await cy.page.evaluate(() => window.pillSeen)).includes('Connected'));
    await hostDo(ann.page, 'admit', { target: await peerId(cy.page) });
    await L.waitFor('Cy let in', async () => (await cy.page.textContent('#conn')) === 'Connected', 10000);
    assert.equal(await cy.page.isVisible('#notice'), false);
    await L.waitConnected(cy.page, 2, 30000);

    // Removed by the host: out of the call, and told why.
    const bobId = await peerId(bob.page);
    await hostDo(ann.page, 'remove', { target: bobId });
    await L.waitFor('Bob removed', () => bob.page.$eval('body', (b) => b.dataset.call === 'refused'), 10000);
    assert.equal(await bob.page.$eval('#notice', (n) => n.dataset.kind), 'removed');
    assert.match(await bob.page.textContent('#notice-text'), /^The host removed you from this call\.$/);
    assert.equal(await bob.page.textContent('#conn'), 'Removed');
    assert.equal((await L.tiles(bob.page)).length, 0, 'its connections are closed');
    await L.waitFor('Bob gone at Ann', async () => !(await L.tiles(ann.page)).some((t) => t.id === bobId));

    // A password: a joiner without it is told so by its code.
    await hostDo(ann.page, 'unlock');
    await hostDo(ann.page, 'password', { password: 'blue whale 7' });
    const dee = await L.openCall(browser, plain.url, room, { small: true, name: 'Dee', viewer: true });
    users.push(dee);
    await L.waitFor('Dee refused', () => dee.page.$eval('body', (b) => b.dataset.call === 'refused'), 10000);
    assert.equal(await dee.page.$eval('#notice', (n) => n.dataset.kind), 'password_required');
    assert.match(await dee.page.textContent('#notice-text'), /This room has a password/);
    assert.equal(await dee.page.textContent('#conn'), 'Password needed');
  });
  await L.closeAll(...users);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
