// Who is in the call and how they are doing: the People panel (names,
// microphone and camera, a shared screen, direct or relayed, the speaker,
// the connection's quality from getStats), the speaker view and pinning, a
// shared screen shown large; and the page for keyboard and phone users:
// every control reached with Tab and named, the focus visible, nothing
// wider than a 390 px phone or a narrow window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

let daemon;
let sfu; // every room through the media server
let browser;
L.suite(async (c) => {
  daemon = await L.startDaemon(c);
  sfu = await L.startDaemon(c, { signal: { Media: 'sfu' } });
  browser = await L.startBrowser(c);
});

const step = (label, fn) => L.step(label, fn, { browser, daemons: [daemon, sfu] });

// rows reads the People panel.
function rows(page) {
  return page.$$eval('#people-list li', (lis) => lis.map((li) => ({
    id: li.dataset.person, name: li.querySelector('.pname').textContent, state: li.querySelector('.pstate').textContent,
    quality: li.querySelector('.pquality').textContent, level: li.querySelector('.pquality').dataset.level,
    speaking: li.dataset.speaking, pinned: li.querySelector('.pin').getAttribute('aria-pressed'),
  })));
}

async function rowOf(page, name) { return (await rows(page)).find((r) => r.name === name); }

// main: the large tile's peer id ('self' for ours), '' in a plain grid; and the view.
function layout(page) {
  return page.evaluate(() => {
    const main = document.querySelectorAll('#grid .tile.main');
    const strip = document.querySelector('#grid .tile:not(.main)');
    return {
      view: document.getElementById('grid').dataset.view, mains: main.length,
      main: main[0] ? main[0].dataset.peerId || 'self' : '',
      mainW: main[0]?.getBoundingClientRect().width || 0, stripW: strip?.getBoundingClientRect().width || 0,
    };
  });
}

// tabStops presses Tab until the focus comes back round and returns every
// element it stopped at: its id, accessible name, and whether a focus ring shows.
async function tabStops(page, max = 80) {
  await page.evaluate(() => { document.activeElement?.blur(); window.getSelection()?.removeAllRanges(); });
  const stops = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const s = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const labelled = e.getAttribute('aria-labelledby');
      const name = (e.getAttribute('aria-label') || (labelled && document.getElementById(labelled)?.textContent)
        || (e.labels?.length ? [...e.labels].map((l) => l.textContent).join(' ') : '') || e.textContent || e.title || '').trim();
      const cs = getComputedStyle(e);
      if (!e.dataset.tabKey) e.dataset.tabKey = String(Math.random());
      return { key: e.dataset.tabKey, id: e.id, cls: e.className, tag: e.tagName, name, ring: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0 };
    });
    if (!s) continue;
    if (stops.some((x) => x.key === s.key)) break;
    stops.push(s);
  }
  return stops;
}

// focusables lists the ids (or classes) of every visible control a keyboard user must reach.
function focusables(page) {
  return page.$$eval('button, input, select, a[href], [tabindex="0"]', (els) => els
    .filter((e) => !e.disabled && e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden], dialog:not([open])'))
    .map((e) => { if (!e.dataset.tabKey) e.dataset.tabKey = String(Math.random()); return e.dataset.tabKey; }));
}

test('the People panel, the speaker view with a pin, a shared screen shown large, and quality from getStats', { timeout: 150000 }, async () => {
  const room = L.roomName('people');
  const users = [];
  await step('people', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann' });
    const bob = await L.openCall(browser, daemon.url, room, { small: true, name: 'Bob', relay: true });
    const cy = await L.openCall(browser, daemon.url, room, { small: true, name: 'Cy', viewer: true, viewport: { width: 1100, height: 720 } });
    users.push(ann, bob, cy);
    const p = cy.page;
    await L.waitConnected(p, 2, 30000);
    const ids = Object.fromEntries((await L.tiles(p)).map((t) => [t.name, t.id]));

    await p.click('#btn-people');
    assert.equal(await p.getAttribute('#btn-people', 'aria-pressed'), 'true');
    await L.waitFor('three rows, ourselves first', async () => {
      const r = await rows(p);
      return r.length === 3 && r[0].id === 'self' && r[0].name === 'Cy (you)' ? r : false;
    });
    assert.equal(await p.textContent('#people-count'), '3');
    assert.match((await rowOf(p, 'Cy (you)')).state, /^muted · camera off/);
    await L.waitFor('paths in the list', async () => /direct/.test((await rowOf(p, 'Ann')).state) && /via relay/.test((await rowOf(p, 'Bob')).state));
    await bob.page.click('#btn-mic');
    await ann.page.click('#btn-cam');
    await L.waitFor('Bob muted, Ann without camera', async () => /^muted/.test((await rowOf(p, 'Bob')).state) && /camera off/.test((await rowOf(p, 'Ann')).state));
    // Only Ann's microphone is on now; its beeps make her the speaker.
    await L.waitFor('Ann speaking in the list', async () => (await rowOf(p, 'Ann')).speaking === 'true', 10000, 50);
    assert.match((await rowOf(p, 'Ann')).state, /speaking/);

    // Quality: bars and words on every remote tile and row, from the same getStats the hook reads.
    const q = await L.waitFor('quality numbers', async () => {
      const r = await Promise.all(['Ann', 'Bob'].map((n) => rowOf(p, n)));
      return r.every((x) => /^Connection (good|fair|poor): [\d.]+% packet loss, \d+ ms round trip/.test(x.quality)) ? r : false;
    }, 15000);
    const readTile = (id) => p.$eval(`[data-peer-id="${id}"]`, (t) => ({ rtt: Number(t.dataset.rtt), loss: Number(t.dataset.loss), quality: t.dataset.quality, aria: t.querySelector('.quality').getAttribute('aria-label') }));
    for (const { id } of await p.evaluate(() => window.rtcdTest.stats())) {
      // The tile shows the last second's getStats: poll until a reading of both agrees (a loaded machine's round trip jumps).
      const { s, tile } = await L.waitFor(`tile rtt of ${id} as getStats`, async () => {
        const one = (await p.evaluate(() => window.rtcdTest.stats())).find((x) => x.id === id);
        const t = await readTile(id);
        return one && Math.abs(t.rtt - one.rtt) <= 20 ? { s: one, tile: t } : false;
      }, 15000, 200);
      L.log('quality', id, JSON.stringify(tile), 'getStats rtt', s.rtt, 'lost', s.packetsLost, 'of', s.packetsReceived);
      assert.ok(s.packetsReceived > 0, 'packets counted');
      assert.ok(tile.loss >= 0 && tile.loss <= 100);
      if (s.packetsLost === 0) assert.equal(tile.loss, 0);
      // The level follows the numbers shown (rtcstats.js quality: under 2 % and 250 ms good, under 8 % and 500 ms fair).
      const level = tile.loss < 2 && tile.rtt < 250 ? 'good' : tile.loss < 8 && tile.rtt < 500 ? 'fair' : 'poor';
      assert.equal(tile.quality, level, `level of ${JSON.stringify(tile)}`);
      assert.match(tile.aria, new RegExp(`${tile.rtt} ms round trip`));
    }
    assert.ok(q.every((x) => ['good', 'fair', 'poor'].includes(x.level)));

    // The speaker view: one large tile, a strip.
    assert.equal((await layout(p)).view, 'grid');
    assert.equal(await p.getAttribute('#btn-layout', 'title'), 'Speaker view (l)');
    await p.keyboard.press('l');
    let lay = await L.waitFor('speaker view', async () => { const l = await layout(p); return l.view === 'speaker' ? l : false; });
    assert.equal(lay.mains, 1);
    assert.ok([ids.Ann, ids.Bob].includes(lay.main), `a remote tile is large: ${lay.main}`);
    assert.ok(lay.mainW > 2 * lay.stripW, `large ${lay.mainW} vs strip ${lay.stripW}`);
    assert.equal(await p.textContent('#btn-layout .lbl'), 'Grid view');
    await L.shot(p, 'speaker-view');

    // Pin Bob: his tile is large, in the speaker view and the grid view alike, until unpinned.
    await p.click(`[data-peer-id="${ids.Bob}"] .pin`);
    await L.waitFor('Bob large', async () => (await layout(p)).main === ids.Bob);
    assert.equal(await p.getAttribute(`[data-peer-id="${ids.Bob}"] .pin`, 'aria-pressed'), 'true');
    await L.waitFor('pinned in the list', async () => (await rowOf(p, 'Bob')).pinned === 'true');
    await p.click('#btn-layout');
    lay = await layout(p);
    assert.equal(lay.main, ids.Bob, 'a pin shows large in the grid view too');
    await p.click(`#people-list li[data-person="${ids.Bob}"] .pin`);
    await L.waitFor('plain grid', async () => { const l = await layout(p); return l.view === 'grid' && l.mains === 0; });
    assert.equal(await p.getAttribute(`[data-peer-id="${ids.Bob}"] .pin`, 'aria-pressed'), 'false');

    // A shared screen is shown large at once.
    await ann.page.click('#btn-screen');
    await L.waitFor('Ann\'s screen large', async () => (await layout(p)).main === ids.Ann, 15000);
    await L.waitFor('sharing in the list', async () => /sharing screen/.test((await rowOf(p, 'Ann')).state));
    await L.shot(p, 'screen-large');
    await ann.page.click('#btn-screen');
    await L.waitFor('back to the grid', async () => (await layout(p)).view === 'grid', 15000);
    await p.keyboard.press('Escape');
    assert.equal(await p.isVisible('#people'), false);
    assert.equal(await p.evaluate(() => document.activeElement.id), 'btn-people');
  });
  await L.closeAll(...users);
});

test('through the media server: the speaker view and the People panel follow the server\'s speaker; quality per participant', { timeout: 120000 }, async () => {
  const room = L.roomName('sfupeople');
  const users = [];
  await step('sfu-people', async () => {
    const ann = await L.openCall(browser, sfu.url, room, { small: true, name: 'Ann' });
    const ben = await L.openCall(browser, sfu.url, room, { small: true, name: 'Ben' });
    const cat = await L.openCall(browser, sfu.url, room, { small: true, name: 'Cat', viewer: true, viewport: { width: 1100, height: 720 } });
    users.push(ann, ben, cat);
    const p = cat.page;
    await L.waitConnected(p, 2, 30000);
    assert.equal(await p.evaluate(() => window.rtcdTest.media()), 'sfu');
    const ids = Object.fromEntries((await L.tiles(p)).map((t) => [t.name, t.id]));
    await ben.page.click('#btn-mic');
    await p.click('#btn-layout');
    await p.click('#btn-people');
    // follows waits until the server names who, the large tile is theirs and their row says speaking.
    const follows = (who) => L.waitFor(`${who} large at Cat`, async () => {
      if ((await p.evaluate(() => window.rtcdTest.speaker())) !== ids[who]) return false;
      const r = await rowOf(p, who);
      return (await layout(p)).main === ids[who] && r.speaking === 'true' && /speaking/.test(r.state);
    }, 20000, 100);
    await follows('Ann');
    await L.shot(p, 'sfu-speaker-view');
    await ben.page.click('#btn-mic');
    await ann.page.click('#btn-mic');
    await follows('Ben');
    for (const who of ['Ann', 'Ben']) {
      const r = await L.waitFor(`${who}'s quality`, async () => { const x = await rowOf(p, who); return /^Connection (good|fair|poor): [\d.]+% packet loss, \d+ ms round trip/.test(x.quality) ? x : false; });
      assert.match(r.state, /direct/);
    }
  });
  await L.closeAll(...users);
});

test('the view picked is remembered for the next call in this browser', { timeout: 60000 }, async () => {
  const room = L.roomName('view');
  const users = [];
  await step('view', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann', viewer: true });
    users.push(ann);
    const p = ann.page;
    await L.waitFor('the call page', async () => (await p.textContent('#btn-layout .lbl')) === 'Speaker view');
    await p.click('#btn-layout');
    assert.equal(await p.textContent('#btn-layout .lbl'), 'Grid view');
    // A later call in the same browser (same storage) opens in the speaker view.
    await p.reload();
    await L.waitFor('speaker view after reload', async () => (await p.textContent('#btn-layout .lbl').catch(() => '')) === 'Grid view');
    assert.equal(await p.getAttribute('#btn-layout', 'title'), 'Grid view (l)');
    await p.click('#btn-layout');
    assert.equal(await p.evaluate(() => localStorage.getItem('rtcd.view')), 'grid');
    await p.reload();
    await L.waitFor('grid view after reload', async () => (await p.textContent('#btn-layout .lbl').catch(() => '')) === 'Speaker view');
  });
  await L.closeAll(...users);
});

test('keyboard: Tab reaches every control, each has a name and a visible focus ring; the shortcuts are in the tooltips', { timeout: 90000 }, async () => {
  const room = L.roomName('tabs');
  const users = [];
  await step('tabs', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann', viewer: true });
    const kay = await L.openCall(browser, daemon.url, room, { small: true, name: 'Kay' });
    users.push(ann, kay);
    const p = kay.page;
    await L.waitConnected(p, 1);
    for (const [id, key] of [['btn-mic', 'm'], ['btn-cam', 'v'], ['btn-chat', 'c'], ['btn-people', 'p'], ['btn-layout', 'l']]) {
      assert.match(await p.getAttribute(`#${id}`, 'title'), new RegExp(`\\(${key}\\)$`), id);
      assert.equal(await p.getAttribute(`#${id}`, 'aria-keyshortcuts'), key, id);
    }
    const want = await focusables(p);
    const stops = await tabStops(p);
    L.log('tab order:', stops.map((s) => s.id || s.name).join(' → '));
    for (const key of want) assert.ok(stops.some((s) => s.key === key), `not reached by Tab: ${JSON.stringify(await p.$eval(`[data-tab-key="${key}"]`, (e) => e.outerHTML.slice(0, 120)))}`);
    for (const s of stops) {
      assert.ok(s.name, `no accessible name: ${JSON.stringify(s)}`);
      assert.ok(s.ring, `no visible focus: ${JSON.stringify(s)}`);
    }
    for (const id of ['copy-link', 'btn-help', 'btn-mic', 'btn-cam', 'btn-chat', 'btn-people', 'btn-layout', 'btn-settings', 'btn-leave']) {
      assert.ok(stops.some((s) => s.id === id), `${id} reached`);
    }
    assert.ok(stops.filter((s) => /\bpin\b/.test(s.cls)).length >= 2, 'the tiles\' pin buttons are reached');
    // The tooltips follow the shortcut switch.
    await p.keyboard.press('?');
    await p.uncheck('#shortcuts-on');
    await p.keyboard.press('Escape');
    assert.equal(await p.getAttribute('#btn-people', 'title'), 'People');
    assert.equal(await p.getAttribute('#btn-people', 'aria-keyshortcuts'), null);
    await p.check('#shortcuts-on').catch(() => {}); // the dialog is closed; the choice is the test's only
  });
  await L.closeAll(...users);
});

// overflow reads how much wider than the viewport the page is, and which
// visible controls lie outside it.
function overflow(page) {
  return page.evaluate(() => {
    const W = window.innerWidth;
    const H = window.innerHeight;
    const out = [...document.querySelectorAll('button, input, select, a.button')]
      .filter((e) => e.getClientRects().length && !e.closest('[hidden], dialog:not([open]), .panel'))
      .filter((e) => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > W + 0.5 || r.top < 0 || r.bottom > H + 0.5; })
      .map((e) => e.id || e.className || e.textContent);
    return { extra: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - W, outside: out };
  });
}

test('a 390×844 phone and a narrow window: no sideways scrolling, every control on screen and reached with Tab', { timeout: 120000 }, async () => {
  const room = L.roomName('phone');
  const users = [];
  await step('phone', async () => {
    const ann = await L.openCall(browser, daemon.url, room, { small: true, name: 'Ann' });
    const bob = await L.openCall(browser, daemon.url, room, { small: true, name: 'Bob', viewer: true });
    users.push(ann, bob);
    // The pre-join screen on the phone.
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await L.smallCamera(ctx);
    users.push({ ctx });
    const p = await ctx.newPage();
    L.watchPage(p, 'phone');
    await p.goto(`${daemon.url}/r/${room}?name=Pat`);
    await L.waitFor('pre-join', () => p.$eval('body', (b) => b.dataset.call === 'prejoin'));
    let o = await overflow(p);
    assert.ok(o.extra <= 0, `pre-join ${o.extra} px too wide`);
    await p.click('#pj-join');
    await L.waitConnected(p, 2, 30000);
    o = await overflow(p);
    assert.ok(o.extra <= 0, `call ${o.extra} px too wide`);
    assert.deepEqual(o.outside, [], 'controls outside the screen');
    await p.click('#btn-layout');
    await L.waitFor('speaker view on the phone', () => p.$eval('#grid', (g) => g.dataset.view === 'speaker'));
    o = await overflow(p);
    assert.ok(o.extra <= 0 && !o.outside.length, `speaker view: ${JSON.stringify(o)}`);
    await L.shot(p, 'phone-speaker-view');
    await p.click('#btn-people');
    assert.equal(await p.isVisible('#people-list'), true);
    assert.equal((await rows(p)).length, 3);
    await L.shot(p, 'phone-people');
    await p.keyboard.press('Escape');
    const want = await focusables(p);
    const stops = await tabStops(p);
    for (const key of want) assert.ok(stops.some((s) => s.key === key), 'every control reached with Tab on the phone');

    // A narrow desktop window.
    const narrow = await L.openCall(browser, daemon.url, room, { small: true, name: 'Nel', viewer: true, viewport: { width: 480, height: 700 } });
    users.push(narrow);
    await L.waitConnected(narrow.page, 3, 30000);
    o = await overflow(narrow.page);
    assert.ok(o.extra <= 0 && !o.outside.length, `narrow window: ${JSON.stringify(o)}`);
    await L.shot(narrow.page, 'narrow-window');
  });
  await L.closeAll(...users);
});

test('no page threw an uncaught error or hit the Content-Security-Policy', () => {
  assert.deepEqual(L.problems, []);
});
