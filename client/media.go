package client

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// frameInterval is the synthetic video frame rate (30 fps).
const frameInterval = time.Second / 30

// syntheticVP8Frame returns a VP8 key frame header (RFC 6386 §9.1: frame tag,
// start code 9d 01 2a, 64x48) followed by filler, about two RTP packets long.
// It is not decodable video; it exists so that real RTP flows and is counted.
func syntheticVP8Frame() []byte {
	const size = 2400
	f := make([]byte, size)
	_, _ = rand.Read(f)
	firstPart := uint32(size - 10)
	tag := uint32(0) | 0<<1 | 1<<4 | firstPart<<5 // key frame, version 0, shown
	f[0], f[1], f[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	f[3], f[4], f[5] = 0x9d, 0x01, 0x2a
	f[6], f[7] = 64, 0 // width 64, no scaling
	f[8], f[9] = 48, 0 // height 48
	return f
}

// sendVideo writes synthetic VP8 frames to track until done is closed. The
// track fans out to every PeerConnection it was added to.
func sendVideo(track *webrtc.TrackLocalStaticSample, done <-chan struct{}) {
	frame := syntheticVP8Frame()
	t := time.NewTicker(frameInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			_ = track.WriteSample(media.Sample{Data: frame, Duration: frameInterval})
		}
	}
}

// MediaStats counts the RTP received from one remote peer, all tracks.
type MediaStats struct {
	Tracks          int
	PacketsReceived uint64
	BytesReceived   uint64
	// PacketsLost is expected minus received, from RTP sequence numbers.
	PacketsLost int64
	// LastPacket is when the newest packet arrived (zero if none).
	LastPacket time.Time
}

// LossRatio is PacketsLost over the packets expected, 0 when nothing arrived.
func (m MediaStats) LossRatio() float64 {
	exp := float64(m.PacketsReceived) + float64(m.PacketsLost)
	if exp <= 0 || m.PacketsLost <= 0 {
		return 0
	}
	return float64(m.PacketsLost) / exp
}

// rtpCounter tracks one inbound stream's sequence numbers (RFC 3550 A.1 style,
// without the probation logic).
type rtpCounter struct {
	mu       sync.Mutex // guards the following fields
	started  bool
	baseSeq  uint32
	maxExt   uint32 // highest extended sequence number seen
	received uint64
	bytes    uint64
	last     time.Time
}

func (r *rtpCounter) add(p *rtp.Packet, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := uint32(p.SequenceNumber)
	r.received++
	r.bytes += uint64(n)
	r.last = time.Now()
	if !r.started {
		r.started = true
		r.baseSeq, r.maxExt = seq, seq
		return
	}
	// Extend using the cycle of the highest seen; accept forward jumps < 2^15.
	cycles := r.maxExt &^ 0xffff
	ext := cycles | seq
	if ext+0x8000 < r.maxExt {
		ext += 0x10000
	} else if ext > r.maxExt+0x8000 && ext >= 0x10000 {
		ext -= 0x10000
	}
	if ext > r.maxExt {
		r.maxExt = ext
	}
}

func (r *rtpCounter) stats() (received, bytes uint64, lost int64, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		return 0, 0, 0, time.Time{}
	}
	expected := int64(r.maxExt-r.baseSeq) + 1
	lost = expected - int64(r.received)
	if lost < 0 {
		lost = 0 // duplicates
	}
	return r.received, r.bytes, lost, r.last
}
