// The side panels, Chat, People, Devices and (for hosts) Host: at most one open at a time, the
// buttons' aria-pressed following them, and the focus going back to the
// button when a panel closes. onOpen[name] runs when that panel opens.
const $ = (id) => document.getElementById(id);

const BUTTONS = { chat: 'btn-chat', people: 'btn-people', settings: 'btn-settings', host: 'btn-host' };

export class Panels {
  constructor(onOpen) { this.onOpen = onOpen; }

  toggle(which) {
    const panel = $(which);
    panel.hidden = !panel.hidden;
    if (!panel.hidden) for (const other of Object.keys(BUTTONS)) if (other !== which) $(other).hidden = true;
    this.sync();
    if (!panel.hidden) this.onOpen[which]?.();
  }

  // close hides an open panel and gives the focus back to the button that
  // opened it; false when none was open.
  close() {
    let closed = null;
    for (const [panel, btn] of Object.entries(BUTTONS)) {
      if (!$(panel).hidden) { $(panel).hidden = true; closed = btn; }
    }
    if (!closed) return false;
    this.sync();
    $(closed).focus();
    return true;
  }

  sync() {
    for (const [panel, btn] of Object.entries(BUTTONS)) $(btn).setAttribute('aria-pressed', String(!$(panel).hidden));
  }
}
