// readStats summarizes an RTCStatsReport for a view and the test hook: the
// selected candidate pair with its local and remote candidates and round
// trip, and what arrives (bytes, packets, decoded frames). trackIds, when
// given, limits the inbound streams to those of these receiver tracks (one
// participant's, on a connection to the media server).
export function readStats(report, trackIds = null) {
  let pair = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId) || pair;
  });
  if (!pair) report.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
  const out = {
    pair: null, local: null, remote: null, rtt: null, framesDecoded: 0, bytesReceived: 0,
    audio: { packetsReceived: 0, bytesReceived: 0 },
    video: { packetsReceived: 0, bytesReceived: 0, framesDecoded: 0, codec: '' },
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
  });
  if (pair) {
    out.pair = pair;
    out.local = report.get(pair.localCandidateId) || null;
    out.remote = report.get(pair.remoteCandidateId) || null;
    if (typeof pair.currentRoundTripTime === 'number') out.rtt = Math.round(pair.currentRoundTripTime * 1000);
  }
  return out;
}
