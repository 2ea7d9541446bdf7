// Package sfu is the selective forwarding unit: a Server holds rooms by
// name, a room holds participants, each with one PeerConnection to the
// server, and forwards every RTP packet a participant publishes to every
// other participant. A client then uploads each track once, whatever the
// size of the call, instead of once per peer as in the mesh.
//
// Negotiation is perfect negotiation on one PeerConnection per client,
// with the server impolite: the client offers what it publishes, the server
// offers what the client receives, and a client offer that collides with
// the server's outstanding one is ignored (the client rolls back). A client
// that publishes nothing may just wait: the server offers as soon as there
// is something to receive, and not before. The package talks to a client
// only through the send callback given to Join, so it knows nothing of the
// hub or its sockets. Every pion callback and every send runs through the
// participant's callback.Gate, so nothing runs or sends after Close has
// returned.
package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Errors returned by Server and Participant methods, for callers to tell a
// closed room or a taken id from bad signaling input.
var (
	ErrClosed    = errors.New("sfu: closed")
	ErrDuplicate = errors.New("sfu: participant id is already in the room")
)

// Signal is one signaling message between the server and a participant's
// client: Kind is proto.KindOffer, proto.KindAnswer or proto.KindCandidate,
// Data the RTCSessionDescriptionInit or RTCIceCandidateInit JSON
// (docs/protocol.md §3.6), so the hub can relay it unchanged.
type Signal struct {
	Kind string
	Data json.RawMessage
}

// nackHistory is how many packets of each forwarded stream the server can
// resend when a subscriber reports them lost: about 2.5 s of a 100 packets/s
// layer, many round trips.
const nackHistory = 256

// allocateInterval is how often a room measures its layers and chooses
// every subscriber's: often enough to follow a falling estimate within a
// second.
const allocateInterval = 500 * time.Millisecond

// room forwards the tracks of each participant to all the others. It is
// created by the Server on its first Join and closes itself when its last
// participant leaves.
type room struct {
	server   *Server
	name     string
	counters roomStats
	kicks    chan struct{} // wakes the loop before its tick
	stop     chan struct{} // closed when the room closes
	done     chan struct{} // closed when the loop has returned

	mu           sync.Mutex // guards the fields below; taken before a Participant's mu
	closed       bool
	participants map[string]*Participant
	forwards     []*published // every published track, in publishing order
	audio        audioRoute   // whose audio is forwarded (loudest.go)

	// The loop alone uses these: each publisher's smoothed voice activity and
	// the dominant speaker named last ("" for nobody).
	activity map[string]float64
	speaker  string
	spokeAt  time.Time // when the speaker was last heard
}

func newRoom(s *Server, name string) *room {
	r := &room{server: s, name: name, participants: map[string]*Participant{}, activity: map[string]float64{},
		audio: audioRoute{slots: int32(max(s.loudest, 0))},
		kicks: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// kick has the loop allocate now rather than at its next tick.
func (r *room) kick() {
	select {
	case r.kicks <- struct{}{}:
	default:
	}
}

// loop measures the room's layers and chooses every subscriber's, on a
// tick and when kicked, until the room closes.
func (r *room) loop() {
	defer close(r.done)
	tick := time.NewTicker(allocateInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			forwards, ps := r.snapshot()
			r.allocate(forwards, ps, time.Now())
			r.detectSpeaker(forwards, ps, time.Now())
		case <-r.kicks:
			forwards, ps := r.snapshot()
			r.allocate(forwards, ps, time.Now())
		}
	}
}

// snapshot returns the room's published tracks and participants.
func (r *room) snapshot() ([]*published, []*Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	return slices.Clone(r.forwards), ps
}

// allocate measures every layer, then chooses the layers of every
// participant.
func (r *room) allocate(forwards []*published, ps []*Participant, now time.Time) {
	for _, pub := range forwards {
		for i := range pub.layers {
			if l := pub.layers[i].Load(); l != nil {
				l.measure(now)
			}
		}
	}
	for _, p := range ps {
		p.mu.Lock()
		if !p.closed {
			p.measureLocked(now)
			p.allocateLocked(now)
		}
		p.mu.Unlock()
	}
}

// stopLoop ends the loop and waits for it. The room must be closed.
func (r *room) stopLoop() {
	<-r.done
}

// newAPI builds a pion API with VP8 and Opus, the header extensions of
// simulcast and audio levels, and the default interceptors: NACK (the
// responder resends from its packet cache what a subscriber lost), RTCP
// reports, and TWCC feedback for what clients publish; extra interceptors
// follow them (a test client's header extensions).
func newAPI(se *webrtc.SettingEngine, extra ...interceptor.Factory) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoFeedback := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	codecs := []struct {
		params webrtc.RTPCodecParameters
		kind   webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
			ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
			webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8,
			ClockRate: 90000, RTCPFeedback: videoFeedback}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.params, c.kind); err != nil {
			return nil, fmt.Errorf("sfu: register %s: %w", c.params.MimeType, err)
		}
	}
	// mid and rid identify the simulcast layers of a browser's video
	// (one OnTrack per rid), the audio level feeds the speaker detection.
	// pion numbers extensions in the order they are registered, and this
	// order gives each the id Chromium offers it with: a client whose first
	// offer the server ignored (glare) then bundles the server's sections
	// with its own, and a URI's id must agree across the bundle. The
	// extensions the server does not use hold their ids' places; forwarded
	// packets carry none of the publisher's.
	both := []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}
	video := both[1:]
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdp.AudioLevelURI, both[:1]}, // 1
		{sdp.ABSSendTimeURI, both},    // 2
		{sdp.TransportCCURI, both},    // 3
		{sdp.SDESMidURI, both},        // 4
		{"http://www.webrtc.org/experiments/rtp-hdrext/playout-delay", video},             // 5
		{"http://www.webrtc.org/experiments/rtp-hdrext/video-content-type", video},        // 6
		{"http://www.webrtc.org/experiments/rtp-hdrext/video-timing", video},              // 7
		{"http://www.webrtc.org/experiments/rtp-hdrext/color-space", video},               // 8
		{"http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00", video}, // 9
		{sdp.SDESRTPStreamIDURI, video},                                                   // 10
		{sdp.SDESRepairRTPStreamIDURI, video},                                             // 11
	}
	for _, e := range exts {
		for _, kind := range e.kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, kind); err != nil {
				return nil, fmt.Errorf("sfu: register %s: %w", e.uri, err)
			}
		}
	}
	ir := &interceptor.Registry{}
	// The NACK responder keeps a copy of the last nackHistory packets of
	// every stream the server sends, one per subscriber and layer it
	// forwards: pion's default of 1,024 made memory the first limit of a
	// big room (N·(N−1) video streams).
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir,
		webrtc.WithNackResponderOptions(nack.ResponderSize(nackHistory))); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	for _, f := range extra {
		ir.Add(f)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(*se)), nil
}

// join adds a participant with a new PeerConnection and, when others
// publish already, sends it an offer of their tracks through send. It returns ErrClosed when
// the room has emptied and closed; the server then makes a new one.
func (r *room) join(id string, send func(Signal)) (*Participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, ok := r.participants[id]; ok {
		return nil, fmt.Errorf("%w: %q", ErrDuplicate, id)
	}
	p, err := newParticipant(r, id, send)
	if err != nil {
		r.closeIfEmptyLocked()
		return nil, err
	}
	r.participants[id] = p
	p.mu.Lock()
	defer p.mu.Unlock()
	// The server offers these once the client has signalled (HandleSignal).
	for _, f := range r.forwards {
		p.subscribeLocked(f)
	}
	return p, nil
}

// remove takes p out of the room and its tracks from everyone else; the
// last one out closes the room and has the server forget it.
func (r *room) remove(p *Participant) {
	r.mu.Lock()
	if r.participants[p.id] == p {
		delete(r.participants, p.id)
	}
	emptied := r.closeIfEmptyLocked()
	r.mu.Unlock()
	r.unpublish(func(f *published) bool { return f.owner == p })
	if emptied {
		r.stopLoop()
		r.server.dropRoom(r)
	}
}

// closeIfEmptyLocked closes the room when nobody is in it and reports
// whether it did just now.
func (r *room) closeIfEmptyLocked() bool {
	if r.closed || len(r.participants) > 0 {
		return false
	}
	r.closed = true
	close(r.stop)
	return true
}

// close closes every participant and refuses new ones. When it returns no
// callback of the room runs and no send is called any more.
func (r *room) close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	r.stopLoop()
	return errors.Join(errs...)
}
