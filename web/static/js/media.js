// Local media: the microphone, camera and screen tracks we send, the state we
// announce ({audio, video, screen}), getUserMedia with its fallbacks
// (microphone only, viewer), the devices chosen in the Devices panel
// (remembered in localStorage), and the plain sentences for media errors.
// It talks to the user only through the notices object it is given, and
// tells the page what changed with events:
//   'track'   {detail: {kind}}  the track to send for kind changed
//   'state'   the announced state changed
//   'devices' the device list may have changed
export const STORE_CAM = 'rtcd.camera';
export const STORE_MIC = 'rtcd.microphone';

const VOICE = { echoCancellation: true, noiseSuppression: true };

// mediaErrorText says in a plain sentence why a camera, microphone or screen
// could not be used; the error's name goes in the tooltip (errDetail).
export function mediaErrorText(err, what = 'camera') {
  switch (err && err.name) {
    case 'NotAllowedError': case 'SecurityError':
      return `The browser was not allowed to use the ${what}. Allow it in the address bar and try again.`;
    case 'NotFoundError': case 'OverconstrainedError':
      return `No ${what} was found. Plug one in and try again.`;
    case 'NotReadableError': case 'AbortError':
      return `The ${what} is in use by another program, or could not start.`;
    default:
      return `The ${what} could not start.`;
  }
}

export function errDetail(err) { return err ? `${err.name || 'Error'}: ${err.message || err}` : ''; }

function stored(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

function noDevice(err) { return err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError'); }

export class LocalMedia extends EventTarget {
  // notices: show(text, actions, kind, detail), ask(text, choices, kind, detail, tag),
  // hide(), hideIf(tag) (notice.js).
  constructor(notices) {
    super();
    this.notices = notices;
    this.state = { audio: true, video: true, screen: false };
    this.stream = new MediaStream(); // what we send: current mic + camera/screen tracks
    this.mic = null;
    this.cam = null;
    this.screen = null;
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  // sendTrack is the track to send for kind: the screen replaces the camera.
  sendTrack(kind) {
    if (kind === 'audio') return this.mic;
    return this.screen || this.cam;
  }

  // acquire gets camera and microphone; on failure it asks the user what to do
  // and resolves once there is an answer (audio only, viewer, or a retry that works).
  async acquire({ viewer = false } = {}) {
    if (viewer) { // join without camera or microphone
      this.state.audio = false;
      this.state.video = false;
      this.emit('state');
      return;
    }
    const md = navigator.mediaDevices;
    if (!md?.getUserMedia) {
      this.notices.show('This page needs a secure (https) address to use the camera and microphone. You joined as a viewer.', [], 'error');
      this.emit('state');
      return;
    }
    for (;;) {
      try {
        const s = await md.getUserMedia(this.constraints(true, true));
        this.setMic(s.getAudioTracks()[0] || null);
        this.setCam(s.getVideoTracks()[0] || null);
        this.notices.hideIf('media');
        break;
      } catch (err) {
        if (noDevice(err)) {
          // No camera (or none that fits): go on with the microphone alone if there is one.
          try {
            const s = await md.getUserMedia(this.constraints(true, false));
            this.setMic(s.getAudioTracks()[0] || null);
            this.notices.show('No camera was found: you joined with your microphone only.', [['Dismiss', () => this.notices.hide()]], 'info');
            break;
          } catch (e2) {
            console.info('[rtcd]', 'microphone alone failed too', e2);
          }
        }
        const choice = await this.askFallback(err);
        if (choice === 'retry') continue;
        this.notices.hideIf('media');
        if (choice === 'audio') {
          try {
            const s = await md.getUserMedia(this.constraints(true, false));
            this.setMic(s.getAudioTracks()[0] || null);
          } catch (e2) {
            console.info('[rtcd]', 'audio only failed', e2);
            this.notices.show('The microphone is not available either. You joined as a viewer.', [], 'info');
          }
        }
        break;
      }
    }
    this.state.audio = !!this.mic;
    this.state.video = !!this.cam;
    this.emit('state');
    this.emit('devices');
  }

  // open gets what it can of the microphone and camera without asking the
  // user anything (the pre-join screen says what failed): both, else each
  // alone. It resolves with each one's error, {microphone, camera}, null for
  // the ones it got.
  async open() {
    const md = navigator.mediaDevices;
    const errs = { microphone: null, camera: null };
    this.state.audio = true; // what is got starts on (setMic enables the track by it)
    this.state.video = true;
    const get = async (audio, video) => {
      const s = await md.getUserMedia(this.constraints(audio, video));
      if (audio) this.setMic(s.getAudioTracks()[0] || null);
      if (video) this.setCam(s.getVideoTracks()[0] || null);
    };
    try {
      await get(true, true);
    } catch (err) {
      for (const [audio, key] of [[true, 'microphone'], [false, 'camera']]) {
        try { await get(audio, !audio); } catch (e) { errs[key] = e; }
      }
    }
    this.state.audio = !!this.mic;
    this.state.video = !!this.cam;
    this.emit('state');
    this.emit('devices');
    return errs;
  }

  askFallback(err) {
    const name = err && err.name;
    let text;
    if (name === 'NotAllowedError' || name === 'SecurityError') text = 'Camera and microphone access was denied. Allow it in the browser\'s address bar and try again, or join without them.';
    else if (noDevice(err)) text = 'No camera or microphone was found. Plug one in and try again, or join as a viewer.';
    else text = mediaErrorText(err);
    return this.notices.ask(text, [['Try again', 'retry'], ['Microphone only', 'audio'], ['Join as viewer', 'viewer']], 'error', errDetail(err), 'media');
  }

  // constraints asks for the remembered devices, if any, as a preference.
  constraints(audio, video) {
    const mic = stored(STORE_MIC);
    const cam = stored(STORE_CAM);
    return {
      audio: audio ? (mic ? { deviceId: { ideal: mic }, ...VOICE } : { ...VOICE }) : false,
      video: video ? { ...(cam ? { deviceId: { ideal: cam } } : {}), width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } } : false,
    };
  }

  setMic(track) {
    if (this.mic && this.mic !== track) { this.stream.removeTrack(this.mic); this.mic.stop(); }
    this.mic = track;
    if (track) {
      track.enabled = this.state.audio !== false;
      this.stream.addTrack(track);
    }
    this.emit('track', { kind: 'audio' });
  }

  setCam(track) {
    if (this.cam && this.cam !== track) { this.stream.removeTrack(this.cam); this.cam.stop(); }
    this.cam = track;
    if (track && !this.screen) this.stream.addTrack(track);
    this.emit('track', { kind: 'video' });
  }

  toggleMic() {
    if (!this.mic) return;
    this.state.audio = !this.state.audio;
    this.mic.enabled = this.state.audio;
    this.emit('state');
  }

  async toggleCam() {
    if (this.state.video) {
      this.state.video = false;
      // Stop the camera (its light goes off); the senders send nothing meanwhile.
      if (this.cam) { this.stream.removeTrack(this.cam); this.cam.stop(); this.cam = null; }
      this.emit('track', { kind: 'video' });
      this.emit('state');
      return;
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia(this.constraints(false, true));
      this.state.video = true;
      this.setCam(s.getVideoTracks()[0]);
      this.emit('state');
    } catch (err) {
      this.fail(err, 'camera');
    }
  }

  async toggleScreen() {
    if (this.screen) { this.stopScreen(); return; }
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch (err) {
      if (err.name !== 'NotAllowedError') this.notices.show('Screen sharing could not start.', [['Dismiss', () => this.notices.hide()]], 'error', errDetail(err));
      return;
    }
    const track = s.getVideoTracks()[0];
    if (!track) return;
    this.screen = track;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => this.stopScreen());
    if (this.cam) this.stream.removeTrack(this.cam);
    this.stream.addTrack(track);
    this.state.screen = true;
    this.emit('track', { kind: 'video' });
    this.emit('state');
  }

  stopScreen() {
    if (!this.screen) return;
    const track = this.screen;
    this.screen = null;
    this.stream.removeTrack(track);
    track.stop();
    if (this.cam) this.stream.addTrack(this.cam); // back to the camera
    this.state.screen = false;
    this.emit('track', { kind: 'video' });
    this.emit('state');
  }

  // devices lists the cameras and microphones with the ones in use, or null
  // when the browser does not say.
  async devices() {
    if (!navigator.mediaDevices?.enumerateDevices) return null;
    let devs;
    try { devs = await navigator.mediaDevices.enumerateDevices(); } catch { return null; }
    return {
      cameras: devs.filter((d) => d.kind === 'videoinput'),
      microphones: devs.filter((d) => d.kind === 'audioinput'),
      camera: this.cam?.getSettings().deviceId,
      microphone: this.mic?.getSettings().deviceId,
    };
  }

  // switchDevice remembers the choice and, unless the camera is off, moves to it.
  async switchDevice(kind, deviceId) {
    try { localStorage.setItem(kind === 'video' ? STORE_CAM : STORE_MIC, deviceId); } catch { /* storage off */ }
    if (kind === 'video' && !this.state.video) return; // used when the camera is turned on again
    try {
      const c = kind === 'video'
        ? { video: { deviceId: { exact: deviceId }, width: { ideal: 640 }, height: { ideal: 480 } } }
        : { audio: { deviceId: { exact: deviceId }, ...VOICE } };
      const s = await navigator.mediaDevices.getUserMedia(c);
      if (kind === 'video') this.setCam(s.getVideoTracks()[0]);
      else this.setMic(s.getAudioTracks()[0]);
      this.emit('state');
    } catch (err) {
      this.fail(err, kind === 'video' ? 'camera' : 'microphone');
    }
  }

  fail(err, what) {
    this.notices.show(mediaErrorText(err, what), [['Dismiss', () => this.notices.hide()]], 'error', errDetail(err));
  }

  // release stops the camera and microphone (their lights go off) while we
  // are not in a call; acquire starts them again.
  release() {
    for (const t of [this.mic, this.cam, this.screen]) if (t) { this.stream.removeTrack(t); t.stop(); }
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.state.screen = false;
  }
}
