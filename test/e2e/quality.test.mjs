// The connection quality the tiles and the People panel show
// (web/static/js/rtcstats.js quality) in plain Node: the loss is of the
// last interval, not since the call began, and the level follows loss and
// round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quality } from '../../web/static/js/rtcstats.js';

const s = (packetsReceived, packetsLost, rtt = 10, jitter = 3) => ({ packetsReceived, packetsLost, rtt, jitter });

test('loss is the share lost since the previous summary', () => {
  const first = quality(s(1000, 50), null);
  assert.equal(first.loss, null, 'no interval yet');
  assert.equal(first.level, 'good', 'a round trip alone rates it');
  const q = quality(s(1090, 60), first);
  assert.equal(q.loss, 10, '10 of 100 expected in the interval, not 60 of 1150');
  assert.equal(quality(s(1190, 60), q).loss, 0);
  assert.equal(quality(s(1090, 60), q).loss, null, 'nothing arrived nor was lost: no figure');
});

test('levels: good under 2 % and 250 ms, fair under 8 % and 500 ms, else poor; unknown without numbers', () => {
  const prev = quality(s(100, 0), null);
  assert.equal(quality(s(200, 1, 20), prev).level, 'good');
  assert.equal(quality(s(200, 0, 300), prev).level, 'fair');
  assert.equal(quality(s(195, 5, 20), prev).level, 'fair');
  assert.equal(quality(s(190, 10, 20), prev).level, 'poor');
  assert.equal(quality(s(200, 0, 600), prev).level, 'poor');
  assert.equal(quality(s(0, 0, null), null).level, 'unknown');
});
