// Package sfu is the selective forwarding unit: a Server holds rooms by
// name, a room holds participants, each with one PeerConnection to the
// server, and forwards every RTP packet a participant publishes to every
// other participant. A client then uploads each track once, whatever the
// size of the call, instead of once per peer as in the mesh.
//
// The server always makes the offers, one at a time per participant, and
// talks to a client only through the send callback given to Join, so the
// package knows nothing of the hub or its sockets. Every pion callback and
// every send runs through the participant's callback.Gate, so nothing runs or
// sends after Close has returned.
package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/interceptor"
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

// room forwards the tracks of each participant to all the others. It is
// created by the Server on its first Join and closes itself when its last
// participant leaves.
type room struct {
	server *Server
	name   string

	mu           sync.Mutex // guards the fields below; taken before a Participant's mu
	closed       bool
	participants map[string]*Participant
	forwards     []*forward // every published track, in publishing order
}

// forward is one published track: RTP read from remote is written to local,
// which is added to every other participant's PeerConnection.
type forward struct {
	owner  *Participant
	remote *webrtc.TrackRemote
	local  *webrtc.TrackLocalStaticRTP
}

func newRoom(s *Server, name string) *room {
	return &room{server: s, name: name, participants: map[string]*Participant{}}
}

// newAPI builds a pion API with VP8 and Opus and the default interceptors
// (NACK, RTCP reports, TWCC header extension), as the Go client does.
func newAPI(se *webrtc.SettingEngine) (*webrtc.API, error) {
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
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("sfu: interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(*se)), nil
}

// join adds a participant with a new PeerConnection and sends it the first
// offer through send: a recvonly audio and video transceiver for it to
// publish on, plus every track already published. It returns ErrClosed when
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
	for _, f := range r.forwards {
		p.subscribeLocked(f)
	}
	p.needOffer = true
	p.negotiateLocked()
	return p, nil
}

// publish makes remote, just received from p, a track of every other
// participant and counts its forwarding loop in p.wg. It returns nil when p
// has left the room: the track is then not forwarded.
func (r *room) publish(p *Participant, remote *webrtc.TrackRemote) (*forward, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.participants[p.id] != p {
		return nil, nil
	}
	id := remote.ID()
	if id == "" {
		id = remote.Kind().String()
	}
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, p.id)
	if err != nil {
		return nil, fmt.Errorf("sfu: participant %s: local track for %s: %w", p.id, id, err)
	}
	f := &forward{owner: p, remote: remote, local: local}
	r.forwards = append(r.forwards, f)
	for _, o := range r.participants {
		if o != p {
			o.mu.Lock()
			o.subscribeLocked(f)
			o.negotiateLocked()
			o.mu.Unlock()
		}
	}
	p.wg.Add(1) // under the gate p's Close shuts before it waits
	return f, nil
}

// unpublish removes the forwards matching drop from every participant and
// renegotiates those that had one.
func (r *room) unpublish(drop func(*forward) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []*forward
	kept := r.forwards[:0]
	for _, f := range r.forwards {
		if drop(f) {
			gone = append(gone, f)
		} else {
			kept = append(kept, f)
		}
	}
	clear(r.forwards[len(kept):])
	r.forwards = kept
	if len(gone) == 0 || r.closed {
		return
	}
	for _, o := range r.participants {
		o.mu.Lock()
		for _, f := range gone {
			o.unsubscribeLocked(f)
		}
		o.negotiateLocked()
		o.mu.Unlock()
	}
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
	r.unpublish(func(f *forward) bool { return f.owner == p })
	if emptied {
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
	return true
}

// close closes every participant and refuses new ones. When it returns no
// callback of the room runs and no send is called any more.
func (r *room) close() error {
	r.mu.Lock()
	r.closed = true
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
