// What the call page's link asks for, /r/<room>?name=..&relay=1&token=..&viewer=1&transport=..&turnport=..&prejoin=0,
// and the sentence for a link that names no valid room.
import { LIMITS, canonicalRoom, roomTooLong } from './protocol.js';

export function readLink(loc = location) {
  const params = new URLSearchParams(loc.search);
  // The room of the link, as typed (for the message when it is not valid) and
  // as the server names it (NFC).
  let typed = null;
  try { typed = decodeURIComponent(loc.pathname.replace(/^\/r\/?/, '').replace(/\/$/, '')); } catch { /* not UTF-8 */ }
  return {
    typed,
    room: canonicalRoom(typed),
    relayOnly: params.get('relay') === '1',
    // ?transport=udp|tcp|tls keeps only the TURN URLs of that transport (to test
    // or work around a network that breaks one of them).
    transport: (params.get('transport') || '').toLowerCase(),
    // ?turnport=N keeps only the TURN URLs on port N, e.g. 443 with transport=tls
    // for the one-port relay alone (to test it, or a network that lets only 443 out).
    turnPort: /^\d{1,5}$/.test(params.get('turnport') || '') ? params.get('turnport') : '',
    viewer: params.get('viewer') === '1', // join without camera or microphone
    // ?prejoin=0 joins at once, without the pre-join screen (an app that
    // embeds the page and has set up the devices itself, and the tests).
    prejoin: params.get('prejoin') !== '0',
    name: params.get('name') || '',
    token: params.get('token') || '',
  };
}

// invalidRoomText says why typed (readLink) is not a room and what one is.
export function invalidRoomText(typed) {
  let why = 'This link does not name a valid room.';
  if (!typed) why = 'This link has no room name.';
  else if (roomTooLong(typed)) why = `The room name in this link is too long (at most ${LIMITS.roomChars} characters).`;
  return `${why} Room names use letters and digits of any language, dots, dashes and underscores, without spaces.`;
}
