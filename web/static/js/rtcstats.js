// readStats summarizes an RTCStatsReport for a view and the test hook: the
// selected candidate pair with its local and remote candidates and round
// trip, and what arrives (bytes, packets, decoded frames). trackIds, when
// given, limits the inbound streams to those of these receiver tracks (one
// participant's, on a connection to the media server). quality rates a
// connection from two such summaries a second apart.
export function readStats(report, trackIds = null) {
  let pair = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId) || pair;
  });
  if (!pair) report.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
  const out = {
    pair: null, local: null, remote: null, rtt: null, framesDecoded: 0, bytesReceived: 0,
    packetsReceived: 0, packetsLost: 0, jitter: null,
    audio: { packetsReceived: 0, bytesReceived: 0, packetsLost: 0 },
    video: { packetsReceived: 0, bytesReceived: 0, packetsLost: 0, framesDecoded: 0, codec: '' },
  };
  report.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    if (trackIds && !trackIds.has(r.trackIdentifier)) return;
    if (r.kind === 'video') {
      out.framesDecoded += r.framesDecoded || 0;
      out.frameWidth = r.frameWidth;
      out.video.framesDecoded += r.framesDecoded || 0;
      if (r.codecId && report.get(r.codecId)) out.video.codec = report.get(r.codecId).mimeType;
    }
    out.bytesReceived += r.bytesReceived || 0;
    const m = r.kind === 'video' ? out.video : out.audio;
    m.packetsReceived += r.packetsReceived || 0;
    m.bytesReceived += r.bytesReceived || 0;
    m.packetsLost += Math.max(0, r.packetsLost || 0);
    out.packetsReceived += r.packetsReceived || 0;
    out.packetsLost += Math.max(0, r.packetsLost || 0);
    if (typeof r.jitter === 'number') out.jitter = Math.max(out.jitter || 0, Math.round(r.jitter * 1000));
  });
  if (pair) {
    out.pair = pair;
    out.local = report.get(pair.localCandidateId) || null;
    out.remote = report.get(pair.remoteCandidateId) || null;
    if (typeof pair.currentRoundTripTime === 'number') out.rtt = Math.round(pair.currentRoundTripTime * 1000);
  }
  return out;
}

// quality rates what arrives from a participant: loss is the share of its
// packets lost since the previous summary (percent, null while none were
// expected), rtt the round trip in ms, jitter the largest inbound jitter in
// ms; level is good, fair or poor (unknown without a round trip or packets).
export function quality(s, prev) {
  const lost = s.packetsLost - (prev?.packetsLost || 0);
  const got = s.packetsReceived - (prev?.packetsReceived || 0);
  const expected = lost + got;
  const loss = prev && expected > 0 ? Math.round((Math.max(0, lost) / expected) * 1000) / 10 : null;
  const rtt = s.rtt;
  let level = 'unknown';
  if (rtt != null || loss != null) {
    const l = loss || 0;
    const r = rtt || 0;
    level = l < 2 && r < 250 ? 'good' : l < 8 && r < 500 ? 'fair' : 'poor';
  }
  return { level, loss, rtt, jitter: s.jitter, packetsLost: s.packetsLost, packetsReceived: s.packetsReceived };
}

// statsRow is one participant's row of a transport's stats() (transport.js)
// from its summary s (null when the browser gave none).
export function statsRow(id, s) {
  return {
    id, local: s?.local || null, remote: s?.remote || null, rtt: s?.rtt ?? null,
    framesDecoded: s?.framesDecoded || 0, bytesReceived: s?.bytesReceived || 0,
    packetsReceived: s?.packetsReceived || 0, packetsLost: s?.packetsLost || 0, jitter: s?.jitter ?? null,
    audio: s?.audio || null, video: s?.video || null,
  };
}
