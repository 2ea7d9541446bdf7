package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	id      string
	room    *room
	pc      *webrtc.PeerConnection
	send    func(Signal)
	gate    callback.Gate  // every pion callback and every send enters it
	wg      sync.WaitGroup // forwarding loops (tracks published) and RTCP readers (tracks received)
	once    sync.Once
	err     error         // of pc.Close, for every Close call
	bw      bandwidth     // towards the client
	sending atomic.Uint64 // bits a second sent to the client, measured by the room's loop
	// planned is the bitrate of the layers the allocator chose last: a
	// loss report soon after a step up is of that rate, which the last
	// measure has not seen yet.
	planned atomic.Uint64
	// sentBytes and sentAt are the total and time of the last measure;
	// the room's loop alone uses them.
	sentBytes uint64
	sentAt    time.Time
	// dc is the negotiated chat channel; chatLimit bounds what the client
	// relays through it.
	dc        *webrtc.DataChannel
	chatLimit *rate.Limiter
	dataMu    sync.Mutex // guards the two below and orders writes on dc
	dataOpen  bool
	pending   [][]byte // relayed before dc opened
	// audioHeld says the participant's audio is not forwarded, whatever
	// the client sends (HoldAudio).
	audioHeld atomic.Bool

	mu         sync.Mutex // guards the fields below and orders negotiation steps and sends
	closed     bool
	heard      bool                       // the client has signalled: the server may offer
	speaker    string                     // the dominant speaker the client was told of
	needOffer  bool                       // tracks changed since the last offer
	offering   bool                       // an offer was sent and its answer has not come
	deferred   *webrtc.SessionDescription // a client offer waiting for ICE to start
	candidates []webrtc.ICECandidateInit
	senders    map[*published]*downTrack // what p receives
	// rtcpSenders have a readRTCP goroutine; Close ends their reads.
	rtcpSenders []*webrtc.RTPSender
	// tiles is the size of each publisher's video on the client's screen,
	// from its last layers signal; nil before the first.
	tiles map[string]tile
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
	p := &Participant{id: id, room: r, pc: pc, send: send, senders: map[*published]*downTrack{},
		own: map[*webrtc.RTPTransceiver]struct{}{}}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if p.gate.Enter() {
			defer p.gate.Leave()
			p.onTrack(t, r)
		}
	})
	pc.OnICECandidate(callback.Guard(&p.gate, p.onCandidate))
	pc.OnICEConnectionStateChange(callback.Guard(&p.gate, p.onICEState))
	if err := p.openDataChannel(); err != nil {
		p.gate.Shut()
		_ = pc.Close()
		return nil, fmt.Errorf("sfu: participant %s: %w", id, err)
	}
	return p, nil
}

// HoldAudio stops (held) or resumes forwarding the participant's audio to
// everyone else, whatever its client sends: a host muted it, and the server
// enforces the mute until the participant itself unmutes, even against a
// client that ignores the request. Held packets are dropped, not queued,
// and count for neither the speaker detection nor the loudest-audio slots;
// the subscribers' streams continue their numbering over the pause, as over
// one of the loudest-audio routing.
func (p *Participant) HoldAudio(held bool) {
	if p.audioHeld.Swap(held) == held || held {
		return
	}
	r := p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.forwards {
		if f.owner == p && f.kind == webrtc.RTPCodecTypeAudio {
			f.resumes.Add(1) // each down track re-bases at the next packet
		}
	}
}

// ID returns the id given to Join, which is also the stream id of the
// participant's tracks at the others.
func (p *Participant) ID() string { return p.id }

// HandleSignal applies the client's offer, answer, ICE candidate or layers
// (the sizes of its video tiles). The server's first offer follows the
// client's first signal, so a client that opens with its own offer (as the
// web app does) never meets an offer of the server's on its way. Bad
// input returns an error and leaves the negotiation as it was; an offer that
// collides with the server's outstanding one is ignored (nil), as the
// impolite side of perfect negotiation does.
func (p *Participant) HandleSignal(s Signal) error {
	p.mu.Lock()
	first := !p.heard
	p.heard = true
	p.mu.Unlock()
	var err error
	switch s.Kind {
	case proto.KindOffer:
		err = p.handleOffer(s.Data)
	case proto.KindAnswer:
		err = p.handleAnswer(s.Data)
	case proto.KindCandidate:
		err = p.handleCandidate(s.Data)
	case proto.KindLayers:
		err = p.handleLayers(s.Data)
	default:
		err = fmt.Errorf("kind %q is not offer, answer, candidate or layers", proto.Clip(s.Kind, 32))
	}
	if first {
		// After the answer to a first offer, or at once for any other
		// first signal: what the room publishes.
		p.mu.Lock()
		p.negotiateLocked()
		p.mu.Unlock()
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

// subscribeLocked adds pub's track to p's PeerConnection on a transceiver
// of the server's, a free one when there is; the next offer carries it.
func (p *Participant) subscribeLocked(pub *published) {
	if p.closed || p.senders[pub] != nil {
		return
	}
	d := newDownTrack(pub, p)
	sender, err := p.sendTransceiverLocked(d)
	if err != nil {
		logx.Errorw("sfu: add track", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		return
	}
	p.senders[pub] = d
	pub.addDown(d)
	p.needOffer = true
	p.allocateLocked(time.Now())
	p.rtcpSenders = append(p.rtcpSenders, sender)
	p.wg.Add(1) // p.closed is false under mu, so Close has not begun waiting
	go p.readRTCP(sender, d)
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

// unsubscribeLocked removes pub's track from p's PeerConnection; the next
// offer says so, and its answer frees the transceiver.
func (p *Participant) unsubscribeLocked(pub *published) {
	d := p.senders[pub]
	if d == nil {
		return
	}
	delete(p.senders, pub)
	pub.removeDown(d)
	if p.closed {
		return
	}
	var tr *webrtc.RTPTransceiver
	for t := range p.own {
		if s := t.Sender(); s != nil && s.Track() == d {
			tr = t
		}
	}
	if tr == nil {
		return
	}
	if err := p.pc.RemoveTrack(tr.Sender()); err != nil {
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
	if tr.Direction() == webrtc.RTPTransceiverDirectionRecvonly {
		p.freeing = append(p.freeing, tr)
	}
	p.needOffer = true
}

// readRTCP reads what p's client reports about d until the sender stops:
// keyframe requests go to the publisher, REMB and loss to p's bandwidth
// estimate, NACKs (answered by pion's responder) to the counters.
func (p *Participant) readRTCP(sender *webrtc.RTPSender, d *downTrack) {
	defer p.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now()
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				cur, target, _ := d.state()
				if cur < 0 {
					cur = target
				}
				d.requestKeyframe(cur)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				p.bw.remb(float64(pkt.Bitrate), float64(p.sending.Load()), now)
			case *rtcp.ReceiverReport:
				for _, r := range pkt.Reports {
					if r.SSRC == d.ssrcOf() {
						p.bw.loss(float64(r.FractionLost)/256, float64(max(p.sending.Load(), p.planned.Load())), now)
					}
				}
			case *rtcp.TransportLayerNack:
				for _, n := range pkt.Nacks {
					d.stats.nacks.Add(uint64(len(n.PacketList())))
				}
			}
		}
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
		// Closing stops the senders, which ends their RTCP reads; the
		// deadline ends a read whose SRTCP stream pion left open.
		p.mu.Lock()
		senders := p.rtcpSenders
		p.mu.Unlock()
		for _, s := range senders {
			_ = s.SetReadDeadline(time.Now())
		}
		p.wg.Wait()
	})
	return p.err
}
