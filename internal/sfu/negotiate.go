package sfu

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/signal/proto"
)

// maxClientSections bounds the media sections a client's offers may add
// (audio, video and the data channel, with room for a second video), so a
// client cannot have the server build receivers without limit.
const maxClientSections = 8

// Negotiation is perfect negotiation (W3C WebRTC §10.7) with the server as
// the impolite peer: a client offer that collides with the server's
// outstanding offer is ignored, and the client, polite, rolls its own back,
// answers the server's and offers again once stable.

// handleOffer answers a client's offer, unless it collides with the
// server's own, then sends the server's pending changes as an offer of its
// own.
func (p *Participant) handleOffer(data json.RawMessage) error {
	desc, parsed, err := parseDescription(data, webrtc.SDPTypeOffer)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.offering || p.pc.SignalingState() != webrtc.SignalingStateStable {
		logx.Debugw("sfu: client offer ignored: the server's offer is outstanding", logx.Field("participant", p.id))
		return nil
	}
	if err := p.checkOfferLocked(parsed); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if p.pc.CurrentRemoteDescription() != nil && p.pc.ICEConnectionState() == webrtc.ICEConnectionStateNew {
		// pion sets the remote ICE credentials when its transports start,
		// after the description that starts them; an offer applied before
		// would look like an ICE restart to it. onICEState applies it.
		logx.Debugw("sfu: client offer deferred until ICE starts", logx.Field("participant", p.id))
		p.deferred = &desc
		return nil
	}
	return p.answerLocked(desc)
}

// answerLocked applies a checked client offer and answers it, then sends
// the server's pending changes as an offer of its own.
func (p *Participant) answerLocked(desc webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		p.recoverLocked()
		return fmt.Errorf("offer: %w", err)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(answer)
	}
	if err != nil {
		p.recoverLocked()
		return fmt.Errorf("offer: answer: %w", err)
	}
	logx.Debugw("sfu: client offer answered", logx.Field("participant", p.id))
	p.emit(Signal{Kind: proto.KindAnswer, Data: proto.Marshal(answer)})
	// The answer stopped the sending on every freed transceiver: they may
	// carry new tracks now.
	p.free = append(p.free, p.freeing...)
	p.freeing = nil
	p.addQueuedCandidatesLocked()
	p.negotiateLocked()
	return nil
}

// onICEState applies a client offer deferred until pion's ICE transport
// has started.
func (p *Participant) onICEState(s webrtc.ICEConnectionState) {
	if s == webrtc.ICEConnectionStateNew {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.deferred == nil {
		return
	}
	desc := *p.deferred
	p.deferred = nil
	if err := p.answerLocked(desc); err != nil {
		logx.Errorw("sfu: deferred client offer", logx.Field("participant", p.id), logx.Field("err", err.Error()))
	}
}

// recoverLocked returns to stable after pion applied part of a client
// offer and failed. pion has no rollback (its signaling states lack the
// transitions), so the server answers what it did apply: the client, which
// waits for an answer, gets one, and the next offer can go ahead.
func (p *Participant) recoverLocked() {
	if p.pc.SignalingState() != webrtc.SignalingStateHaveRemoteOffer {
		return
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(answer)
	}
	if err != nil {
		logx.Errorw("sfu: answer to a failed client offer", logx.Field("participant", p.id),
			logx.Field("err", err.Error()))
		return
	}
	p.emit(Signal{Kind: proto.KindAnswer, Data: proto.Marshal(answer)})
}

// checkOfferLocked checks what pion would otherwise apply in part before
// failing: every media section has a mid, the session's sections come
// first and in order, the ICE and DTLS parameters are there, and the
// client adds a bounded number of sections.
func (p *Participant) checkOfferLocked(offer *sdp.SessionDescription) error {
	if err := checkTransport(offer); err != nil {
		return err
	}
	if cur := p.pc.CurrentLocalDescription(); cur != nil {
		local, err := cur.Unmarshal()
		if err != nil {
			return fmt.Errorf("local description: %w", err)
		}
		if len(offer.MediaDescriptions) < len(local.MediaDescriptions) {
			return fmt.Errorf("%d media sections, the session has %d",
				len(offer.MediaDescriptions), len(local.MediaDescriptions))
		}
		for i, m := range local.MediaDescriptions {
			want, _ := m.Attribute("mid")
			if got, _ := offer.MediaDescriptions[i].Attribute("mid"); got != want {
				return fmt.Errorf("media section %d has mid %q, the session %q", i, got, want)
			}
		}
	}
	own := map[string]bool{}
	for tr := range p.own {
		if mid := tr.Mid(); mid != "" {
			own[mid] = true
		}
	}
	added := 0
	for _, m := range offer.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); !own[mid] {
			added++
		}
	}
	if added > maxClientSections {
		return fmt.Errorf("%d media sections of the client's, at most %d", added, maxClientSections)
	}
	return nil
}

// checkTransport checks that every media section of a description has a
// mid, ICE credentials and a DTLS fingerprint, at its level or the
// session's.
func checkTransport(desc *sdp.SessionDescription) error {
	_, sessionPrint := desc.Attribute("fingerprint")
	_, sessionUfrag := desc.Attribute("ice-ufrag")
	_, sessionPwd := desc.Attribute("ice-pwd")
	for i, m := range desc.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); mid == "" {
			return fmt.Errorf("media section %d has no mid", i)
		}
		if _, ok := m.Attribute("fingerprint"); !ok && !sessionPrint {
			return fmt.Errorf("media section %d has no DTLS fingerprint", i)
		}
		_, ufrag := m.Attribute("ice-ufrag")
		_, pwd := m.Attribute("ice-pwd")
		if !(ufrag || sessionUfrag) || !(pwd || sessionPwd) {
			return fmt.Errorf("media section %d has no ICE credentials", i)
		}
	}
	return nil
}

// parseDescription decodes an RTCSessionDescriptionInit of type want.
func parseDescription(data json.RawMessage, want webrtc.SDPType) (webrtc.SessionDescription,
	*sdp.SessionDescription, error) {
	var desc webrtc.SessionDescription
	if err := json.Unmarshal(data, &desc); err != nil {
		return desc, nil, err
	}
	if desc.Type != want {
		return desc, nil, fmt.Errorf("type is %q, want %s", desc.Type, want)
	}
	parsed, err := desc.Unmarshal()
	if err != nil {
		return desc, nil, fmt.Errorf("bad SDP: %w", err)
	}
	return desc, parsed, nil
}

func (p *Participant) handleAnswer(data json.RawMessage) error {
	desc, answer, err := parseDescription(data, webrtc.SDPTypeAnswer)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
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
			p.freeing = append(p.freeOffered, p.freeing...)
			p.freeOffered = nil
			p.negotiateLocked()
		}
		return fmt.Errorf("answer: %w", err)
	}
	logx.Debugw("sfu: answer applied", logx.Field("participant", p.id))
	p.offering = false
	p.free = append(p.free, p.freeOffered...)
	p.freeOffered = nil
	p.addQueuedCandidatesLocked()
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
	for i, m := range answer.MediaDescriptions {
		want, _ := local.MediaDescriptions[i].Attribute("mid")
		if got, _ := m.Attribute("mid"); got != want {
			return fmt.Errorf("media section %d has mid %q, the offer %q", i, got, want)
		}
	}
	return checkTransport(answer)
}

// addQueuedCandidatesLocked gives pion the candidates that came before the
// remote description.
func (p *Participant) addQueuedCandidatesLocked() {
	for _, c := range p.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			logx.Debugw("sfu: queued candidate", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		}
	}
	p.candidates = nil
}

// negotiateLocked sends an offer when the server's side changed, the
// signaling state is stable and no offer is outstanding; otherwise the
// answer that ends the current exchange calls it again.
func (p *Participant) negotiateLocked() {
	if p.closed || !p.heard || !p.needOffer || p.offering || p.deferred != nil ||
		p.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		logx.Errorw("sfu: offer", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		return
	}
	logx.Debugw("sfu: offering", logx.Field("participant", p.id))
	p.needOffer, p.offering = false, true
	p.freeOffered = append(p.freeOffered, p.freeing...)
	p.freeing = nil
	p.emit(Signal{Kind: proto.KindOffer, Data: proto.Marshal(offer)})
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
