// The keyboard: single-key shortcuts (m, v, c, p, l, ?) that can be turned off in
// the help dialog (remembered in localStorage), Escape closing a panel from
// anywhere, and the help dialog giving the focus back when it closes.
const $ = (id) => document.getElementById(id);

const STORE_KEYS = 'rtcd.shortcuts'; // 'off' turns the single-key shortcuts off

function stored() {
  try { return localStorage.getItem(STORE_KEYS); } catch { return null; }
}

export class Shortcuts {
  // actions maps a key to a function; closePanels() returns whether a panel
  // was open; active(key) whether that shortcut applies now; onChange(on) follows the switch.
  constructor({ actions, closePanels, active, onChange }) {
    this.on = stored() !== 'off';
    this.returnTo = null;
    $('help-close').addEventListener('click', () => $('help').close());
    $('help').addEventListener('close', () => { (this.returnTo || $('btn-help')).focus(); });
    $('shortcuts-on').checked = this.on;
    $('shortcuts-on').addEventListener('change', (e) => {
      this.on = e.target.checked;
      try { localStorage.setItem(STORE_KEYS, this.on ? 'on' : 'off'); } catch { /* storage off */ }
      onChange(this.on);
    });
    document.addEventListener('keydown', (e) => {
      // Escape closes a panel wherever the focus is (the dialog closes itself).
      if (e.key === 'Escape' && !$('help').open) {
        if (closePanels()) e.preventDefault();
        return;
      }
      if (!this.on || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
      if (e.target.closest('input, textarea, select, dialog, [contenteditable]')) return;
      const act = actions[e.key];
      if (!act || !active(e.key)) return;
      e.preventDefault(); // the key must not also land in the field that gets focus (chat)
      act();
    });
  }

  openHelp() {
    if ($('help').open) return;
    this.returnTo = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
    $('help').showModal();
    $('shortcuts-on').focus();
  }
}
