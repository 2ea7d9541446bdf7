// window.rtcdTest: the one way the browser tests (test/e2e) look inside a
// page, documented in test/e2e/README.md. Every method returns plain data,
// so the tests depend on this list and not on how the page is built.
const plain = (o) => (o ? JSON.parse(JSON.stringify(o)) : null);

const tileOf = (id) => document.querySelector(`[data-peer-id="${CSS.escape(id)}"]`);

function videoWidth(id) {
  return tileOf(id)?.querySelector('video')?.videoWidth || 0;
}

// audioLive: the tile plays an audio track that is live and carries media (not muted).
function audioLive(id) {
  const track = tileOf(id)?.querySelector('audio')?.srcObject?.getAudioTracks()[0];
  return !!track && track.readyState === 'live' && !track.muted;
}

// exposeCall installs the call page's hook.
export function exposeCall({ session, media, transport }) {
  window.rtcdTest = Object.freeze({
    // peers: the transport's participants, {id, name, state, path, createdAt,
    // iceUfrag, iceUsername, sending: {audio, video} (track ids)}.
    peers: () => plain(transport.snapshot()),
    // stats: per participant, what the browser really receives.
    stats: async () => (await transport.stats()).map((s) => ({ ...plain(s), videoWidth: videoWidth(s.id), audioLive: audioLive(s.id) })),
    // sent: the video encodings we publish to the media server now ([] in a mesh).
    sent: async () => plain(await transport.sent()),
    metrics: () => ({ ...transport.metrics }),
    // media: how the call carries media now, 'mesh' or 'sfu' (as body[data-media]).
    media: () => transport.mode,
    // transports: the media modes of the transports open now; two while a call moves to the media server.
    transports: () => [...transport.transports()],
    // speaker: the dominant speaker's peer id the media server named last, or ''.
    speaker: () => transport.speaker,
    iceServers: () => plain(session.iceServers),
    signaling: () => ({
      state: session.signal, call: session.state, peerId: session.peerId, resumed: !!session.hello?.resumed,
      url: session.sig.ws?.url || '', socket: session.sig.ws ? session.sig.ws.readyState : null,
    }),
    dropSocket: () => { session.sig.ws?.close(4000, 'test drop'); },
    request: async (msg) => plain(await session.request(msg)),
    localTracks: () => media.stream.getTracks().map((t) => ({ id: t.id, kind: t.kind, readyState: t.readyState, enabled: t.enabled })),
    cameraTrackId: () => media.cam?.id || null,
    // room: our place and role in the room (§3.11): {state, reason, host, settings, lobby: [{id, name}], hand}.
    room: () => plain({
      state: session.state, reason: session.reason, host: session.host, settings: session.settings, lobby: session.lobby,
      hand: document.getElementById('btn-hand')?.getAttribute('aria-pressed') === 'true',
    }),
  });
}

// exposeDiag installs the /diag page's hook: diag() is the last run's
// {results, call}, or null before one ended.
export function exposeDiag(last) {
  window.rtcdTest = Object.freeze({ diag: () => plain(last()) });
}
