package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"
	"golang.org/x/time/rate"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// maxQueuedCandidates bounds the candidates kept until a remote description
// applies, so a client cannot grow the queue without limit.
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
	// dc is the negotiated chat channel; chatLimit bounds what the client
	// relays through it.
	dc        *webrtc.DataChannel
	chatLimit *rate.Limiter
	dataMu    sync.Mutex // guards the two below and orders writes on dc
	dataOpen  bool
	pending   [][]byte // relayed before dc opened

	mu         sync.Mutex // guards the fields below and orders negotiation steps and sends
	closed     bool
	needOffer  bool                       // tracks changed since the last offer
	offering   bool                       // an offer was sent and its answer has not come
	deferred   *webrtc.SessionDescription // a client offer waiting for ICE to start
	candidates []webrtc.ICECandidateInit
	senders    map[*forward]*webrtc.RTPSender
	unoffered  []*forward // subscribed since the last offer
	offered    []*forward // in the outstanding offer
	answered   []*forward // in an applied answer, waiting for a keyframe request
	// own holds the transceivers the server made to send on; only they are
	// reused, never one the client publishes on.
	own map[*webrtc.RTPTransceiver]struct{}
	// Transceivers whose track was removed, by how far the removal has
	// been negotiated: not yet offered, in the outstanding offer, and
	// answered (sending on neither side, so free for a new track).
	freeing, freeOffered, free []*webrtc.RTPTransceiver
}

func newParticipant(r *room, id string, send func(Signal)) (*Participant, error) {
	pc, err := r.server.api.NewPeerConnection(r.server.pcConfig)
	if err != nil {
		return nil, fmt.Errorf("sfu: participant %s: peer connection: %w", id, err)
	}
	p := &Participant{id: id, room: r, pc: pc, send: send, senders: map[*forward]*webrtc.RTPSender{},
		own: map[*webrtc.RTPTransceiver]struct{}{}}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { callback.Guard(&p.gate, p.onTrack)(t) })
	pc.OnICECandidate(callback.Guard(&p.gate, p.onCandidate))
	pc.OnConnectionStateChange(callback.Guard(&p.gate, p.onConnectionState))
	pc.OnICEConnectionStateChange(callback.Guard(&p.gate, p.onICEState))
	if err := p.openDataChannel(); err != nil {
		p.gate.Shut()
		_ = pc.Close()
		return nil, fmt.Errorf("sfu: participant %s: %w", id, err)
	}
	return p, nil
}

// ID returns the id given to Join, which is also the stream id of the
// participant's tracks at the others.
func (p *Participant) ID() string { return p.id }

// HandleSignal applies the client's offer, answer or ICE candidate. Bad
// input returns an error and leaves the negotiation as it was; an offer that
// collides with the server's outstanding one is ignored (nil), as the
// impolite side of perfect negotiation does.
func (p *Participant) HandleSignal(s Signal) error {
	var err error
	switch s.Kind {
	case proto.KindOffer:
		err = p.handleOffer(s.Data)
	case proto.KindAnswer:
		err = p.handleAnswer(s.Data)
	case proto.KindCandidate:
		err = p.handleCandidate(s.Data)
	default:
		err = fmt.Errorf("kind %q is not offer, answer or candidate", proto.Clip(s.Kind, 32))
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("sfu: participant %s: %w", p.id, err)
	}
	return err
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
	if p.pc.RemoteDescription() == nil || p.deferred != nil {
		if len(p.candidates) >= maxQueuedCandidates {
			return fmt.Errorf("candidate: more than %d before the description", maxQueuedCandidates)
		}
		p.candidates = append(p.candidates, *c)
		return nil
	}
	if err := p.pc.AddICECandidate(*c); err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	return nil
}

// subscribeLocked adds f's track to p's PeerConnection on a transceiver of
// the server's, a free one when there is; the next offer carries it.
func (p *Participant) subscribeLocked(f *forward) {
	if p.closed || p.senders[f] != nil {
		return
	}
	sender, err := p.sendTransceiverLocked(f.local)
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

// sendTransceiverLocked puts track on a free transceiver of its kind, or on
// a new one, and returns its sender. The server's transceivers are sendrecv
// although nothing comes back on them: removing the track then leaves them
// recvonly rather than inactive (see unsubscribeLocked).
func (p *Participant) sendTransceiverLocked(track webrtc.TrackLocal) (*webrtc.RTPSender, error) {
	for i, tr := range p.free {
		if tr.Kind() != track.Kind() {
			continue
		}
		p.free = slices.Delete(p.free, i, i+1)
		sender, err := p.room.server.api.NewRTPSender(track, p.pc.SCTP().Transport())
		if err != nil {
			return nil, fmt.Errorf("sender: %w", err)
		}
		if err := tr.SetSender(sender, track); err != nil {
			_ = sender.Stop()
			return nil, fmt.Errorf("reuse transceiver %s: %w", tr.Mid(), err)
		}
		return sender, nil
	}
	tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, err
	}
	p.own[tr] = struct{}{}
	return tr.Sender(), nil
}

// unsubscribeLocked removes f's track from p's PeerConnection; the next
// offer says so, and its answer frees the transceiver.
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
	var tr *webrtc.RTPTransceiver
	for t := range p.own {
		if t.Sender() == sender {
			tr = t
		}
	}
	if err := p.pc.RemoveTrack(sender); err != nil {
		// pion closes the PeerConnection itself when the client's DTLS
		// closes: then there is nothing to renegotiate.
		if p.pc.ConnectionState() != webrtc.PeerConnectionStateClosed {
			logx.Errorw("sfu: remove track", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		}
		return
	}
	// A transceiver left recvonly is offered so and can carry another
	// track later. One the client's own offer turned sendonly is now
	// inactive, and pion as a client stops a transceiver offered inactive
	// and may not receive on it again: it stays unused.
	if tr != nil && tr.Direction() == webrtc.RTPTransceiverDirectionRecvonly {
		p.freeing = append(p.freeing, tr)
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
