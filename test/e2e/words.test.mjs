// The page's words for a refused or ended call (web/static/js/status.js) in
// plain Node: every error code that refuses or ends has a sentence of its
// own, without the code in it; any other code is said in the server's
// words, and without those in a generic sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as P from '../../web/static/js/protocol.js';
import { endedText } from '../../web/static/js/status.js';

const GENERIC = 'The server ended this call.';

test('every refusal and ending has a plain sentence of its own', () => {
  const own = Object.values(P.ERR).filter((c) => (P.isRefusal(c) || P.isFatal(c) || P.isEnded(c)) && c !== P.ERR.roomFull);
  assert.ok(own.length >= 4, `codes: ${own}`);
  for (const code of own) {
    const text = endedText(code, 'server words');
    assert.doesNotMatch(text, /server words/, `${code} has its own words`);
    assert.notEqual(text, GENERIC, code);
    if (code.includes('_')) assert.doesNotMatch(text, new RegExp(code), `${code} not spelled out`);
    assert.match(text, /^[A-Z].*\.$/, `${code}: a sentence`);
  }
});

test('an unknown code is said in the server\'s words, as a sentence; without words, generically', () => {
  assert.equal(endedText('some_new_code', 'the room is being serviced'), 'The room is being serviced.');
  assert.equal(endedText('some_new_code', 'Try later!'), 'Try later!');
  assert.equal(endedText(P.END.replaced, 'this call was taken over by another window'), 'This call was taken over by another window.');
  assert.equal(endedText('some_new_code', ''), GENERIC);
  assert.equal(endedText('', undefined), GENERIC);
});
