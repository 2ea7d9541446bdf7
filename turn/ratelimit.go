package turn

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Bounds of the Binding limiter's table: idle buckets are swept this often,
// and addresses past maxBindingBuckets are refused until a sweep frees room,
// so a flood from spoofed sources cannot grow it without bound.
const (
	bindingSweepEvery = 10 * time.Second
	maxBindingBuckets = 1 << 16
)

// bindingLimiter rate-limits STUN Binding requests per client address
// (IPv4, or IPv6 /64) with a token bucket. Binding is answered without
// authentication and the answer is larger than the request, so without a
// limit the relay reflects floods at whoever a spoofed source names. ICE
// sends a few per gathering, far below the limit.
type bindingLimiter struct {
	rate, burst float64
	now         func() time.Time

	mu        sync.Mutex // guards the following fields
	buckets   map[netip.Addr]bucket
	nextSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBindingLimiter(rate, burst int, now func() time.Time) *bindingLimiter {
	return &bindingLimiter{rate: float64(rate), burst: float64(burst), now: now, buckets: make(map[netip.Addr]bucket)}
}

// allow takes a token of addr's bucket, if there is one.
func (l *bindingLimiter) allow(addr netip.Addr) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	b, ok := l.buckets[addr]
	switch {
	case !ok && len(l.buckets) >= maxBindingBuckets:
		return false
	case !ok:
		b = bucket{tokens: l.burst, last: now}
	default:
		b.tokens = min(l.burst, b.tokens+l.rate*now.Sub(b.last).Seconds())
		b.last = now
	}
	if b.tokens < 1 {
		l.buckets[addr] = b
		return false
	}
	b.tokens--
	l.buckets[addr] = b
	return true
}

// sweepLocked drops buckets that have refilled: they are as good as new.
func (l *bindingLimiter) sweepLocked(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(bindingSweepEvery)
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for a, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, a)
		}
	}
}

// isBindingRequest reports whether d is a STUN Binding request (RFC 8489
// §5: type 0x0001 and the magic cookie).
func isBindingRequest(d []byte) bool {
	return len(d) >= 20 && d[0] == 0x00 && d[1] == 0x01 &&
		d[4] == 0x21 && d[5] == 0x12 && d[6] == 0xa4 && d[7] == 0x42
}

// limitedBinding reports whether d, from src, is a Binding request over
// the per-address rate, and counts it; such a datagram is dropped.
func (s *Server) limitedBinding(d []byte, src net.Addr) bool {
	if s.bindings == nil || !isBindingRequest(d) {
		return false
	}
	if s.bindings.allow(addrOf(keyOf(src))) {
		return false
	}
	s.stats.bindingLimited.Add(1)
	return true
}
