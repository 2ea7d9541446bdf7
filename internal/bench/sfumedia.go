package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/rtcd/rtcd/signal/proto"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Synthetic media: what a browser publishes to the SFU, shaped like the
// real thing where the SFU looks (VP8 payload descriptors and key frame
// headers, RTP timestamps and markers, the rid and audio level header
// extensions) and carrying a trailer of its own at the end of every payload,
// which no SFU rewrites, with the send time for the forwarding delay.
const (
	videoFPS      = 30
	audioInterval = 20 * time.Millisecond // one Opus frame
	// audioPayload is an Opus frame at ~40 kbit/s, what a browser sends for
	// speech.
	audioPayload = 100
	// maxVideoPayload keeps packets under a 1200-byte MTU as browsers do.
	maxVideoPayload = 1160
	// keyFrameScale is how much bigger than an average frame a key frame is.
	keyFrameScale = 3
	// vp8DescLen is the payload descriptor bench writes: X, I with a 15-bit
	// picture id.
	vp8DescLen = 4
	// vp8KeyHeader is a key frame's payload header: frame tag, start code,
	// width and height (RFC 6386 §9.1).
	vp8KeyHeader = 10
	// minPlausibleRTP is the smallest packet the receiver parses.
	minPlausibleRTP = 12
)

// simulcastLayer is one rid of the simulcast video.
type simulcastLayer struct {
	RID     string `json:"rid"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int    `json:"bitrate"` // bits/s
}

// simulcastRIDs are the rids the spec's clients send, smallest first.
var simulcastRIDs = [3]string{"q", "h", "f"}

// simulcastLayers splits total bits/s over quarter, half and full
// resolution as 1:3:6, close to libwebrtc's split for a 720p camera
// (150k/500k/1.2M at its maximum).
func simulcastLayers(total int) [3]simulcastLayer {
	return [3]simulcastLayer{
		{RID: simulcastRIDs[0], Width: 320, Height: 180, Bitrate: total / 10},
		{RID: simulcastRIDs[1], Width: 640, Height: 360, Bitrate: total * 3 / 10},
		{RID: simulcastRIDs[2], Width: 1280, Height: 720, Bitrate: total * 6 / 10},
	}
}

// The trailer: the last trailerLen bytes of every payload bench sends.
const (
	trailerLen   = 16
	trailerMagic = 0x72746364 // "rtcd"
)

// Layer codes in the trailer: audio, then the simulcast layers in order.
const (
	layerAudio = 0
	layerCount = 1 + len(simulcastRIDs)
)

// stamp is what a trailer carries.
type stamp struct {
	sent  time.Duration // send time on the run's clock
	pub   uint16        // the publisher's index in its room
	layer uint8         // layerAudio or 1 + simulcast index
}

// putTrailer writes st into the last trailerLen bytes of payload, which
// must be at least that long.
func putTrailer(payload []byte, st stamp) {
	t := payload[len(payload)-trailerLen:]
	binary.BigEndian.PutUint64(t[0:8], uint64(st.sent))
	binary.BigEndian.PutUint16(t[8:10], st.pub)
	t[10] = st.layer
	t[11] = 0
	binary.BigEndian.PutUint32(t[12:16], trailerMagic)
}

// readTrailer reads the stamp off a payload; ok is false for a payload that
// bench did not send (padding, probes, another client's media).
func readTrailer(payload []byte) (stamp, bool) {
	if len(payload) < trailerLen {
		return stamp{}, false
	}
	t := payload[len(payload)-trailerLen:]
	if binary.BigEndian.Uint32(t[12:16]) != trailerMagic || int(t[10]) >= layerCount {
		return stamp{}, false
	}
	return stamp{sent: time.Duration(binary.BigEndian.Uint64(t[0:8])), pub: binary.BigEndian.Uint16(t[8:10]),
		layer: t[10]}, true
}

// rtpPayload returns a raw RTP packet's sequence number and payload,
// skipping CSRCs and header extensions and dropping padding.
func rtpPayload(b []byte) (seq uint16, payload []byte, ok bool) {
	if len(b) < minPlausibleRTP || b[0]>>6 != 2 {
		return 0, nil, false
	}
	seq = binary.BigEndian.Uint16(b[2:4])
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return 0, nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		if end == 0 || int(b[end-1]) > end-off {
			return 0, nil, false
		}
		end -= int(b[end-1])
	}
	if off > end {
		return 0, nil, false
	}
	return seq, b[off:end], true
}

// vp8Frame fills bufs with the RTP payloads of one VP8 frame of frameLen
// bytes (descriptor not counted) and returns how many it used: a payload
// descriptor on each, the start bit on the first, and on a key frame the
// key frame header with the layer's size, which is what SFUs look at to
// switch layers. bufs must hold enough buffers of maxVideoPayload bytes.
func vp8Frame(bufs [][]byte, frameLen int, key bool, picID uint16, width, height int) int {
	chunk := maxVideoPayload - vp8DescLen
	n := max((frameLen+chunk-1)/chunk, 1)
	n = min(n, len(bufs))
	per := frameLen / n
	for i := 0; i < n; i++ {
		size := per
		if i == n-1 {
			size = frameLen - per*(n-1)
		}
		size = min(max(size, vp8KeyHeader+trailerLen), chunk)
		b := bufs[i][:vp8DescLen+size]
		b[0] = 0x80 // X: extended control bits follow
		if i == 0 {
			b[0] |= 0x10 // S: start of the partition, partition index 0
		}
		b[1] = 0x80                       // I: picture id present
		b[2] = 0x80 | byte(picID>>8)&0x7f // M: 15-bit picture id
		b[3] = byte(picID)
		if i == 0 {
			h := b[vp8DescLen:]
			firstPart := uint32(frameLen - vp8KeyHeader)
			tag := uint32(1)<<4 | firstPart<<5 // version 0, shown
			if !key {
				tag |= 1 // P: inter frame
			}
			h[0], h[1], h[2] = byte(tag), byte(tag>>8), byte(tag>>16)
			if key {
				h[3], h[4], h[5] = 0x9d, 0x01, 0x2a
				binary.LittleEndian.PutUint16(h[6:8], uint16(width)&0x3fff)
				binary.LittleEndian.PutUint16(h[8:10], uint16(height)&0x3fff)
			}
		}
		bufs[i] = b
	}
	return n
}

// pubLayer is one simulcast layer's sending state, owned by the pacer.
type pubLayer struct {
	spec   simulcastLayer
	track  *webrtc.TrackLocalStaticRTP
	header rtp.Header
	picID  uint16
	// keyFrame is set by a PLI or FIR from the SFU; the next frame is a key frame.
	keyFrame atomic.Bool
	lastKey  time.Duration
}

// publisher sends one participant's synthetic audio and simulcast video.
// Its tracks are shared by every PeerConnection the participant makes;
// the pacer goroutine owns everything but the atomics.
type publisher struct {
	idx      uint16
	roomSize int
	audio    *webrtc.TrackLocalStaticRTP // nil with -audio=false
	aHeader  rtp.Header
	layers   [3]pubLayer
	keyEvery time.Duration

	// exts is set once the SFU's answer fixed the header extension ids;
	// nothing is sent before.
	exts atomic.Pointer[extIDs]

	bufs  [][]byte
	level [1]byte

	// Counted by the pacer for packets whose send time is in the window.
	sentPackets atomic.Uint64
	sentBytes   atomic.Uint64
	// late counts frames sent more than one frame interval after their time:
	// the generator could not keep up.
	late    atomic.Uint64
	frames  atomic.Uint64
	plis    atomic.Uint64
	keyReqs atomic.Uint64
}

// extIDs are the negotiated header extension ids bench writes.
type extIDs struct {
	mid, rid, level uint8
	midValue        string
}

func newPublisher(idx, roomSize int, streamID string, bitrate int, audio bool, keyEvery time.Duration) (*publisher, error) {
	p := &publisher{idx: uint16(idx), roomSize: roomSize, keyEvery: keyEvery}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	for i, spec := range simulcastLayers(bitrate) {
		t, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", streamID, webrtc.WithRTPStreamID(spec.RID))
		if err != nil {
			return nil, fmt.Errorf("video track %s: %w", spec.RID, err)
		}
		p.layers[i] = pubLayer{spec: spec, track: t, picID: uint16(rand.IntN(1 << 15)),
			header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}}
		// Stagger periodic key frames so the publishers of a room do not
		// send theirs at once.
		p.layers[i].lastKey = -time.Duration(rand.Int64N(int64(keyEvery)))
	}
	if audio {
		t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
			ClockRate: 48000, Channels: 2}, "audio", streamID)
		if err != nil {
			return nil, fmt.Errorf("audio track: %w", err)
		}
		p.audio = t
		p.aHeader = rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	}
	maxFrame := keyFrameScale * p.layers[2].spec.Bitrate / 8 / videoFPS
	nbuf := max(maxFrame/(maxVideoPayload-vp8DescLen)+2, 2)
	for i := 0; i < nbuf; i++ {
		b := make([]byte, maxVideoPayload)
		for j := range b {
			b[j] = byte(j*7 + 3)
		}
		p.bufs = append(p.bufs, b)
	}
	return p, nil
}

// addTo adds the publisher's transceivers to pc, as a browser publishing
// to the SFU does: sendonly audio, and sendonly video with the three rids
// as encodings of one sender.
func (p *publisher) addTo(pc *webrtc.PeerConnection) (audio, video *webrtc.RTPSender, err error) {
	send := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	if p.audio != nil {
		tr, err := pc.AddTransceiverFromTrack(p.audio, send)
		if err != nil {
			return nil, nil, fmt.Errorf("audio transceiver: %w", err)
		}
		audio = tr.Sender()
	}
	tr, err := pc.AddTransceiverFromTrack(p.layers[0].track, send)
	if err != nil {
		return nil, nil, fmt.Errorf("video transceiver: %w", err)
	}
	for i := 1; i < len(p.layers); i++ {
		if err := tr.Sender().AddEncoding(p.layers[i].track); err != nil {
			return nil, nil, fmt.Errorf("video encoding %s: %w", p.layers[i].spec.RID, err)
		}
	}
	return audio, tr.Sender(), nil
}

// bind reads the header extension ids the answer settled for the senders
// addTo returned and lets the pacer send. pion does not write the mid and
// rid extensions itself, and without them the SFU cannot tell the layers
// apart.
func (p *publisher) bind(pc *webrtc.PeerConnection, audio, video *webrtc.RTPSender) error {
	ids := &extIDs{}
	for _, e := range video.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			ids.mid = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ids.rid = uint8(e.ID)
		}
	}
	if audio != nil {
		for _, e := range audio.GetParameters().HeaderExtensions {
			if e.URI == sdp.AudioLevelURI {
				ids.level = uint8(e.ID)
			}
		}
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == video {
			ids.midValue = tr.Mid()
		}
	}
	if ids.mid == 0 || ids.rid == 0 || ids.midValue == "" {
		return errors.New("the server did not accept the mid and rid header extensions simulcast needs")
	}
	p.exts.Store(ids)
	return nil
}

// run paces the publisher until done is closed: a video frame on every
// layer each 1/30 s and an audio frame each 20 ms, from a random phase.
func (p *publisher) run(run *sfuRun, done <-chan struct{}) {
	frame := time.Second / videoFPS
	now := run.now()
	nextVideo := now + time.Duration(rand.Int64N(int64(frame)))
	nextAudio := now + time.Duration(rand.Int64N(int64(audioInterval)))
	if p.audio == nil {
		nextAudio = 1<<63 - 1
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := min(nextVideo, nextAudio) - run.now()
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-done:
				return
			case <-timer.C:
			}
		} else {
			select {
			case <-done:
				return
			default:
			}
		}
		now = run.now()
		if now >= nextVideo {
			if now-nextVideo > frame {
				p.late.Add(1)
				nextVideo = now // skip, as an encoder drops frames under load
			}
			p.sendFrame(run, now)
			nextVideo += frame
		}
		if now >= nextAudio {
			if now-nextAudio > audioInterval {
				nextAudio = now
			}
			p.sendAudio(run)
			nextAudio += audioInterval
		}
	}
}

// sendFrame sends one frame on each layer; a layer sends a key frame when
// the SFU asked for one or keyEvery has passed.
func (p *publisher) sendFrame(run *sfuRun, now time.Duration) {
	ext := p.exts.Load()
	if ext == nil {
		return
	}
	p.frames.Add(1)
	for i := range p.layers {
		l := &p.layers[i]
		key := l.keyFrame.Swap(false) || now-l.lastKey >= p.keyEvery
		if key {
			l.lastKey = now
		}
		size := l.spec.Bitrate / 8 / videoFPS
		if key {
			size *= keyFrameScale
		}
		n := vp8Frame(p.bufs, size, key, l.picID, l.spec.Width, l.spec.Height)
		l.picID = (l.picID + 1) & 0x7fff
		if len(l.header.Extensions) == 0 {
			_ = l.header.SetExtension(ext.mid, []byte(ext.midValue))
			_ = l.header.SetExtension(ext.rid, []byte(l.spec.RID))
		}
		for j := 0; j < n; j++ {
			l.header.Marker = j == n-1
			p.write(run, l.track, &l.header, p.bufs[j], uint8(1+i))
			l.header.SequenceNumber++
		}
		l.header.Timestamp += 90000 / videoFPS
	}
}

// sendAudio sends one Opus-sized packet. The participants of a room take
// turns to speak for two seconds each, so the SFU's dominant speaker
// detection has something to find.
func (p *publisher) sendAudio(run *sfuRun) {
	ext := p.exts.Load()
	if ext == nil {
		return
	}
	speaking := int(run.now()/(2*time.Second))%max(p.roomSize, 1) == int(p.idx)
	level := rtp.AudioLevelExtension{Level: 110}
	if speaking {
		level = rtp.AudioLevelExtension{Level: 25, Voice: true}
	}
	if ext.level != 0 {
		if b, err := level.Marshal(); err == nil {
			p.level[0] = b[0]
			_ = p.aHeader.SetExtension(ext.level, p.level[:])
		}
	}
	b := p.bufs[0][:audioPayload]
	b[0] = 0x78 // TOC: CELT fullband 20 ms, mono, one frame
	p.write(run, p.audio, &p.aHeader, b, layerAudio)
	p.aHeader.SequenceNumber++
	p.aHeader.Timestamp += 48000 / uint32(time.Second/audioInterval)
}

// write stamps payload and writes it on track.
func (p *publisher) write(run *sfuRun, track *webrtc.TrackLocalStaticRTP, h *rtp.Header, payload []byte, layer uint8) {
	t := run.now()
	putTrailer(payload, stamp{sent: t, pub: p.idx, layer: layer})
	// An error is a PeerConnection that is closing; the receivers count
	// what did not arrive.
	_ = track.WriteRTP(&rtp.Packet{Header: *h, Payload: payload})
	if run.inWindow(t) {
		p.sentPackets.Add(1)
		p.sentBytes.Add(uint64(h.MarshalSize() + len(payload)))
	}
}

// parseBitrate reads "1M", "600k" or "250000" as bits/s.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	num := strings.TrimSpace(s)
	switch {
	case strings.HasSuffix(num, "M"), strings.HasSuffix(num, "m"):
		mult, num = 1e6, num[:len(num)-1]
	case strings.HasSuffix(num, "k"), strings.HasSuffix(num, "K"):
		mult, num = 1e3, num[:len(num)-1]
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bench: --bitrate %q: want bits/s such as 1M or 600k", s)
	}
	bps := int(v * mult)
	if bps < 30000 || bps > 50e6 {
		return 0, fmt.Errorf("bench: --bitrate %q: want 30k..50M", s)
	}
	return bps, nil
}

// gridTile is the 16:9 tile each of n participants gets in a grid that
// fills a screen of that size, as a meeting app lays out its gallery: the
// most columns by rows no larger than needed, each tile the largest 16:9
// rectangle in its cell. 4 on 1280x720 are 640x360 (the h layer), 10 are
// 320x180 and 50 are 160x90 (the q layer).
func gridTile(n int, screen proto.Tile) proto.Tile {
	n = max(n, 1)
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	w, h := screen.Width/cols, screen.Height/rows
	if w*9 > h*16 {
		w = h * 16 / 9
	} else {
		h = w * 9 / 16
	}
	return proto.Tile{Width: w, Height: h}
}

// parseTile reads "160x90" (or with ×).
func parseTile(s string) (proto.Tile, error) {
	w, h, ok := strings.Cut(strings.ReplaceAll(s, "×", "x"), "x")
	if !ok {
		return proto.Tile{}, fmt.Errorf("bench: --tile %q: want WIDTHxHEIGHT", s)
	}
	wi, err1 := strconv.Atoi(strings.TrimSpace(w))
	hi, err2 := strconv.Atoi(strings.TrimSpace(h))
	if err1 != nil || err2 != nil || wi < 0 || hi < 0 || wi > 8192 || hi > 8192 {
		return proto.Tile{}, fmt.Errorf("bench: --tile %q: want WIDTHxHEIGHT in 0..8192", s)
	}
	return proto.Tile{Width: wi, Height: hi}, nil
}
