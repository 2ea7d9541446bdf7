package sfu

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"
	"golang.org/x/time/rate"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// Chat relay limits. A chat line is at most proto.MaxChatRunes, which JSON
// escaping can make up to six bytes a rune; the rest is headroom for the
// fields around it.
const (
	maxDataBytes = 6*proto.MaxChatRunes + 1024
	// dataRate and dataBurst bound what one participant has the server
	// send to everyone else: a person types far slower, a script does not.
	dataRate  = 5 // messages a second
	dataBurst = 20
	// maxDataBuffered is how much may wait in a receiver's channel before
	// the server drops what it would add, so a stalled client costs
	// bounded memory.
	maxDataBuffered = 1 << 20
	// maxPendingData bounds what is kept for a channel that has not opened
	// yet, so a newcomer gets what was said while it connected.
	maxPendingData = 64
)

// openDataChannel creates the participant's end of the negotiated chat
// channel, which the client creates the same way, so neither waits for the
// other to open it.
func (p *Participant) openDataChannel() error {
	negotiated, id := true, proto.DataChannelID
	dc, err := p.pc.CreateDataChannel(proto.DataChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return fmt.Errorf("data channel: %w", err)
	}
	p.dc = dc
	p.chatLimit = rate.NewLimiter(dataRate, dataBurst)
	dc.OnMessage(callback.Guard(&p.gate, p.onData))
	dc.OnOpen(callback.Guard0(&p.gate, p.onDataOpen))
	return nil
}

// onDataOpen sends what was relayed to p before its channel opened.
func (p *Participant) onDataOpen() {
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	p.dataOpen = true
	for _, b := range p.pending {
		p.writeDataLocked(b)
	}
	p.pending = nil
}

// onData relays one message of the client's to everyone else in the room.
func (p *Participant) onData(msg webrtc.DataChannelMessage) {
	b, err := relayable(msg, p.id, func(t time.Time) bool { return p.chatLimit.AllowN(t, 1) }, p.room.server.now())
	if err != nil {
		logx.Debugw("sfu: data message dropped", logx.Field("participant", p.id), logx.Field("err", err.Error()))
		return
	}
	p.room.relayData(p, b)
}

// relayable checks a client's data channel message and returns it as the
// others receive it: re-encoded from the known fields, so what they parse is
// unambiguous, with From set to the sender.
func relayable(msg webrtc.DataChannelMessage, from string, allow func(time.Time) bool, now time.Time) ([]byte, error) {
	if !msg.IsString {
		return nil, errors.New("binary message")
	}
	if len(msg.Data) > maxDataBytes {
		return nil, fmt.Errorf("%d bytes, at most %d", len(msg.Data), maxDataBytes)
	}
	if !allow(now) {
		return nil, fmt.Errorf("more than %d messages a second", dataRate)
	}
	var m proto.DataMessage
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	switch m.T {
	case proto.DataChat, proto.DataBye, proto.DataRebind:
	default:
		return nil, fmt.Errorf("type %q is not chat, bye or rebind", proto.Clip(m.T, 32))
	}
	if utf8.RuneCountInString(m.Text) > proto.MaxChatRunes {
		return nil, fmt.Errorf("text longer than %d characters", proto.MaxChatRunes)
	}
	m.From = from
	return proto.Marshal(m), nil
}

// relayData sends b to every participant of the room but from.
func (r *room) relayData(from *Participant, b []byte) {
	r.mu.Lock()
	to := make([]*Participant, 0, len(r.participants))
	for _, o := range r.participants {
		if o != from {
			to = append(to, o)
		}
	}
	r.mu.Unlock()
	for _, o := range to {
		o.sendData(b)
	}
}

// sendData writes b on p's channel, or keeps it until the channel opens,
// unless p has closed or too much already waits.
func (p *Participant) sendData(b []byte) {
	if !p.gate.Enter() {
		return
	}
	defer p.gate.Leave()
	p.dataMu.Lock()
	defer p.dataMu.Unlock()
	if !p.dataOpen {
		if len(p.pending) >= maxPendingData {
			logx.Debugw("sfu: data message not kept: the channel has not opened", logx.Field("participant", p.id))
			return
		}
		p.pending = append(p.pending, b)
		return
	}
	p.writeDataLocked(b)
}

// writeDataLocked writes b on the open channel unless too much waits in it.
// dataMu keeps the messages in the order they were relayed.
func (p *Participant) writeDataLocked(b []byte) {
	if p.dc.BufferedAmount() > maxDataBuffered {
		logx.Debugw("sfu: data message not sent: the channel is full", logx.Field("participant", p.id))
		return
	}
	// An error means the channel is closing with its participant.
	_ = p.dc.SendText(string(b))
}
