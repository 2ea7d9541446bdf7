package sfu

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is one published track as one subscriber receives it: a
// webrtc.TrackLocal of its own, so the server picks per subscriber which
// layer to forward and rewrites the packets into one stream. Sequence
// numbers and timestamps continue across layer switches and pauses, so the
// subscriber's decoder sees one stream; a switch waits for a keyframe of
// the new layer, so the decoder never gets a frame it cannot decode.
type downTrack struct {
	pub   *published
	sub   *Participant
	stats *roomStats

	mu        sync.Mutex // guards the fields below; taken after sub.mu
	writer    webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	clockRate uint32
	// absSendTimeID is the subscriber's id of the abs-send-time extension,
	// 0 when not negotiated: it lets the subscriber's browser estimate the
	// bandwidth of its downlink (REMB) from the server's send times.
	absSendTimeID uint8
	// vp8 says the track is VP8, whose picture numbers pictures rewrites.
	vp8      bool
	pictures vp8Rewriter
	// current is the layer being forwarded and target the one wanted, -1
	// for none; they differ until a keyframe of target arrives.
	current, target int
	lastDown        time.Time // when the estimate last held target below the tile's layer
	// Rewriting: out = in + offset, offsets set at each switch.
	started   bool
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16 // the newest written
	lastTS    uint32
	lastAt    time.Time
	switchSeq uint16        // the input sequence number a switch began at
	resumes   uint32        // pub.resumes when the numbering was last based
	sentBytes atomic.Uint64 // written, for the subscriber's send rate
}

func newDownTrack(pub *published, sub *Participant) *downTrack {
	d := &downTrack{pub: pub, sub: sub, stats: &sub.room.counters, current: -1, target: -1,
		vp8: strings.EqualFold(pub.codec.MimeType, webrtc.MimeTypeVP8)}
	if pub.kind == webrtc.RTPCodecTypeAudio {
		d.target = 0 // audio is never dropped
	}
	return d
}

// ID is the track id the subscriber sees: "audio" or "video".
func (d *downTrack) ID() string { return d.pub.id }

// StreamID is the publisher's peer id, which the client maps to its tile.
func (d *downTrack) StreamID() string { return d.pub.owner.id }

// RID is empty: a subscriber receives one stream, whatever the layers.
func (d *downTrack) RID() string { return "" }

// Kind is the published track's.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.pub.kind }

// Bind starts sending on a PeerConnection that has negotiated the track,
// and asks for a keyframe so the subscriber's decoder can start at once.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.pub.codec.MimeType) {
			d.mu.Lock()
			d.writer, d.ssrc, d.pt, d.clockRate = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType), c.ClockRate
			d.absSendTimeID = 0
			for _, e := range ctx.HeaderExtensions() {
				if e.URI == sdp.ABSSendTimeURI {
					d.absSendTimeID = uint8(e.ID)
				}
			}
			target := d.target
			d.mu.Unlock()
			d.requestKeyframe(target)
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, errors.New("sfu: the subscriber negotiated no " + d.pub.codec.MimeType)
}

// Unbind stops sending: the track was removed or the connection closed.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writer = nil
	return nil
}

// requestKeyframe asks the publisher for a keyframe of layer index.
func (d *downTrack) requestKeyframe(index int) {
	if index < 0 {
		return
	}
	if l := d.pub.layers[index].Load(); l != nil {
		l.requestKeyframe(d.stats)
	}
}

// setTarget makes index the layer to forward (-1: none); squeezed says the
// estimate, not the tile, lowered it. Pausing is immediate; another layer
// starts at its next keyframe, which is asked for.
func (d *downTrack) setTarget(index int, squeezed bool, now time.Time) {
	d.mu.Lock()
	if squeezed {
		d.lastDown = now
	}
	if index == d.target {
		d.mu.Unlock()
		return
	}
	d.target = index
	if index < 0 && d.current >= 0 {
		d.current = -1 // a pause is a switch, to no layer
		d.stats.layerSwitches.Add(1)
	}
	ask := index >= 0 && index != d.current && d.writer != nil
	d.mu.Unlock()
	if ask {
		d.requestKeyframe(index)
	}
}

// state returns the current and target layers and when the estimate last
// held target down, for the allocator.
func (d *downTrack) state() (current, target int, lastDown time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current, d.target, d.lastDown
}

// writeRTP forwards pkt, of layer l, if l is the layer being forwarded, or
// the target layer and pkt begins a keyframe (key).
func (d *downTrack) writeRTP(l *layer, pkt *rtp.Packet, key bool, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.writer == nil {
		return
	}
	switched := false
	if l.index != d.current {
		if l.index != d.target || !key {
			return
		}
		d.switchLocked(l, pkt, now)
		switched = true
	} else if r := d.pub.resumes.Load(); r != d.resumes {
		d.resumes = r
		d.rebaseLocked(pkt, now) // audio forwarded again after a pause (loudest.go)
	} else if diff := int16(pkt.SequenceNumber - d.switchSeq); diff < 0 {
		return // from before the switch: its number is taken
	} else if diff > 1<<14 {
		d.switchSeq = pkt.SequenceNumber - 1<<14 // stays behind, never wraps past
	}
	h := pkt.Header
	h.SSRC, h.PayloadType = d.ssrc, d.pt
	h.SequenceNumber += d.seqOffset
	h.Timestamp += d.tsOffset
	// The publisher's extensions (mid, rid, audio level) belong to its
	// session; the subscriber's interceptors add their own, and the server
	// its send time. Padding was stripped from the payload when the packet
	// was read.
	h.Extension, h.ExtensionProfile, h.Extensions = false, 0, nil
	if d.absSendTimeID != 0 {
		if ast, err := rtp.NewAbsSendTimeExtension(now).Marshal(); err == nil {
			_ = h.SetExtension(d.absSendTimeID, ast) // a fresh header: cannot fail
		}
	}
	h.Padding, h.PaddingSize = false, 0
	payload := pkt.Payload
	if d.vp8 {
		payload = d.pictures.rewrite(payload, switched)
	}
	n, err := d.writer.WriteRTP(&h, payload)
	if err != nil {
		return // the transport is closing with the subscriber
	}
	if int16(h.SequenceNumber-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS = h.SequenceNumber, h.Timestamp
	}
	d.lastAt = now
	d.sentBytes.Add(uint64(n))
	d.stats.packets.Add(1)
	d.stats.bytes.Add(uint64(n))
}

// switchLocked makes l the forwarded layer from pkt on, continuing the
// subscriber's sequence numbers and timestamps where the last packet left
// them, the timestamps advanced by the time since.
func (d *downTrack) switchLocked(l *layer, pkt *rtp.Packet, now time.Time) {
	d.resumes = d.pub.resumes.Load()
	if d.started {
		d.rebaseLocked(pkt, now)
		d.stats.layerSwitches.Add(1)
	} else {
		d.started = true
		d.lastSeq, d.lastTS = pkt.SequenceNumber-1, pkt.Timestamp
		d.switchSeq = pkt.SequenceNumber
	}
	d.current = l.index
}

// rebaseLocked continues the subscriber's numbering at pkt: the next
// sequence number, and the timestamp advanced by the time since the last
// packet written.
func (d *downTrack) rebaseLocked(pkt *rtp.Packet, now time.Time) {
	gap := uint32(now.Sub(d.lastAt).Seconds() * float64(d.clockRate))
	d.seqOffset = d.lastSeq + 1 - pkt.SequenceNumber
	d.tsOffset = d.lastTS + max(gap, 1) - pkt.Timestamp
	d.switchSeq = pkt.SequenceNumber
}

// ssrcOf returns the SSRC the subscriber receives d on, 0 before Bind.
func (d *downTrack) ssrcOf() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssrc
}
