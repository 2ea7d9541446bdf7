package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/zeromicro/go-zero/core/logx"
)

// maxLayers is how many simulcast layers a published video may have.
const maxLayers = 3

// ridLayer maps the rids of the web app's simulcast encodings (quarter,
// half, full) to layer indexes, lowest first; "" is a track without
// simulcast, its one layer.
var ridLayer = map[string]int{"": 0, "q": 0, "h": 1, "f": 2}

// Until a layer has been measured, planning assumes the bitrate and, until
// its first keyframe, the size of a 720p source's layers.
var (
	defaultLayerBitrate = [maxLayers]uint64{150_000, 500_000, 1_500_000}
	defaultLayerSize    = [maxLayers][2]int{{320, 180}, {640, 360}, {1280, 720}}
)

const (
	defaultAudioBitrate = 50_000
	// layerIdle is how long a layer may go without a packet and still be
	// chosen: a browser stops sending its upper layers when its own uplink
	// is short.
	layerIdle = 1500 * time.Millisecond
	// pliInterval spaces keyframe requests for one layer, so many
	// subscribers switching at once cost the publisher one keyframe.
	pliInterval = 250 * time.Millisecond
)

// published is one track a participant publishes: audio, or video with a
// layer for each simulcast encoding, all received on one RTPReceiver.
type published struct {
	owner    *Participant
	receiver *webrtc.RTPReceiver
	kind     webrtc.RTPCodecType
	id       string // the track id at the subscribers
	codec    webrtc.RTPCodecCapability
	layers   [maxLayers]atomic.Pointer[layer]
	// audioLevelID is the publisher's id of the RFC 6464 extension, 0 when
	// not negotiated.
	audioLevelID uint8
	// levels is the loudness the audio level reports, for the speaker
	// detection; nil for video and for audio without the extension.
	levels *audioLevels
	// routed says the audio is forwarded now, and resumes counts the times
	// forwarding resumed after a pause (loudest.go).
	routed  atomic.Bool
	resumes atomic.Uint32

	mu    sync.Mutex                   // serializes changes to downs
	downs atomic.Pointer[[]*downTrack] // read on every packet, copied on change
}

// layer is one simulcast encoding (or the only stream) of a published
// track.
type layer struct {
	pub    *published
	index  int
	remote *webrtc.TrackRemote

	bytes         atomic.Uint64 // received, payload and header
	last          atomic.Int64  // unix nanoseconds of the last packet, 0 before the first
	bitrate       atomic.Uint64 // bits a second, measured by the room's loop
	width, height atomic.Int32  // from the last keyframe
	lastPLI       atomic.Int64  // unix nanoseconds

	// The room's loop alone uses these, to measure bitrate.
	measuredBytes uint64
	measuredAt    time.Time
}

func (pub *published) addDown(d *downTrack) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	var next []*downTrack
	if cur := pub.downs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, d)
	pub.downs.Store(&next)
}

func (pub *published) removeDown(d *downTrack) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	cur := pub.downs.Load()
	if cur == nil {
		return
	}
	next := make([]*downTrack, 0, len(*cur))
	for _, x := range *cur {
		if x != d {
			next = append(next, x)
		}
	}
	pub.downs.Store(&next)
}

// active reports whether l has sent recently enough to be chosen.
func (l *layer) active(now time.Time) bool {
	last := l.last.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) < layerIdle
}

// rate is l's measured bitrate, or the planning default before there is one.
func (l *layer) rate() uint64 {
	if b := l.bitrate.Load(); b > 0 {
		return b
	}
	if l.pub.kind == webrtc.RTPCodecTypeAudio {
		return defaultAudioBitrate
	}
	return defaultLayerBitrate[l.index]
}

// size is l's frame size, or the planning default before a keyframe.
func (l *layer) size() (int, int) {
	if w, h := l.width.Load(), l.height.Load(); w > 0 && h > 0 {
		return int(w), int(h)
	}
	s := defaultLayerSize[l.index]
	return s[0], s[1]
}

// measure updates l's bitrate from the bytes received since the last call,
// smoothed so one burst (a keyframe) does not swing the plan.
func (l *layer) measure(now time.Time) {
	bytes := l.bytes.Load()
	if !l.measuredAt.IsZero() {
		if dt := now.Sub(l.measuredAt).Seconds(); dt > 0 {
			sample := float64(bytes-l.measuredBytes) * 8 / dt
			old := float64(l.bitrate.Load())
			if old == 0 {
				old = sample
			}
			l.bitrate.Store(uint64(0.6*old + 0.4*sample))
		}
	}
	l.measuredBytes, l.measuredAt = bytes, now
	if !l.active(now) {
		l.bitrate.Store(0)
	}
}

// requestKeyframe asks the publisher for a keyframe of l, at most once per
// pliInterval.
func (l *layer) requestKeyframe(stats *roomStats) {
	if l.pub.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastPLI.Load()
	if now-last < int64(pliInterval) || !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	stats.plis.Add(1)
	// An error means the publisher has gone; its tracks are being removed.
	_ = l.pub.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(l.remote.SSRC())}})
}

// forward reads l's packets and hands each to every subscriber's down
// track until the publisher's stream ends.
func (l *layer) forward(r *room) {
	video := l.pub.kind == webrtc.RTPCodecTypeVideo
	for {
		pkt, _, err := l.remote.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		first := l.last.Swap(now.UnixNano()) == 0
		l.bytes.Add(uint64(pkt.MarshalSize()))
		key := true // every audio packet may start a stream
		if !video && l.pub.owner.audioHeld.Load() {
			r.counters.audioMuted.Add(1) // not heard, and not ranked as a speaker either
			continue
		}
		if !video && l.pub.levels != nil {
			l.pub.levels.add(pkt.GetExtension(l.pub.audioLevelID))
		}
		if video {
			var w, h int
			key, w, h = vp8Keyframe(pkt.Payload)
			if w > 0 && h > 0 {
				l.width.Store(int32(w))
				l.height.Store(int32(h))
			}
		}
		if first {
			r.kick() // the layer can be chosen now
		}
		if !video && !r.audio.admit(l.pub, pkt) {
			r.counters.audioHeld.Add(1)
			continue
		}
		if downs := l.pub.downs.Load(); downs != nil {
			for _, d := range *downs {
				d.writeRTP(l, pkt, key, now)
			}
		}
	}
}

// publish adds remote, just received from p, to the published track of its
// receiver, publishing that track to everyone else first when it is new.
// It returns nil when p has left the room or the stream is not one the
// server forwards; the caller then only drains it.
func (r *room) publish(p *Participant, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) (*layer, error) {
	index, ok := ridLayer[remote.RID()]
	if !ok {
		return nil, fmt.Errorf("rid %q is not q, h or f", remote.RID())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.participants[p.id] != p {
		return nil, nil
	}
	var pub *published
	taken := map[string]bool{}
	for _, f := range r.forwards {
		if f.receiver == receiver {
			pub = f
		}
		if f.owner == p {
			taken[f.id] = true
		}
	}
	if pub == nil {
		pub = &published{owner: p, receiver: receiver, kind: remote.Kind(), codec: remote.Codec().RTPCodecCapability}
		pub.id = pub.kind.String()
		for n := 2; taken[pub.id]; n++ {
			pub.id = fmt.Sprintf("%s%d", pub.kind, n)
		}
		if pub.kind == webrtc.RTPCodecTypeAudio {
			pub.audioLevelID = extensionID(receiver.GetParameters(), sdp.AudioLevelURI)
			if pub.audioLevelID != 0 {
				pub.levels = &audioLevels{}
			}
		}
		r.forwards = append(r.forwards, pub)
		for _, o := range r.participants {
			if o != p {
				o.mu.Lock()
				o.subscribeLocked(pub)
				o.negotiateLocked()
				o.mu.Unlock()
			}
		}
	}
	if pub.layers[index].Load() != nil {
		return nil, fmt.Errorf("%s layer %d arrived twice", pub.id, index)
	}
	l := &layer{pub: pub, index: index, remote: remote}
	pub.layers[index].Store(l)
	return l, nil
}

// dropLayer removes l from its track, and the track from everyone once it
// has no layer left.
func (r *room) dropLayer(l *layer) {
	pub := l.pub
	pub.layers[l.index].CompareAndSwap(l, nil)
	for i := range pub.layers {
		if pub.layers[i].Load() != nil {
			return
		}
	}
	r.unpublish(func(f *published) bool { return f == pub })
}

// unpublish removes the tracks matching drop from every participant and
// renegotiates those that had one.
func (r *room) unpublish(drop func(*published) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []*published
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

// extensionID returns the id params negotiated for uri, or 0.
func extensionID(params webrtc.RTPParameters, uri string) uint8 {
	for _, e := range params.HeaderExtensions {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}

// onTrack publishes a stream the client sends and forwards it until it
// ends; one the server does not forward is read and dropped, so pion's
// buffers do not fill.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	l, err := p.room.publish(p, remote, receiver)
	if err != nil {
		logx.Infow("sfu: track not forwarded", logx.Field("participant", p.id), logx.Field("err", err.Error()))
	}
	p.wg.Add(1) // under the gate p's Close shuts before it waits
	go func() {
		defer p.wg.Done()
		if l == nil {
			for {
				if _, _, err := remote.ReadRTP(); err != nil {
					return
				}
			}
		}
		defer p.room.dropLayer(l)
		l.forward(p.room)
	}()
}
