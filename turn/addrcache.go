package turn

import (
	"net"
	"net/netip"
)

// addrCache hands out one *net.UDPAddr per recently seen source address, so
// that reading a datagram does not allocate an address (net.UDPConn.ReadFrom
// allocates two objects per call). It is 2-way set associative and bounded:
// two sources that hash alike both stay, and a flood of spoofed sources only
// evicts entries. The addresses it returns are shared and must not be
// modified; pion only reads them. Not safe for concurrent use: each socket's
// single reader owns one.
type addrCache struct {
	slots [64]*net.UDPAddr // 32 sets of 2, most recently used first
}

func (c *addrCache) get(ap netip.AddrPort) *net.UDPAddr {
	a16 := ap.Addr().As16()
	h := uint32(ap.Port()) * 2654435761
	for i := 12; i < 16; i++ {
		h ^= uint32(a16[i]) << (8 * (i - 12))
	}
	h *= 2246822519
	set := c.slots[(h>>27)*2:][:2] // top 5 bits: 32 sets
	if a := set[0]; a != nil && a.Port == int(ap.Port()) && a.AddrPort() == ap {
		return a
	}
	if a := set[1]; a != nil && a.Port == int(ap.Port()) && a.AddrPort() == ap {
		set[0], set[1] = a, set[0]
		return a
	}
	a := net.UDPAddrFromAddrPort(ap)
	set[0], set[1] = a, set[0]
	return a
}
