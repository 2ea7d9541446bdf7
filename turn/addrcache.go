package turn

import (
	"net"
	"net/netip"
)

// addrCache hands out one *net.UDPAddr per recently seen source address, so
// that reading a datagram does not allocate an address (net.UDPConn.ReadFrom
// allocates two objects per call). It is direct-mapped and bounded: a flood of
// spoofed sources only evicts entries. The addresses it returns are shared and
// must not be modified; pion only reads them. Not safe for concurrent use: each
// socket's single reader owns one.
type addrCache struct {
	slots [64]*net.UDPAddr
}

func (c *addrCache) get(ap netip.AddrPort) *net.UDPAddr {
	a16 := ap.Addr().As16()
	h := uint32(ap.Port()) * 2654435761
	for i := 12; i < 16; i++ {
		h ^= uint32(a16[i]) << (8 * (i - 12))
	}
	h *= 2246822519
	slot := &c.slots[h>>26] // top 6 bits: 64 slots
	if a := *slot; a != nil && a.Port == int(ap.Port()) && a.AddrPort() == ap {
		return a
	}
	a := net.UDPAddrFromAddrPort(ap)
	*slot = a
	return a
}
