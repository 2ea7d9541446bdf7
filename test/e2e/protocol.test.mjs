// The page's protocol module (web/static/js/protocol.js) in plain Node, with
// no browser: it imports without a DOM, its error codes are the ones
// docs/protocol.md §4 lists, and its room and name rules say what §3.3 says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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
  assert.ok(P.isRefusal(P.ERR.wrongPassword) && P.needsPassword(P.ERR.passwordRequired) && !P.needsPassword(P.ERR.roomFull));
  assert.ok(P.isEnded(P.ERR.removed) && P.isEnded(P.ERR.roomEnded) && !P.isEnded(P.ERR.notHost));
  assert.deepEqual(P.hostAction(P.HOST.remove, { target: 'p_b' }), { type: 'host', action: 'remove', target: 'p_b' });
});

// The Go protocol package's reference messages (signal/proto/testdata),
// read here too, so a change on either side breaks the other's tests.
const fixtures = new URL('../../signal/proto/testdata/', import.meta.url);
const readJSON = (rel) => JSON.parse(readFileSync(new URL(rel, fixtures), 'utf8'));
const dir = (name) => readdirSync(new URL(`${name}/`, fixtures)).filter((f) => f.endsWith('.json'))
  .map((f) => ({ f, text: readFileSync(new URL(`${name}/${f}`, fixtures), 'utf8') }));
const wireTypes = Object.values(P.MSG).filter((t) => t !== P.MSG.sessionLost);

test('every message type has a Go fixture, and every fixture a type the page knows', () => {
  const seen = new Set([...dir('client'), ...dir('server')].map(({ text }) => P.decode(text).type));
  assert.deepEqual([...seen].sort(), [...wireTypes].sort());
});

test('server fixtures decode into what the page reads', () => {
  for (const { f, text } of dir('server')) {
    const m = P.decode(text);
    assert.ok(m, f);
    assert.equal(m.v, P.VERSION, f);
    assert.ok(wireTypes.includes(m.type), `${f}: type ${m.type}`);
    switch (m.type) {
      case P.MSG.hello:
        assert.ok(P.iceServersOf(m), f);
        assert.equal(typeof m.peerId, 'string', f);
        assert.equal(m.limits.maxMessageBytes, P.LIMITS.frameBytes, f);
        assert.ok(m.heartbeat.interval > 0 && m.heartbeat.timeout > m.heartbeat.interval, f);
        break;
      case P.MSG.ice:
        assert.ok(P.iceServersOf(m)?.length, f);
        break;
      case P.MSG.error:
        assert.ok(Object.values(P.ERR).includes(m.code), `${f}: code ${m.code}`);
        break;
      case P.MSG.signal:
        assert.ok(Object.values(P.KIND).includes(m.kind), f);
        if (m.kind === P.KIND.offer || m.kind === P.KIND.answer) assert.ok(P.description(m.kind, m.data), f);
        if (m.kind === P.KIND.speaker) {
          assert.equal(m.from, P.SFU_PEER, f);
          assert.equal(typeof m.data.peer, 'string', f);
        }
        break;
      case P.MSG.joined:
        assert.equal(P.canonicalRoom(m.room), m.room, f);
        assert.ok(Array.isArray(m.peers), f);
        if (m.media !== undefined) assert.equal(P.mediaMode(m.media), m.media, `${f}: media ${m.media}`);
        break;
      case P.MSG.host:
      case P.MSG.hostRequest:
        assert.ok(Object.values(P.HOST).includes(m.action), `${f}: action ${m.action}`);
        break;
      case P.MSG.roomUpdated:
        assert.equal(typeof m.settings.locked, 'boolean', f);
        assert.equal(typeof m.settings.password, 'boolean', f);
        break;
      case P.MSG.lobby:
        assert.ok(Array.isArray(m.peers), f);
        break;
      case P.MSG.waiting:
        assert.equal(P.canonicalRoom(m.room), m.room, f);
        break;
      case P.MSG.media:
        assert.ok(Object.values(P.MEDIA).includes(m.mode), `${f}: mode ${m.mode}`);
        assert.equal(P.mediaMode(m.mode), m.mode, f);
        break;
    }
    for (const p of [...(m.peers || []), ...(m.peer ? [m.peer] : [])]) assert.equal(typeof p.id, 'string', f);
  }
});

test('client fixtures are what the page sends', () => {
  for (const { f, text } of dir('client')) {
    const m = P.decode(text);
    const { v, ...body } = m;
    assert.deepEqual(P.envelope(body), m, f);
    if (m.room !== undefined) assert.equal(P.canonicalRoom(m.room), m.room, f);
    if (m.client !== undefined) assert.match(m.client, P.CLIENT_RE, f);
    if (m.name !== undefined) assert.equal(P.cleanName(m.name), m.name, f);
    if (m.kind !== undefined) assert.ok(Object.values(P.KIND).includes(m.kind), f);
    if (m.type === P.MSG.host) {
      assert.ok(Object.values(P.HOST).includes(m.action), `${f}: action ${m.action}`);
      const { v: _, type, action, ...rest } = m;
      assert.deepEqual(P.envelope({ ...(m.id ? { id: m.id } : {}), ...P.hostAction(action, rest) }), m, f);
    }
    if (m.password !== undefined) assert.ok([...m.password].length <= P.LIMITS.passwordChars, f);
    if (m.kind === P.KIND.layers) {
      assert.equal(m.to, P.SFU_PEER, f);
      for (const [id, t] of Object.entries(m.data.tiles)) assert.ok(Number.isInteger(t.width) && Number.isInteger(t.height), `${f}: ${id}`);
    }
  }
});

test('data channel fixtures, room names and limits agree with the Go package', () => {
  for (const { f, text } of dir('data')) {
    const m = P.decode(text);
    assert.ok(Object.values(P.DATA).includes(m.t), `${f}: t ${m.t}`);
    if (m.t === P.DATA.chat) assert.equal(P.chatText(m), m.text, f);
  }
  const rooms = readJSON('rooms.json');
  for (const [raw, canon] of rooms.valid) assert.equal(P.canonicalRoom(raw), canon, raw);
  for (const bad of rooms.invalid) assert.equal(P.canonicalRoom(bad), '', bad);
  const l = readJSON('limits.json');
  assert.deepEqual([l.maxMessageBytes, l.maxIdBytes, l.maxNameRunes, l.maxRoomRunes, l.maxChatRunes, l.maxPasswordRunes],
    [P.LIMITS.frameBytes, P.LIMITS.idBytes, P.LIMITS.nameChars, P.LIMITS.roomChars, P.LIMITS.chatChars, P.LIMITS.passwordChars]);
});

// The page's other modules take protocol strings from protocol.js: none
// spells a message type, error code, signal kind or data message type where
// a message is built or matched.
test('no module but protocol.js spells a protocol string', () => {
  const byKey = {
    type: new Set(wireTypes), code: new Set(Object.values(P.ERR)), reason: new Set(Object.values(P.ERR)),
    kind: new Set(Object.values(P.KIND)), t: new Set(Object.values(P.DATA)),
    mode: new Set(Object.values(P.MEDIA)), media: new Set(Object.values(P.MEDIA)),
    action: new Set(Object.values(P.HOST)), role: new Set(Object.values(P.ROLE)),
    to: new Set([P.SFU_PEER]), from: new Set([P.SFU_PEER]),
  };
  const all = new Set(Object.values(byKey).flatMap((v) => [...v]));
  const jsDir = new URL('../../web/static/js/', import.meta.url);
  // desc.type is WebRTC's RTCSessionDescription type and candidate.type an ICE
  // candidate's (host, srflx, relay), not signaling fields.
  const use = /(?<!(?:desc|candidate)\.)\b(type|code|kind|t|reason|mode|media|to|from|action|role)\s*(?:===|!==|:)\s*'([a-z_-]+)'|\bcase\s+'([a-z_-]+)'/g;
  const found = [];
  for (const f of readdirSync(jsDir).filter((n) => n.endsWith('.js') && n !== 'protocol.js')) {
    const src = readFileSync(new URL(f, jsDir), 'utf8');
    for (const m of src.matchAll(use)) {
      if (m[1] ? byKey[m[1]].has(m[2]) : all.has(m[3])) found.push(`${f}: ${m[0]}`);
    }
  }
  assert.deepEqual(found, []);
});
