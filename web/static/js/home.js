// Home page: pick or type a room, remember the name, copy the invite link.
import { randomRoom, storedName, rememberName, copyText } from './util.js';
import { canonicalRoom, cleanName } from './protocol.js';

const $ = (id) => document.getElementById(id);
const nameIn = $('name');
const roomIn = $('room');
const err = $('room-error');

nameIn.value = storedName();
roomIn.value = randomRoom();

function roomName() { return canonicalRoom(roomIn.value.trim()); }
function inviteURL() { return `${location.origin}/r/${encodeURIComponent(roomName())}`; }

function check() {
  const ok = !!roomName();
  err.hidden = ok;
  err.textContent = ok ? '' : 'Use 1–64 letters or digits (any language), dots, dashes or underscores; no spaces.';
  roomIn.setAttribute('aria-invalid', String(!ok));
  $('invite').textContent = ok ? inviteURL() : '';
  return ok;
}

roomIn.addEventListener('input', check);
$('random').addEventListener('click', () => { roomIn.value = randomRoom(); check(); roomIn.focus(); });
$('copy').addEventListener('click', async () => {
  if (!check()) { roomIn.focus(); return; }
  const ok = await copyText(inviteURL());
  $('invite').textContent = ok ? `Copied: ${inviteURL()}` : `Copy this link: ${inviteURL()}`;
});
$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!check()) { roomIn.focus(); return; }
  const name = cleanName(nameIn.value);
  if (name) rememberName(name);
  const q = name ? `?name=${encodeURIComponent(name)}` : '';
  location.href = `/r/${encodeURIComponent(roomName())}${q}`;
});
check();
(nameIn.value ? $('join') : nameIn).focus();
