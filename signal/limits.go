package signal

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// clientIP is the address limits and throttling count against: the TCP peer,
// or, when that peer is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For (walking right to left, since only the right end is
// written by proxies we trust).
func (h *Hub) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !h.isTrusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !h.isTrusted(a) {
			return a
		}
		ip = a
	}
	return ip
}

func (h *Hub) isTrusted(ip netip.Addr) bool {
	for _, p := range h.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipKey groups IPv6 addresses by /64, the block one subscriber usually
// gets, so a client cannot dodge limits by rotating addresses.
func ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// originAllowed applies protocol.md §1: no Origin (non-browser clients), the
// request's own host, or an AllowOrigins entry. It returns the origin to
// echo in CORS headers.
func (h *Hub) originAllowed(r *http.Request) (string, bool) {
	o := r.Header.Get("Origin")
	if o == "" {
		return "", true
	}
	n, err := normalizeOrigin(o)
	if err != nil {
		return "", false
	}
	if h.allow[n] {
		return o, true
	}
	u, err := url.Parse(n)
	if err != nil {
		return "", false
	}
	return o, sameHost(u, r.Host)
}

// sameHost compares an origin's host[:port] with the Host header, treating a
// missing port as the scheme's default.
func sameHost(u *url.URL, host string) bool {
	def := "80"
	if u.Scheme == "https" || u.Scheme == "wss" {
		def = "443"
	}
	oh, op := splitHostPort(u.Host, def)
	hh, hp := splitHostPort(strings.ToLower(host), def)
	return oh != "" && oh == hh && op == hp
}

func splitHostPort(s, defPort string) (string, string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return strings.Trim(h, "[]"), p
	}
	return strings.Trim(s, "[]"), defPort
}

// ipLimiter counts open sockets per ipKey.
type ipLimiter struct {
	max int

	mu sync.Mutex // guards n
	n  map[string]int
}

func newIPLimiter(max int) *ipLimiter { return &ipLimiter{max: max, n: make(map[string]int)} }

func (l *ipLimiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return false
	}
	l.n[key]++
	return true
}

func (l *ipLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key]--; l.n[key] <= 0 {
		delete(l.n, key)
	}
}

// throttle counts failed authentications per ipKey in a fixed window that
// starts at the first failure (Spreed's scheme, protocol.md §6).
type throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex // guards m
	m  map[string]*failures
}

type failures struct {
	start time.Time
	n     int
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, now: time.Now, m: make(map[string]*failures)}
}

// blocked reports whether key has failed more than max times in the window.
func (t *throttle) blocked(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[key]
	if f == nil {
		return false
	}
	if t.now().Sub(f.start) > t.window {
		delete(t.m, key)
		return false
	}
	return f.n > t.max
}

func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.m[key]
	if f == nil || now.Sub(f.start) > t.window {
		if len(t.m) >= 4096 {
			t.sweep(now)
		}
		f = &failures{start: now}
		t.m[key] = f
	}
	f.n++
}

// sweep drops expired entries so scanners cannot grow the map forever.
func (t *throttle) sweep(now time.Time) {
	for k, f := range t.m {
		if now.Sub(f.start) > t.window {
			delete(t.m, k)
		}
	}
}
