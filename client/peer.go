package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/rtcd/rtcd/internal/callback"

	"github.com/rtcd/rtcd/signal/proto"
)

// peer is the PeerConnection with one remote peer. Negotiation runs as tasks
// on one goroutine per peer, which gives the run-to-completion ordering that
// MDN's perfect negotiation pattern assumes from JavaScript.
//
// pion (v4) has no SDP rollback (its state machine refuses the transition),
// so when the polite side meets an offer collision it cannot roll its own
// offer back as MDN's recipe says. It replaces its PeerConnection with a
// fresh one that takes the remote offer instead. That is only sound during
// setup, while the other side ignored our offer and uses nothing of the old
// PeerConnection: replaced mid-call, it would never complete DTLS with a
// peer that keeps its old association. So the client makes sure collisions
// can only happen during setup: after the first negotiation it offers only
// ICE restarts, and only the impolite side offers those (the polite side
// asks for one with a "restart" signal).
type peer struct {
	c         *Client
	id        string
	polite    bool
	initiator bool // we send the first offer
	tasks     *fifo[func()]
	done      chan struct{} // closed by close
	wg        sync.WaitGroup
	// cb is entered by every callback registered on pion objects; close
	// shuts it, so none runs after close returns.
	cb callback.Gate

	// Owned by the task goroutine.
	makingOffer  bool
	ignoreOffer  bool
	pendingCands []webrtc.ICECandidateInit
	tracksAdded  bool
	lastRestart  time.Time // when we last offered an ICE restart
	// restartPending: an ICE restart was asked for while an exchange was in
	// flight; offer it once that completes.
	restartPending bool

	mu          sync.Mutex // guards the following fields
	closed      bool
	pc          *webrtc.PeerConnection
	cfg         webrtc.Configuration
	created     time.Time
	connectedAt time.Time
	sendDC      *webrtc.DataChannel
	counters    []*rtpCounter
	// senders have a goroutine reading their RTCP; close ends those reads.
	senders []*webrtc.RTPSender
}

func newPeer(c *Client, info PeerInfo, cfg webrtc.Configuration, initiator bool) (*peer, error) {
	p := &peer{
		c: c, id: info.ID, polite: info.IsPolite(), initiator: initiator, cfg: cfg,
		tasks: newFIFO[func()](), done: make(chan struct{}), created: time.Now(),
	}
	pc, err := p.newPC()
	if err != nil {
		return nil, err
	}
	p.pc = pc
	return p, nil
}

// newPC builds a PeerConnection whose callbacks act only while it is the
// peer's current one.
func (p *peer) newPC() (*webrtc.PeerConnection, error) {
	p.mu.Lock()
	cfg := p.cfg
	p.mu.Unlock()
	pc, err := p.c.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: peer %s: new PeerConnection: %w", p.id, err)
	}
	// Candidates go out through the task queue: pion gathers them on its
	// own goroutine as soon as SetLocalDescription starts, and sent from
	// there they can overtake the offer or answer that the task goroutine
	// is still sending. The other side then drops them (their ufrag is not
	// the one it knows yet), and a relay-only call is left with no pair.
	pc.OnICECandidate(callback.Guard(&p.cb, func(cand *webrtc.ICECandidate) {
		var init any // nil: end of candidates
		if cand != nil {
			init = cand.ToJSON()
		}
		p.do(func() {
			if p.current(pc) {
				p.logf("send candidate %v", cand)
				p.signal(proto.KindCandidate, init)
			}
		})
	}))
	if p.c.cfg.Logf != nil {
		pc.OnICEConnectionStateChange(callback.Guard(&p.cb, func(s webrtc.ICEConnectionState) {
			p.logf("ICE %s (current PeerConnection: %v)", s, p.current(pc))
		}))
		pc.OnICEGatheringStateChange(callback.Guard(&p.cb, func(s webrtc.ICEGatheringState) {
			p.logf("ICE gathering %s (current PeerConnection: %v)", s, p.current(pc))
		}))
		pc.OnSignalingStateChange(callback.Guard(&p.cb, func(s webrtc.SignalingState) {
			p.logf("signaling %s (current PeerConnection: %v)", s, p.current(pc))
		}))
	}
	pc.OnConnectionStateChange(callback.Guard(&p.cb, func(s webrtc.PeerConnectionState) {
		p.logf("connection %s (current PeerConnection: %v)", s, p.current(pc))
		if p.current(pc) {
			p.onState(s)
		}
	}))
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if !p.cb.Enter() {
			return
		}
		defer p.cb.Leave()
		p.onTrack(track, recv)
	})
	if !p.c.cfg.NoDataChannel {
		negotiated, id := true, proto.DataChannelID
		dc, err := pc.CreateDataChannel(proto.DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("client: peer %s: data channel: %w", p.id, err)
		}
		p.attachDC(pc, dc)
	}
	return pc, nil
}

func (p *peer) current(pc *webrtc.PeerConnection) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc == pc && !p.closed
}

func (p *peer) getPC() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// reset replaces the PeerConnection (polite side of a collision, which
// only happens during setup). Task goroutine only.
func (p *peer) reset() error {
	pc, err := p.newPC()
	if err != nil {
		return err
	}
	p.mu.Lock()
	old := p.pc
	p.pc = pc
	p.sendDC = nil
	p.created = time.Now()
	p.connectedAt = time.Time{}
	p.mu.Unlock()
	p.initiator = false
	p.makingOffer = false
	p.restartPending = false
	p.tracksAdded = false
	p.pendingCands = nil
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = old.Close() }()
	return nil
}

// start launches the task goroutine. The initiator adds its media now and
// sends the offer; the other side adds it when the first offer arrives, so
// the two do not collide.
//
// The client does not use negotiationneeded. pion fires it on its own
// goroutine as soon as newPC creates the data channel, which can be before
// the media is added here; an offer made then carries no media, and the
// event does not fire again for the media until that offer is answered.
// pion also fires it after some answers (a recvonly transceiver answered
// inactive), and an offer made then can meet the impolite side's ICE
// restart mid-call, a collision the polite side cannot settle (see the type
// comment). So each side offers exactly when it means to: the initiator
// once, here, with everything in it, and the impolite side for ICE
// restarts. The client never changes media mid-call.
func (p *peer) start() {
	p.wg.Add(1)
	go p.run()
	if !p.initiator {
		return
	}
	p.do(func() {
		pc := p.getPC()
		p.addMedia(pc)
		// Offer to receive audio too, so a browser peer can send its mic.
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			p.fail(fmt.Errorf("add audio transceiver: %w", err))
		}
		if p.c.video == nil {
			if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				p.fail(fmt.Errorf("add video transceiver: %w", err))
			}
		}
		p.offer(pc, false)
	})
}

func (p *peer) run() {
	defer p.wg.Done()
	for {
		task, ok := p.tasks.pop(p.done)
		if !ok {
			return
		}
		task()
	}
}

func (p *peer) do(task func()) { p.tasks.push(task) }

func (p *peer) fail(err error) {
	p.logf("error: %v", err)
	p.c.emit(Event{Kind: EventError, Peer: p.id, Err: fmt.Errorf("client: peer %s: %w", p.id, err)})
}

// addMedia adds our tracks once per PeerConnection. Task goroutine only.
func (p *peer) addMedia(pc *webrtc.PeerConnection) {
	if p.tracksAdded || p.c.video == nil {
		return
	}
	p.tracksAdded = true
	sender, err := pc.AddTrack(p.c.video)
	if err != nil {
		p.fail(fmt.Errorf("add video track: %w", err))
		return
	}
	// Read RTCP so that the interceptors (NACK, reports) keep working.
	p.mu.Lock()
	p.senders = append(p.senders, sender)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
}

func (p *peer) signal(kind string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		p.fail(fmt.Errorf("encode %s: %w", kind, err))
		return
	}
	if err := p.c.send(proto.ClientMessage{Type: proto.TypeSignal, To: p.id, Kind: kind, Data: raw}); err != nil && !errors.Is(err, ErrClosed) {
		p.fail(fmt.Errorf("send %s: %w", kind, err))
	}
}

func (p *peer) offer(pc *webrtc.PeerConnection, iceRestart bool) {
	if !p.current(pc) {
		return
	}
	if pc.SignalingState() != webrtc.SignalingStateStable {
		// An offer or answer is in flight; the restart is made when the
		// exchange completes (retryRestart).
		if iceRestart {
			p.restartPending = true
		}
		return
	}
	p.makingOffer = true
	defer func() { p.makingOffer = false }()
	var opts *webrtc.OfferOptions
	if iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		p.lastRestart = time.Now()
	}
	offer, err := pc.CreateOffer(opts)
	if err != nil {
		p.fail(fmt.Errorf("create offer: %w", err))
		return
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		p.fail(fmt.Errorf("set local offer: %w", err))
		return
	}
	p.logf("send offer (ICE restart: %v)", iceRestart)
	p.signal(proto.KindOffer, pc.LocalDescription())
}

// onSignal queues one incoming signal message, keeping arrival order.
func (p *peer) onSignal(kind string, data json.RawMessage) {
	p.do(func() {
		if p.isClosed() {
			return
		}
		var err error
		switch kind {
		case proto.KindOffer, proto.KindAnswer:
			var desc webrtc.SessionDescription
			if err = json.Unmarshal(data, &desc); err == nil {
				err = p.onDescription(desc)
			}
			if err == nil {
				p.retryRestart()
			}
		case proto.KindCandidate:
			err = p.onCandidate(data)
		case proto.KindRestart:
			p.logf("restart requested; our last restart offer was %v ago", time.Since(p.lastRestart).Round(time.Millisecond))
			// The polite side asks for a restart when it wants one. If we
			// offered one moments ago (both ends noticed the same failure),
			// that offer already answers the request: a second restart
			// right behind it only discards the candidates of the first.
			if time.Since(p.lastRestart) < restartCoalesce {
				return
			}
			p.offer(p.getPC(), true)
		default:
			// Unknown kinds are for newer clients; ignore them.
		}
		if err != nil {
			p.fail(fmt.Errorf("handle %s: %w", kind, err))
		}
	})
}

// onDescription is MDN's perfect negotiation, receiving side.
func (p *peer) onDescription(desc webrtc.SessionDescription) error {
	pc := p.getPC()
	state := pc.SignalingState()
	collision := desc.Type == webrtc.SDPTypeOffer && (p.makingOffer || state != webrtc.SignalingStateStable)
	p.ignoreOffer = !p.polite && collision
	p.logf("got %s in %s (making offer: %v, collision: %v, ignored: %v)", desc.Type, state, p.makingOffer, collision, p.ignoreOffer)
	if p.ignoreOffer {
		return nil
	}
	if desc.Type == webrtc.SDPTypeAnswer && state != webrtc.SignalingStateHaveLocalOffer {
		// A stale answer (e.g. to an offer we dropped); nothing to apply.
		return nil
	}
	if collision {
		// Polite side: drop our offer and take theirs (see the type comment).
		if err := p.reset(); err != nil {
			return err
		}
		pc = p.getPC()
	}
	if err := pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("set remote %s: %w", desc.Type, err)
	}
	for _, cand := range p.pendingCands {
		if err := pc.AddICECandidate(cand); err != nil {
			p.fail(fmt.Errorf("add queued candidate: %w", err))
		}
	}
	p.pendingCands = nil
	if desc.Type != webrtc.SDPTypeOffer {
		return nil
	}
	// Our media rides in the answer (AddTrack reuses the offered transceiver).
	p.addMedia(pc)
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	p.logf("send answer")
	p.signal(proto.KindAnswer, pc.LocalDescription())
	return nil
}

// retryRestart makes the ICE restart offer that offer put off because an
// exchange was in flight, once that exchange has completed. Task goroutine.
func (p *peer) retryRestart() {
	if p.restartPending && p.getPC().SignalingState() == webrtc.SignalingStateStable {
		p.restartPending = false
		p.offer(p.getPC(), true)
	}
}

func (p *peer) onCandidate(data json.RawMessage) error {
	if len(data) == 0 || string(data) == "null" {
		return nil // end of candidates
	}
	var cand webrtc.ICECandidateInit
	if err := json.Unmarshal(data, &cand); err != nil {
		return fmt.Errorf("decode candidate: %w", err)
	}
	if cand.Candidate == "" {
		return nil // browsers signal end-of-candidates this way too
	}
	if p.ignoreOffer {
		// Candidates follow their description (both sides send them through
		// the task queue), so these belong to the offer we ignored.
		return nil
	}
	pc := p.getPC()
	if pc.RemoteDescription() == nil {
		p.logf("queue candidate until the description: %s", cand.Candidate)
		p.pendingCands = append(p.pendingCands, cand)
		return nil
	}
	p.logf("add candidate %s", cand.Candidate)
	if err := pc.AddICECandidate(cand); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

// restartCoalesce is how recent our own ICE restart offer must be for a
// peer's restart request to count as already answered by it.
const restartCoalesce = 2 * time.Second

// restartICE runs an ICE restart. As in the web app, the impolite side offers
// at once and the polite side asks the other to do it, so a restart from
// both ends at the same time does not collide (a mid-call collision would
// cost the polite pion side its whole connection, see the type comment).
func (p *peer) restartICE() {
	p.logf("ICE restart")
	if p.polite {
		p.signal(proto.KindRestart, struct{}{})
		return
	}
	p.do(func() { p.offer(p.getPC(), true) })
}

func (p *peer) setICEServers(cfg webrtc.Configuration) {
	p.mu.Lock()
	p.cfg = cfg
	pc := p.pc
	p.mu.Unlock()
	if err := pc.SetConfiguration(cfg); err != nil {
		p.fail(fmt.Errorf("apply new ICE servers: %w", err))
	}
}

func (p *peer) onState(s webrtc.PeerConnectionState) {
	if s == webrtc.PeerConnectionStateFailed {
		p.restartICE()
	}
	if s == webrtc.PeerConnectionStateConnected {
		p.mu.Lock()
		first := p.connectedAt.IsZero()
		if first {
			p.connectedAt = time.Now()
		}
		p.mu.Unlock()
		p.c.emit(Event{Kind: EventConnected, Peer: p.id, State: s})
		return
	}
	p.c.emit(Event{Kind: EventConnState, Peer: p.id, State: s})
}

// attachDC wires the peer's data channel.
func (p *peer) attachDC(pc *webrtc.PeerConnection, dc *webrtc.DataChannel) {
	dc.OnOpen(callback.Guard0(&p.cb, func() {
		p.mu.Lock()
		if p.pc != pc {
			p.mu.Unlock()
			return
		}
		first := p.sendDC == nil
		if first {
			p.sendDC = dc
		}
		p.mu.Unlock()
		if first {
			p.c.emit(Event{Kind: EventDataOpen, Peer: p.id})
		}
	}))
	dc.OnMessage(callback.Guard(&p.cb, func(msg webrtc.DataChannelMessage) {
		p.c.emit(Event{Kind: EventData, Peer: p.id, Data: msg.Data})
	}))
	dc.OnClose(callback.Guard0(&p.cb, func() {
		p.mu.Lock()
		if p.sendDC == dc {
			p.sendDC = nil
		}
		p.mu.Unlock()
	}))
}

func (p *peer) send(data []byte, text bool) error {
	p.mu.Lock()
	dc := p.sendDC
	p.mu.Unlock()
	if dc == nil {
		return fmt.Errorf("%w: %s", ErrNoChannel, p.id)
	}
	var err error
	if text {
		err = dc.SendText(string(data))
	} else {
		err = dc.Send(data)
	}
	if err != nil {
		return fmt.Errorf("client: send to %s: %w", p.id, err)
	}
	return nil
}

func (p *peer) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	ctr := &rtpCounter{}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.counters = append(p.counters, ctr)
	p.wg.Add(1)
	p.mu.Unlock()
	p.c.emit(Event{Kind: EventTrack, Peer: p.id, Data: []byte(track.Codec().MimeType)})
	go func() {
		defer p.wg.Done()
		buf := make([]byte, 1600)
		for {
			n, _, err := track.Read(buf)
			if err != nil {
				if !errors.Is(err, io.EOF) && !p.isClosed() {
					p.fail(fmt.Errorf("read track: %w", err))
				}
				return
			}
			pkt := rtpPacketPool.Get().(*rtpPacket)
			if err := pkt.Unmarshal(buf[:n]); err == nil {
				ctr.add(&pkt.Packet, n)
			}
			rtpPacketPool.Put(pkt)
		}
	}()
}

func (p *peer) media() MediaStats {
	p.mu.Lock()
	counters := append([]*rtpCounter(nil), p.counters...)
	p.mu.Unlock()
	var m MediaStats
	m.Tracks = len(counters)
	for _, ctr := range counters {
		rx, b, lost, last := ctr.stats()
		m.PacketsReceived += rx
		m.BytesReceived += b
		m.PacketsLost += lost
		if last.After(m.LastPacket) {
			m.LastPacket = last
		}
	}
	return m
}

func (p *peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	// Callbacks first: from here on pion's handlers (which it may still
	// start on goroutines of its own while closing) do nothing.
	p.cb.Shut()
	close(p.done)
	p.tasks.close()
	_ = p.getPC().GracefulClose()
	// Closing stops the senders, which ends their RTCP reads; the deadline
	// ends a read whose SRTCP stream pion left open, so that close returns.
	p.mu.Lock()
	senders := p.senders
	p.mu.Unlock()
	for _, s := range senders {
		_ = s.SetReadDeadline(time.Now())
	}
	p.wg.Wait()
}

// logf writes one line of the negotiation trace when Config.Logf is set.
func (p *peer) logf(format string, args ...any) {
	if logf := p.c.cfg.Logf; logf != nil {
		logf("peer %s (polite=%v): "+format, append([]any{p.id, p.polite}, args...)...)
	}
}
