// The notice bar under the header: one plain sentence at a time, with
// buttons or links, an optional tooltip of technical detail, and a tag in
// data-kind (the tests and hideIf tell notices apart by it).
import { el } from './util.js';

const $ = (id) => document.getElementById(id);

export class Notices {
  // show puts up text with actions: [label, function] for a button, [label,
  // '/path'] for a link. kind is info | error; tag names the notice (its
  // kind when empty). detail (technical words, an error name) is only a tooltip.
  show(text, actions = [], kind = 'info', detail = '', tag = '') {
    const n = $('notice');
    n.className = `notice ${kind}`;
    n.dataset.kind = tag || kind;
    $('notice-text').textContent = text;
    $('notice-text').title = detail || '';
    const box = $('notice-actions');
    box.replaceChildren();
    for (const [label, act] of actions) {
      let b;
      if (typeof act === 'string') {
        b = el('a', { class: 'button secondary', href: act, text: label });
      } else {
        b = el('button', { type: 'button', class: 'secondary', text: label });
        b.addEventListener('click', act);
      }
      box.append(b);
    }
    n.hidden = false;
    const first = box.querySelector('button, a');
    if (first && kind === 'error') first.focus();
  }

  // ask shows text with one button per [label, value] choice and resolves
  // with the value of the one pressed.
  ask(text, choices, kind = 'info', detail = '', tag = '') {
    return new Promise((resolve) => {
      this.show(text, choices.map(([label, value]) => [label, () => resolve(value)]), kind, detail, tag);
    });
  }

  hide() { $('notice').hidden = true; }
  hideIf(tag) { if ($('notice').dataset.kind === tag) this.hide(); }
}
