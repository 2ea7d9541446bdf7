// The media transport: how our tracks reach the other participants and
// theirs reach us. The call page talks only to this interface, so the mesh
// (mesh.js, a connection to every peer) and a media server (sfu.js, one
// connection, tracks forwarded by the server) are interchangeable; the
// switcher (switcher.js) follows the session and picks the one the room uses.
// Also the helpers every transport shares: which ICE servers to use and a
// connection's path summary.
//
// A transport is an EventTarget constructed with
//   {session, stream, view(info) -> a peer's view, relayOnly, ice: {transport, port}}
// and has these methods:
//   start()                     connect what does not wait for a participant (the media server)
//   addPeer(info, {initiator})  a participant (joined list, peer-joined); initiator: we offer
//   updatePeer(info)            peer-updated (name, state, away)
//   removePeer(id)              peer-left
//   syncPeers(list)             the full list of a resumed session
//   renew(peerId)               our signaling session was replaced; peerId is our new id
//   sessionLost()               the server forgot our session
//   receive(from, kind, data)   a relayed signal message
//   setIceServers(list)         new ICE servers (hello, refresh)
//   publish(kind, track, {screen})  send track as our audio or video from now on
//                               (null: nothing), replacing the one sent so far
//   sendChat(text) -> {delivered, peers}
//   leave()                     tell everyone we leave on purpose
//   close()                     end every connection
//   tick()                      once a second: watchdogs, stats for the views
//   peers() -> participants     each {id, name, state, away, orphan, view}
//   others() -> bool            someone is in the call with us
//   ready() -> bool             every participant's media arrives through this transport
//   snapshot() -> [{id, name, state, path, createdAt, iceUfrag, iceUsername, sending}]
//   stats() -> Promise<[{id, local, remote, rtt, framesDecoded, bytesReceived, audio, video}]>
//   metrics                     {firstConnectedMs, iceRestarts}
// and emits:
//   'peer-added'   {detail: {peer}}       show its view
//   'peer-removed' {detail: {peer, why}}  its view is gone; why is a sentence or ''
//   'track'        {detail: {peer, track}}
//   'chat'         {detail: {peer, text}}
//   'audio-blocked'                       the browser blocks sound until a gesture
//   'speaker'      {detail: {id, peer}}   the dominant speaker (the media server's; id '' for nobody)
//
// A peer's view (tile.js) is driven with:
//   show({id, name, state, away}), setState(connecting|connected|reconnecting|failed),
//   attach(stream), playAudio(track?) -> Promise, showLink(link, name), remove()
// and its el is the tile element.
import { quality } from './rtcstats.js';

// pickIceServers keeps only the TURN URLs of one transport (udp, tcp, tls)
// and/or on one port, when asked (?transport=, ?turnport=); else all of list.
export function pickIceServers(list, { transport = '', port = '' } = {}) {
  const byTransport = ['udp', 'tcp', 'tls'].includes(transport);
  if (!byTransport && !port) return list;
  const keepTransport = (u) => {
    if (/^turns:/i.test(u)) return transport === 'tls';
    if (!/^turn:/i.test(u)) return false;
    const t = (/[?&]transport=(\w+)/i.exec(u)?.[1] || 'udp').toLowerCase();
    return t === transport;
  };
  const keepPort = (u) => /^turns?:/i.test(u) && /:(\d+)(\?|$)/.exec(u)?.[1] === port;
  const keep = (u) => (!byTransport || keepTransport(u)) && (!port || keepPort(u));
  return list
    .map((s) => ({ ...s, urls: [].concat(s.urls).filter(keep) }))
    .filter((s) => s.urls.length);
}

// linkOf summarizes a connection for its view from its stats (the selected
// candidate pair): up, with path (direct | relay), transport, rtt and quality
// (rtcstats.js, against prev, the link of a second before); or down.
// conn is the RTCPeerConnection's connectionState; expectVideo whether the
// peer says it sends video; reconnecting whether the peer's session is away.
export function linkOf(s, { conn, expectVideo, reconnecting, prev = null }) {
  if (s.local && s.remote && conn === 'connected') {
    const relayed = s.local.candidateType === 'relay' || s.remote.candidateType === 'relay';
    let transport = s.local.protocol || '';
    if (s.local.candidateType === 'relay') transport = s.local.relayProtocol || 'udp';
    else if (relayed) transport = 'their relay';
    return {
      up: true, path: relayed ? 'relay' : 'direct', transport, rtt: s.rtt,
      waitingVideo: expectVideo && !s.framesDecoded, local: s.local, remote: s.remote,
      quality: quality(s, prev?.quality || null),
    };
  }
  return { up: false, reconnecting: reconnecting || conn === 'disconnected' || conn === 'failed', failed: conn === 'failed' };
}
