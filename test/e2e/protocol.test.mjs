// The page's protocol module (web/static/js/protocol.js) in plain Node, with
// no browser: it imports without a DOM, its error codes are the ones
// docs/protocol.md §4 lists, and its room and name rules say what §3.3 says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as P from '../../web/static/js/protocol.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

test('protocol.js imports in Node, without window or document', () => {
  assert.equal(typeof globalThis.window, 'undefined');
  assert.equal(typeof globalThis.document, 'undefined');
  assert.equal(P.VERSION, 1);
});

test('the error codes are those of docs/protocol.md §4', () => {
  const section = doc.slice(doc.indexOf('## 4. Errors'), doc.indexOf('## 5. Limits'));
  const documented = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.ok(documented.length >= 10, `codes found in the doc: ${documented}`);
  assert.deepEqual(Object.values(P.ERR).sort(), documented);
});

test('room names follow §3.3 and are normalized to NFC', () => {
  for (const ok of ['team-42', 'café', '会議室', 'встреча', 'a.b_c-d', 'x'.repeat(64)]) assert.equal(P.canonicalRoom(ok), ok, ok);
  assert.equal(P.canonicalRoom('cafe\u0301'), 'café');
  for (const bad of ['', '.', '..', 'bad room', 'a/b', 'x'.repeat(65), null, undefined]) assert.equal(P.canonicalRoom(bad), '', String(bad));
  assert.equal(P.roomTooLong('x'.repeat(65)), true);
  assert.equal(P.roomTooLong('会'.repeat(64)), false);
});

test('names are cleaned, and a missing one becomes a guest name', () => {
  assert.equal(P.cleanName('  Ann\u0007 B. '), 'Ann B.');
  assert.equal(P.displayName('', ' Bob '), 'Bob');
  assert.equal(P.displayName('Ann', 'Bob'), 'Ann');
  assert.match(P.displayName('', ''), /^Guest \d{3}$/);
});

test('decoding frames and their parts', () => {
  assert.deepEqual(P.decode('{"v":1,"type":"pong","id":"5"}'), { v: 1, type: P.MSG.pong, id: '5' });
  for (const junk of ['', 'null', '"x"', '{', '7']) assert.equal(P.decode(junk), null, junk);
  assert.deepEqual(P.envelope({ type: P.MSG.join, room: 'r' }), { v: 1, type: 'join', room: 'r' });
  assert.deepEqual(P.description('offer', { type: 'offer', sdp: 'v=0' }), { type: 'offer', sdp: 'v=0' });
  assert.equal(P.description('candidate', { sdp: 'v=0' }), null);
  assert.equal(P.description('answer', {}), null);
  assert.equal(P.chatText({ t: 'chat', text: 'x'.repeat(3000) }).length, P.LIMITS.chatChars);
  assert.equal(P.chatText({ t: 'chat' }), null);
  assert.equal(P.iceServersOf({ iceServers: 'no' }), null);
  assert.ok(P.isFatal(P.ERR.tokenExpired) && !P.isFatal(P.ERR.roomFull));
  assert.ok(P.isRefusal(P.ERR.roomFull) && !P.isRefusal(P.ERR.unsupportedVersion));
});
