package turn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

var (
	errStopped         = errors.New("turn: server stopped")
	errPortRange       = errors.New("turn: no free relay port in range")
	errOwnPortDenied   = errors.New("turn: own relay address at a port without a live allocation")
	errRequestedPort   = errors.New("turn: requested relay port outside range")
	errTCPRelayRefused = errors.New("turn: TCP relays are not supported")
)

// ownPortOK reports whether a relay may send to ip:port: anything but the
// own relay IP, and the own relay IP only at a port where a live allocation
// has its relay socket, so relay-to-relay works and no other service on the
// host is reachable, not even one inside the relay port range.
func (s *Server) ownPortOK(ip net.IP, port int) bool {
	if !s.ownPorts {
		return true
	}
	var b [4]byte
	switch len(ip) {
	case net.IPv4len:
		copy(b[:], ip)
	case net.IPv6len:
		a := netip.AddrFrom16([16]byte(ip))
		c := canonicalAddr(a)
		if !c.Is4() {
			return true
		}
		b = c.As4()
	default:
		return true
	}
	if b != s.own4 {
		return true
	}
	return s.livePorts.has(port) || s.servicePorts.has(port)
}

// OpenOwnPort lets relays send to the server's own address at port: a
// service of the same daemon that relay-only clients must reach, such as
// the media server's UDP port. Nothing closes it; the service lives as
// long as the relay.
func (s *Server) OpenOwnPort(port int) {
	s.servicePorts.add(port)
}

// portSet counts the relay sockets bound per port. A count, not a flag: a
// closing relay and the next one on its port overlap briefly.
type portSet struct {
	mu sync.Mutex
	n  map[int]int
}

func (p *portSet) add(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = make(map[int]int)
	}
	p.n[port]++
}

func (p *portSet) remove(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[port]--; p.n[port] <= 0 {
		delete(p.n, port)
	}
}

func (p *portSet) has(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[port] > 0
}

// relayGen is the RelayAddressGenerator: random ports in [MinPort, MaxPort],
// bound on the relay IP, advertised with the public IP, tracked for Stop.
type relayGen struct {
	s *Server
}

func (g relayGen) Validate() error { return nil }

func (g relayGen) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	s := g.s
	if network != "udp4" && network != "udp" {
		return nil, nil, fmt.Errorf("turn: relay network %q: %w", network, errRequestedPort)
	}
	lo, hi := s.cfg.MinPort, s.cfg.MaxPort
	if requestedPort != 0 {
		if requestedPort < lo || requestedPort > hi {
			return nil, nil, errRequestedPort
		}
		return g.listen(requestedPort)
	}
	span := hi - lo + 1
	tries := min(span, 64)
	start := rand.IntN(span) //nolint:gosec // port choice, not a secret
	for i := 0; i < tries; i++ {
		// Random start, then a stride through the range: random enough to
		// resist port guessing, and covers a small range fully.
		port := lo + (start+i*stride(span))%span
		pc, addr, err := g.listen(port)
		if err == nil {
			return pc, addr, nil
		}
		if errors.Is(err, errStopped) {
			return nil, nil, err
		}
	}
	return nil, nil, errPortRange
}

// stride returns a step coprime with span so consecutive tries visit
// distinct ports.
func stride(span int) int {
	for _, p := range []int{7919, 7907, 7901, 1} {
		if span%p != 0 {
			return p % span
		}
	}
	return 1
}

func (g relayGen) listen(port int) (net.PacketConn, net.Addr, error) {
	s := g.s
	if !s.readers.add() {
		return nil, nil, errStopped
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(s.bindIP, uint16(port)).String())
	if err != nil {
		s.readers.done()
		return nil, nil, err
	}
	rc := &relayConn{UDPConn: pc.(*net.UDPConn), member: member{g: s.readers}, s: s,
		adv: &net.UDPAddr{IP: s.publicIP.AsSlice(), Port: port}}
	if s.tune.fastPath && s.tune.rawSend {
		rc.raw = newRawSender(rc.UDPConn)
	}
	if !s.trackRelay(rc) {
		_ = rc.Close()
		return nil, nil, errStopped
	}
	return rc, rc.adv, nil
}

func (g relayGen) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, errTCPRelayRefused
}
