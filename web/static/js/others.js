// The others in the call as the page shows them: the transport's
// participants become tiles in the grid (grid.js) and presence notes in the
// chat, their audio is metered (the mesh; the media server names the
// speaker), and sound the browser blocks gets a notice with a button.
// followOthers wires it up and returns unlockAudio, which starts the blocked
// sound (after a gesture). changed() runs when someone came or went.
import { MEDIA } from './protocol.js';

export function followOthers({ transport, grid, levels, chat, notices, changed }) {
  transport.addEventListener('peer-added', ({ detail: { peer } }) => {
    grid.add(peer.view.el);
    chat.note(`${peer.name} joined`);
    changed();
  });
  transport.addEventListener('peer-removed', ({ detail: { peer, why } }) => {
    levels.unwatch(peer.view.el);
    grid.layout();
    chat.note(why || `${peer.name} left`);
    changed();
  });
  // The mesh's remote audio is metered here; the media server names the speaker.
  transport.addEventListener('track', ({ detail: { peer, track } }) => {
    if (track.kind === 'audio' && transport.mode === MEDIA.mesh) levels.watch(peer.view.el, track);
  });
  transport.addEventListener('speaker', ({ detail: { peer } }) => levels.setSpeaker(peer?.view.el || null));
  transport.addEventListener('mode', ({ detail: { mode } }) => {
    document.body.dataset.media = mode;
    if (mode !== MEDIA.mesh) for (const p of transport.peers()) levels.unwatch(p.view.el);
    else levels.setSpeaker(null);
  });
  transport.addEventListener('chat', ({ detail: { peer, text } }) => chat.add(peer.name, text));

  let unlockShown = false;
  transport.addEventListener('audio-blocked', () => {
    if (unlockShown) return;
    unlockShown = true;
    notices.show('Your browser blocked sound until you interact with the page.', [
      ['Turn on sound', () => { unlockAudio(); notices.hide(); }],
    ], 'info');
  });

  function unlockAudio() {
    for (const p of transport.peers()) p.view.playAudio().catch(() => {});
    levels.resume();
  }

  return unlockAudio;
}
