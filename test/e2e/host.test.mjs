// Host controls in the page (docs/protocol.md §3.11): the first person in a
// room hosts it; what a non-host tries is refused by the server; a locked
// room's lobby, a password, removing, ending and muting, as the people on
// both sides see them. Everyone but the muted participant joins as a viewer
// (no camera, no microphone) to keep the fake media small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let d;
let browser;
L.suite(async (c) => {
  d = await L.startDaemon(c, {});
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [d] });
const small = { width: 900, height: 640 };

// join opens the room as name; viewer unless media is set.
async function join(room, name, { media = false } = {}) {
  const u = await L.openCall(browser, d.url, room, { name, viewer: !media, viewport: small });
  u.page.on('dialog', (dlg) => dlg.accept()); // "Remove …?", "End the meeting?"
  return u;
}

const room = (page) => page.evaluate(() => window.rtcdTest.room());
const call = (page) => page.$eval('body', (b) => b.dataset.call);
const peerId = (page) => page.evaluate(() => window.rtcdTest.signaling().peerId);
const notice = (page) => page.$eval('#notice', (n) => (n.hidden ? null : { kind: n.dataset.kind, text: n.textContent }));

function waitCall(page, want, what) {
  return L.waitFor(what || `data-call ${want}`, async () => (await call(page)) === want, 15000);
}

function waitNotice(page, kind, re) {
  return L.waitFor(`notice ${kind}`, async () => {
    const n = await notice(page);
    return n && n.kind === kind && (!re || re.test(n.text)) ? n : false;
  }, 15000);
}

// host opens the first page of a new room: its host, with the Host panel open.
async function host(prefix) {
  const name = L.roomName(prefix);
  const a = await join(name, 'Ann');
  await waitCall(a.page, 'joined');
  await L.waitFor('Ann is host', async () => (await room(a.page)).host);
  await a.page.click('#btn-host');
  assert.equal(await a.page.isVisible('#host'), true, 'Host panel opens');
  return { name, a };
}

// act clicks a participant's action in the host's panel.
async function act(page, list, id, action) {
  const sel = `#${list} li[data-peer="${id}"] button[data-action="${action}"]`;
  await L.waitFor(`${action} button for ${id}`, () => page.isVisible(sel));
  await page.click(sel);
}

test('a non-host has no host controls, and the server refuses them', async () => {
  const users = [];
  await step('non-host', async () => {
    const { name, a } = await host('nonhost');
    users.push(a);
    const b = await join(name, 'Bob');
    users.push(b);
    await waitCall(b.page, 'joined');
    assert.equal((await room(b.page)).host, false);
    assert.equal(await b.page.isVisible('#btn-host'), false, 'no Host button for Bob');
    const codes = await b.page.evaluate(async () => {
      const out = [];
      for (const msg of [{ type: 'host', action: 'lock' }, { type: 'host', action: 'end' }]) {
        out.push(await window.rtcdTest.request(msg).then(() => 'done', (e) => e.code));
      }
      return out;
    });
    assert.deepEqual(codes, ['not_host', 'not_host']);
    assert.equal((await room(a.page)).settings.locked, false, 'nothing changed');
    await waitCall(b.page, 'joined');
  });
  await L.closeAll(...users);
});

test('a locked room: a newcomer waits, the host admits one and turns another away', async () => {
  const users = [];
  await step('lobby', async () => {
    const { name, a } = await host('lobby');
    users.push(a);
    await a.page.click('#host-lock');
    await L.waitFor('locked', async () => (await room(a.page)).settings.locked);
    assert.equal(await a.page.textContent('#host-lock'), 'Unlock room');

    const b = await join(name, 'Bob');
    users.push(b);
    await waitCall(b.page, 'waiting');
    await waitNotice(b.page, 'waiting', /Waiting for a host/);
    assert.equal(await b.page.textContent('#conn'), 'Waiting for a host');
    const bid = await peerId(b.page);
    await waitNotice(a.page, 'lobby', /Bob is waiting to join/);
    assert.equal(await a.page.textContent('#host-badge'), '1');
    await L.shot(a.page, 'host-lobby');
    await act(a.page, 'host-lobby', bid, 'Admit');
    await waitCall(b.page, 'joined');
    await L.waitFor('Bob in the call', async () => (await L.tiles(a.page)).length === 1);
    assert.equal((await room(b.page)).settings.locked, true);

    const c = await join(name, 'Cy');
    users.push(c);
    await waitCall(c.page, 'waiting');
    await act(a.page, 'host-lobby', await peerId(c.page), 'Deny');
    await waitNotice(c.page, 'lobby_denied', /did not let you in/);
    assert.equal(await c.page.textContent('#conn'), 'Not let in');
    assert.equal((await L.tiles(b.page)).length, 1, 'Cy never entered');
  });
  await L.closeAll(...users);
});

test('a password: the wrong one is refused, the right one lets in', async () => {
  const users = [];
  await step('password', async () => {
    const { name, a } = await host('password');
    users.push(a);
    await a.page.fill('#host-pw', 'blue whale 7');
    await a.page.click('#host-pw-form button[type=submit]');
    await L.waitFor('password set', async () => (await room(a.page)).settings.password);
    assert.equal(await a.page.isVisible('#host-pw-clear'), true);

    const b = await join(name, 'Bob');
    users.push(b);
    await waitNotice(b.page, 'password_required', /has a password/);
    assert.equal(await b.page.isVisible('#join-pw'), true, 'password prompt');
    await b.page.fill('#join-pw-input', 'blue whale 8');
    await b.page.press('#join-pw-input', 'Enter');
    await waitNotice(b.page, 'password_required', /not right/);
    assert.equal((await room(b.page)).reason, 'wrong_password');
    await b.page.fill('#join-pw-input', 'blue whale 7');
    await b.page.click('#join-pw button[type=submit]');
    await waitCall(b.page, 'joined');
    assert.equal(await b.page.isVisible('#join-pw'), false);
    await L.waitFor('Bob in the call', async () => (await L.tiles(a.page)).length === 1);
  });
  await L.closeAll(...users);
});

test('the host removes a participant, who cannot come back', async () => {
  const users = [];
  await step('remove', async () => {
    const { name, a } = await host('remove');
    users.push(a);
    const b = await join(name, 'Bob');
    users.push(b);
    await waitCall(b.page, 'joined');
    await act(a.page, 'host-people', await peerId(b.page), 'Remove');
    await waitNotice(b.page, 'removed', /removed you/);
    assert.equal(await b.page.textContent('#conn'), 'Removed');
    assert.equal(await call(b.page), 'refused');
    await L.waitFor('Bob gone', async () => (await L.tiles(a.page)).length === 0);
    // Reloading (the same browser) does not get him back in.
    await b.page.reload();
    await waitNotice(b.page, 'removed', /removed you/);
  });
  await L.closeAll(...users);
});

test('the host ends the meeting for everyone', async () => {
  const users = [];
  await step('end', async () => {
    const { name, a } = await host('end');
    users.push(a);
    const b = await join(name, 'Bob');
    users.push(b);
    await waitCall(b.page, 'joined');
    await a.page.click('#host-end');
    await waitNotice(b.page, 'room_ended', /ended the meeting/);
    assert.equal(await b.page.textContent('#conn'), 'Meeting ended');
    await waitNotice(a.page, 'ended', /You ended the meeting/);
    assert.equal(await call(a.page), 'left');
  });
  await L.closeAll(...users);
});

test('mute, ask to unmute and a raised hand', async () => {
  const users = [];
  await step('mute', async () => {
    const { name, a } = await host('mute');
    users.push(a);
    const b = await join(name, 'Bob', { media: true });
    users.push(b);
    await waitCall(b.page, 'joined');
    const micOn = () => b.page.evaluate(() => window.rtcdTest.localTracks().some((t) => t.kind === 'audio' && t.enabled));
    await L.waitFor('Bob speaks', async () => (await micOn()) && (await L.tiles(a.page))[0]?.audio === 'true');
    const bid = await peerId(b.page);
    await act(a.page, 'host-people', bid, 'Mute');
    await waitNotice(b.page, 'host-mute', /muted your microphone/);
    await L.waitFor('Bob muted', async () => !(await micOn()) && (await L.tiles(a.page))[0]?.audio === 'false');

    await act(a.page, 'host-people', bid, 'Ask to unmute');
    await waitNotice(b.page, 'ask-unmute', /asks you to unmute/);
    assert.equal(await micOn(), false, 'asking does not unmute');
    await b.page.click('#notice-actions button:has-text("Unmute")');
    await L.waitFor('Bob unmuted himself', async () => (await micOn()) && (await L.tiles(a.page))[0]?.audio === 'true');

    await b.page.click('#btn-hand');
    await L.waitFor('hand seen', () => a.page.$eval(`[data-peer-id="${bid}"]`, (t) => t.dataset.hand === 'true'));
    assert.equal((await room(b.page)).hand, true);
    await b.page.click('#btn-hand');
    await L.waitFor('hand down', () => a.page.$eval(`[data-peer-id="${bid}"]`, (t) => t.dataset.hand === 'false'));
  });
  await L.closeAll(...users);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
