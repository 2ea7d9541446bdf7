package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// maxQueuedCandidates bounds the candidates kept before the first answer, so
// a client cannot grow the queue without limit.
const maxQueuedCandidates = 64

// Participant is one client's PeerConnection to the server: it publishes the
// client's tracks and carries every other participant's. Its methods are
// safe for concurrent use.
type Participant struct {
	id   string
	room *room
	pc   *webrtc.PeerConnection
	send func(Signal)
	gate callback.Gate  // every pion callback and every send enters it
	wg   sync.WaitGroup // forwarding loops (tracks published) and RTCP readers (tracks received)
	once sync.Once
	err  error // of pc.Close, for every Close call

	mu         sync.Mutex // guards the fields below and orders negotiation steps and sends
	closed     bool
	needOffer  bool // tracks changed since the last offer
	offering   bool // an offer was sent and its answer has not come
	candidates []webrtc.ICECandidateInit
	senders    map[*forward]*webrtc.RTPSender
	unoffered  []*forward // subscribed since the last offer
	offered    []*forward // in the outstanding offer
	answered   []*forward // in an applied answer, waiting for a keyframe request
}

func newParticipant(r *room, id string, send func(Signal)) (*Participant, error) {
	pc, err := r.server.api.NewPeerConnection(r.server.pcConfig)
	if err != nil {
		return nil, fmt.Errorf("sfu: participant %s: peer connection: %w", id, err)
	}
	p := &Participant{id: id, room: r, pc: pc, send: send, senders: map[*forward]*webrtc.RTPSender{}}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { callback.Guard(&p.gate, p.onTrack)(t) })
	pc.OnICECandidate(callback.Guard(&p.gate, p.onCandidate))
	pc.OnConnectionStateChange(callback.Guard(&p.gate, p.onConnectionState))
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			p.gate.Shut()
			_ = pc.Close()
			return nil, fmt.Errorf("sfu: participant %s: %s transceiver: %w", id, kind, err)
		}
	}
	return p, nil
}

// ID returns the id given to Join, which is also the stream id of the
// participant's tracks at the others.
func (p *Participant) ID() string { return p.id }

// HandleSignal applies the client's answer or ICE candidate. Bad input
// returns an error and leaves the negotiation as it was.
func (p *Participant) HandleSignal(s Signal) error {
	var err error
	switch s.Kind {
	case proto.KindAnswer:
		err = p.handleAnswer(s.Data)
	case proto.KindCandidate:
		err = p.handleCandidate(s.Data)
	default:
		err = fmt.Errorf("kind %q is not answer or candidate", proto.Clip(s.Kind, 32))
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("sfu: participant %s: %w", p.id, err)
	}
	return err
}

func (p *Participant) handleAnswer(data json.RawMessage) error {
	var desc webrtc.SessionDescription
	if err := json.Unmarshal(data, &desc); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if desc.Type != webrtc.SDPTypeAnswer {
		return fmt.Errorf("answer: type is %q, want answer", desc.Type)
	}
	answer, err := desc.Unmarshal()
	if err != nil {
		return fmt.Errorf("answer: bad SDP: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if !p.offering {
		return errors.New("answer: no offer is outstanding")
	}
	if err := matchesOffer(p.pc.PendingLocalDescription(), answer); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		if p.pc.SignalingState() == webrtc.SignalingStateStable {
			// pion applied part of it: offer again rather than wait forever.
			p.offering, p.needOffer = false, true
			p.unoffered = append(p.offered, p.unoffered...)
			p.offered = nil
			p.negotiateLocked()
		}
		return fmt.Errorf("answer: %w", err)
	}
	p.offering = false
	p.answered = append(p.answered, p.offered...)
	p.offered = nil
	for _, c := range p.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			logx.Debugw("sfu: queued candidate", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		}
	}
	p.candidates = nil
	if p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		p.requestKeyframesLocked()
	}
	p.negotiateLocked()
	return nil
}

// matchesOffer checks what pion would otherwise apply in part before
// failing: the answer must have the offer's media sections, in order, and
// the ICE and DTLS parameters.
func matchesOffer(offer *webrtc.SessionDescription, answer *sdp.SessionDescription) error {
	if offer == nil {
		return errors.New("no local offer")
	}
	local, err := offer.Unmarshal()
	if err != nil {
		return fmt.Errorf("local offer: %w", err)
	}
	if len(answer.MediaDescriptions) != len(local.MediaDescriptions) {
		return fmt.Errorf("%d media sections, the offer has %d",
			len(answer.MediaDescriptions), len(local.MediaDescriptions))
	}
	_, sessionPrint := answer.Attribute("fingerprint")
	for i, m := range answer.MediaDescriptions {
		want, _ := local.MediaDescriptions[i].Attribute("mid")
		if got, _ := m.Attribute("mid"); got != want {
			return fmt.Errorf("media section %d has mid %q, the offer %q", i, got, want)
		}
		if _, ok := m.Attribute("fingerprint"); !ok && !sessionPrint {
			return fmt.Errorf("media section %d has no DTLS fingerprint", i)
		}
	}
	return nil
}

func (p *Participant) handleCandidate(data json.RawMessage) error {
	c, err := parseCandidate(data, p.room.server.loopback)
	if err != nil || c == nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.pc.RemoteDescription() == nil {
		if len(p.candidates) >= maxQueuedCandidates {
			return fmt.Errorf("candidate: more than %d before the answer", maxQueuedCandidates)
		}
		p.candidates = append(p.candidates, *c)
		return nil
	}
	if err := p.pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	return nil
}

// negotiateLocked sends an offer when tracks changed, the signaling state is
// stable and no offer is outstanding; otherwise the answer to the
// outstanding offer calls it again.
func (p *Participant) negotiateLocked() {
	if p.closed || !p.needOffer || p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(offer)
	}
	if err != nil {
		logx.Errorw("sfu: offer", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		return
	}
	p.needOffer, p.offering = false, true
	p.offered = append(p.offered, p.unoffered...)
	p.unoffered = nil
	p.emit(Signal{Kind: proto.KindOffer, Data: data})
}

// emit calls send unless Close has begun shutting the gate. Callers hold mu,
// which keeps an offer ahead of the candidates its gathering produces.
func (p *Participant) emit(s Signal) {
	if !p.gate.Enter() {
		return
	}
	defer p.gate.Leave()
	p.send(s)
}

// subscribeLocked adds f's track to p's PeerConnection; the next offer
// carries it.
func (p *Participant) subscribeLocked(f *forward) {
	if p.closed || p.senders[f] != nil {
		return
	}
	sender, err := p.pc.AddTrack(f.local)
	if err != nil {
		logx.Errorw("sfu: add track", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		return
	}
	p.senders[f] = sender
	p.unoffered = append(p.unoffered, f)
	p.needOffer = true
	p.wg.Add(1) // p.closed is false under mu, so Close has not begun waiting
	go p.readRTCP(sender, f)
}

// unsubscribeLocked removes f's track from p's PeerConnection; the next
// offer says so.
func (p *Participant) unsubscribeLocked(f *forward) {
	sender := p.senders[f]
	if sender == nil {
		return
	}
	delete(p.senders, f)
	is := func(g *forward) bool { return g == f }
	p.unoffered = slices.DeleteFunc(p.unoffered, is)
	p.offered = slices.DeleteFunc(p.offered, is)
	p.answered = slices.DeleteFunc(p.answered, is)
	if p.closed {
		return
	}
	if err := p.pc.RemoveTrack(sender); err != nil {
		logx.Errorw("sfu: remove track", logx.Field("participant", p.id), logx.Field("err", err.Error()))
	}
	p.needOffer = true
}

// requestKeyframesLocked asks the publishers of the tracks p has just begun
// to receive for a keyframe, so its decoders need not wait for the next one.
func (p *Participant) requestKeyframesLocked() {
	for _, f := range p.answered {
		f.requestKeyframe()
	}
	p.answered = nil
}

func (f *forward) requestKeyframe() {
	if f.remote.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	// An error means the publisher has gone; its tracks are being removed.
	_ = f.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(f.remote.SSRC())}})
}

// readRTCP passes the keyframe requests p's client sends about f's track on
// to the publisher until the sender stops.
func (p *Participant) readRTCP(sender *webrtc.RTPSender, f *forward) {
	defer p.wg.Done()
	onKeyframeRequest(sender, f.requestKeyframe)
}

// onKeyframeRequest reads sender's RTCP until it stops and calls fn for each
// PLI or FIR; the rest is dropped (the interceptors have seen it), and
// reading keeps the sender's RTCP buffer from filling.
func onKeyframeRequest(sender *webrtc.RTPSender, fn func()) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				fn()
			}
		}
	}
}

func (p *Participant) onTrack(remote *webrtc.TrackRemote) {
	f, err := p.room.publish(p, remote)
	if err != nil {
		logx.Errorw("sfu: publish", logx.Field("participant", p.id), logx.Field("err", err.Error()))
	}
	if f != nil {
		go p.forwardRTP(f)
	}
}

// forwardRTP copies f's packets to its local track until the publisher's
// track ends, then removes the track from everyone. Header extensions are
// dropped: their ids and values (mid, rid) belong to the publisher's
// session, and the subscribers' interceptors add their own.
func (p *Participant) forwardRTP(f *forward) {
	defer p.wg.Done()
	defer p.room.unpublish(func(g *forward) bool { return g == f })
	for {
		pkt, _, err := f.remote.ReadRTP()
		if err != nil {
			return
		}
		pkt.Header.Extension = false
		pkt.Header.ExtensionProfile = 0
		pkt.Header.Extensions = nil
		// A failed write concerns one subscriber, whose removal is under way.
		_ = f.local.WriteRTP(pkt)
	}
}

func (p *Participant) onCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	data, err := json.Marshal(c.ToJSON())
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.emit(Signal{Kind: proto.KindCandidate, Data: data})
	}
}

func (p *Participant) onConnectionState(s webrtc.PeerConnectionState) {
	if s != webrtc.PeerConnectionStateConnected {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.requestKeyframesLocked()
	}
}

// Close removes the participant from the room (its tracks from everyone
// else, who are renegotiated) and closes its PeerConnection. When it returns
// none of its callbacks runs, send is not called again and its goroutines
// and pion's have ended. It must not be called from send or from a pion
// callback, which it would wait for.
func (p *Participant) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.room.remove(p)
		p.gate.Shut()
		if err := p.pc.GracefulClose(); err != nil {
			p.err = fmt.Errorf("sfu: participant %s: close: %w", p.id, err)
		}
		p.wg.Wait()
	})
	return p.err
}
