// Small helpers shared by the pages: element building, the remembered name,
// random room names, copying to the clipboard.
import { cleanName } from './protocol.js';

const NAME_KEY = 'rtcd.name';

const ADJ = ['amber', 'brave', 'calm', 'clever', 'cosy', 'eager', 'gentle', 'golden', 'happy', 'jolly', 'kind', 'lucky',
  'mellow', 'merry', 'misty', 'noble', 'proud', 'quiet', 'rapid', 'silver', 'sunny', 'swift', 'tidy', 'witty'];
const NOUN = ['badger', 'beacon', 'cedar', 'comet', 'falcon', 'fjord', 'harbor', 'heron', 'island', 'lantern', 'maple',
  'meadow', 'otter', 'panda', 'pebble', 'pine', 'river', 'robin', 'summit', 'tiger', 'tulip', 'valley', 'walrus', 'willow'];

function pick(list) {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return list[a[0] % list.length];
}

// randomRoom makes a readable name such as "sunny-otter-42" (24*24*90 ≈ 52k choices;
// rooms are not secret in open mode, token mode is for that).
export function randomRoom() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return `${pick(ADJ)}-${pick(NOUN)}-${10 + (a[0] % 90)}`;
}

export function rememberName(name) {
  try { localStorage.setItem(NAME_KEY, cleanName(name)); } catch { /* storage off */ }
}

export function storedName() {
  try { return cleanName(localStorage.getItem(NAME_KEY)); } catch { return ''; }
}

// copyText uses the async clipboard API and falls back to a hidden textarea.
// el builds an element: attrs are properties, except class, text, data-*,
// aria-*, role and tabindex; children are appended.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'tabindex') e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'sr-only';
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}
