package sfu

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Bandwidth estimation towards a subscriber uses REMB, the receiver's own
// estimate: forwarded packets carry the server's abs-send-time (and no
// transport-wide sequence number), so browsers estimate on the receiving
// side and send REMB (goog-remb is negotiated), which costs the server
// nothing and follows what the subscriber's link delivers. pion's
// send-side GCC would instead need the TWCC extension on every forwarded
// packet and paces all of a connection's packets through its own queue, a
// second bottleneck besides the layer choice. Loss from the subscriber's
// receiver reports lowers the estimate too, for a link that drops without
// queueing.
//
// A receiver's estimate never goes far above what it receives (Chromium
// holds its REMB under 1.5 times its incoming rate), and a layer up costs
// about three times the one below: a REMB above what the server sends says
// the link is not congested, not how much more it takes. So the estimate
// is a cap that congestion lowers at once (a falling REMB under the
// sending rate, or heavy loss) and that every report without congestion raises a little,
// until a higher layer fits and is tried: it holds if the link takes it,
// else the cap comes down again.
const (
	// lossHigh and lossLow are the fractions of lost packets above which
	// the cap goes down, and below which it recovers.
	lossHigh = 0.10
	lossLow  = 0.02
	// rembFree is how far above the sending rate a REMB must be to say
	// the link is not congested, and rembFall how far under the last REMB
	// one must fall to say it is.
	rembFree = 1.2
	rembFall = 0.95
	// capGrowth is how much a report without congestion raises the cap,
	// at most once per capGrowEvery however many tracks report; capNone
	// is the cap above which there is none.
	capGrowth    = 1.08
	capGrowEvery = 250 * time.Millisecond
	capNone      = 100e6
	// upHeadroom is how much more than a higher layer costs the estimate
	// must allow before the subscriber gets it, and upHold how long after
	// a step down it waits: an estimate near a layer's bitrate would
	// otherwise flip between two layers.
	upHeadroom = 1.3
	upHold     = 3 * time.Second
	// defaultTileWidth and defaultTileHeight size every tile until the
	// client sends its first layers signal.
	defaultTileWidth, defaultTileHeight = 640, 360
)

// bandwidth is the server's estimate of what one subscriber can receive.
type bandwidth struct {
	mu       sync.Mutex
	cap      float64 // bits a second; 0 is no cap
	growAt   time.Time
	lastREMB float64
}

// remb takes the receiver's estimate, bps, while the server was sending it
// sending bits a second. Chromium's estimate starts under what it receives
// and climbs slowly, and drops (to 85% of what arrives) when its link
// queues: a REMB that falls under the last one and under the sending rate
// caps the estimate, one well above the sending rate raises the cap, and
// any other says nothing.
func (b *bandwidth) remb(bps, sending float64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last := b.lastREMB
	b.lastREMB = bps
	switch {
	case bps < last*rembFall && (sending == 0 || bps < sending*rembFree):
		b.lowerLocked(bps)
	case sending > 0 && bps >= sending*rembFree:
		b.growLocked(now)
		if b.cap > 0 && bps > b.cap {
			b.cap = bps // the receiver allows more than the cap has grown to
		}
		if b.cap > capNone {
			b.cap = 0
		}
	}
}

// loss takes the fraction lost that a receiver report gives, while the
// subscriber was receiving sending bits a second: heavy loss caps the
// estimate under that rate, little loss raises the cap.
func (b *bandwidth) loss(fraction, sending float64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case fraction > lossHigh && sending > 0:
		b.lowerLocked(sending * (1 - fraction/2))
	case fraction < lossLow:
		b.growLocked(now)
	}
}

func (b *bandwidth) lowerLocked(c float64) {
	if c > 0 && (b.cap == 0 || c < b.cap) {
		b.cap = c
	}
}

func (b *bandwidth) growLocked(now time.Time) {
	if b.cap == 0 || now.Sub(b.growAt) < capGrowEvery {
		return
	}
	b.growAt = now
	b.cap *= capGrowth
	if b.cap > capNone {
		b.cap = 0
	}
}

// estimate is the bandwidth in bits a second, 0 when unknown (no
// congestion seen yet): the allocator then does not cap.
func (b *bandwidth) estimate() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(b.cap)
}

// measureLocked updates the rate p is sent at, for the loss cap.
func (p *Participant) measureLocked(now time.Time) {
	var total uint64
	for _, d := range p.senders {
		total += d.sentBytes.Load()
	}
	if dt := now.Sub(p.sentAt).Seconds(); !p.sentAt.IsZero() && dt > 0 && total >= p.sentBytes {
		p.sending.Store(uint64(float64(total-p.sentBytes) * 8 / dt))
	}
	p.sentBytes, p.sentAt = total, now
}

// tile is the size of one publisher's video on the subscriber's screen.
type tile struct{ width, height int }

// wantedLayer is the smallest active one of a track's layers whose frames cover t, or
// the largest active one when none does; -1 when pub has none active or
// the tile is not shown.
func wantedLayer(layers [maxLayers]*layer, t tile, now time.Time) int {
	if t.width <= 0 || t.height <= 0 {
		return -1
	}
	best := -1
	for i, l := range layers {
		if l == nil || !l.active(now) {
			continue
		}
		best = i
		if w, h := l.size(); w >= t.width && h >= t.height {
			return i
		}
	}
	return best
}

// allocateLocked chooses the layer of every video p receives. Audio is
// paid for first and never dropped; then every shown video gets its lowest
// layer, even past the estimate (a subscriber on a bad link gets small
// video, not frozen tiles), and what the estimate has left raises them,
// largest tiles first, towards the layer their tile wants.
func (p *Participant) allocateLocked(now time.Time) {
	budget := math.Inf(1)
	if est := p.bw.estimate(); est > 0 {
		budget = float64(est)
	}
	type video struct {
		d       *downTrack
		layers  [maxLayers]*layer // as they are now: one may go meanwhile
		want    int
		area    int
		choice  int
		target  int
		lastDwn time.Time
	}
	var videos []*video
	for pub, d := range p.senders {
		if pub.kind == webrtc.RTPCodecTypeAudio {
			if l := pub.layers[0].Load(); l != nil {
				budget -= float64(l.rate())
			}
			continue
		}
		t := tile{defaultTileWidth, defaultTileHeight}
		if p.tiles != nil {
			t = p.tiles[pub.owner.id]
		}
		_, target, lastDown := d.state()
		v := &video{d: d, area: t.width * t.height, choice: -1, target: target, lastDwn: lastDown}
		for i := range pub.layers {
			v.layers[i] = pub.layers[i].Load()
		}
		v.want = wantedLayer(v.layers, t, now)
		videos = append(videos, v)
	}
	slices.SortFunc(videos, func(a, b *video) int { return b.area - a.area })
	// cost is what moving v to layer i takes from the budget: a layer above
	// the current target must fit with headroom, and not soon after a step
	// down.
	cost := func(v *video, i int) float64 {
		c := float64(v.layers[i].rate())
		if i > v.target {
			if now.Sub(v.lastDwn) < upHold {
				return math.Inf(1)
			}
			c *= upHeadroom
		}
		return c
	}
	usable := func(v *video, i int) bool {
		return v.layers[i] != nil && v.layers[i].active(now)
	}
	for _, v := range videos {
		for i := 0; i <= v.want; i++ {
			if usable(v, i) {
				v.choice, budget = i, budget-float64(v.layers[i].rate())
				break
			}
		}
	}
	for _, v := range videos {
		if v.choice < 0 {
			continue
		}
		for i := v.choice + 1; i <= v.want; i++ {
			if !usable(v, i) {
				continue
			}
			extra := cost(v, i) - float64(v.layers[v.choice].rate())
			if extra > budget {
				break
			}
			budget -= extra
			v.choice = i
		}
	}
	planned := float64(0)
	for pub := range p.senders {
		if pub.kind == webrtc.RTPCodecTypeAudio {
			if l := pub.layers[0].Load(); l != nil {
				planned += float64(l.rate())
			}
		}
	}
	for _, v := range videos {
		if v.choice >= 0 {
			planned += float64(v.layers[v.choice].rate())
		}
	}
	p.planned.Store(uint64(planned))
	for _, v := range videos {
		v.d.setTarget(v.choice, v.choice < v.want && v.choice < v.target, now)
		if cur, target, _ := v.d.state(); target >= 0 && cur != target {
			v.d.requestKeyframe(target) // again, in case a keyframe was lost
		}
	}
}
