package turn

import (
	"net"
)

// The fast path's per-conn pieces; see fastpath.go.

func (c *listenerConn) table() *chanTable { return &c.tbl }

// sendChannelData sends one ChannelData datagram to a UDP client. Over UDP
// the padding is optional (RFC 8656 §12.5), so none is sent.
func (c *listenerConn) sendChannelData(frame []byte, n int, b *binding) {
	putChannelHeader(frame, b.num, n)
	_, _ = c.WriteTo(frame[:chanHeader+n], b.client)
}

// LocalAddr returns the same *net.UDPAddr every time; pion's 5-tuples keep
// it, and fastSide finds this socket by it.
func (c *listenerConn) LocalAddr() net.Addr { return c.local }

// relayChannelData relays the datagram b from src if it is ChannelData of a
// channel bound on this socket, and reports whether it did.
func (c *listenerConn) relayChannelData(b []byte, src net.Addr) bool {
	if len(b) < chanHeader || b[0]&0xC0 != 0x40 {
		return false
	}
	num, payload, ok := parseChannelData(b)
	if !ok {
		return false
	}
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return false
	}
	bnd := c.tbl.get(canonical(ua.AddrPort()), num)
	if bnd == nil {
		return false
	}
	bnd.relay.sendToPeer(payload, bnd)
	return true
}

func (c *tcpConn) table() *chanTable { return &c.tbl }

// sendChannelData writes one ChannelData frame, padded to 4 bytes as TCP
// requires (RFC 8656 §12.5), with one Write so frames never interleave.
func (c *tcpConn) sendChannelData(frame []byte, n int, b *binding) {
	putChannelHeader(frame, b.num, n)
	end := chanHeader + n
	p := padded(end)
	clear(frame[end:p])
	_, _ = c.Conn.Write(frame[:p])
}

// RemoteAddr returns the same address every time; pion's 5-tuples keep it,
// and fastSide finds this conn by it.
func (c *tcpConn) RemoteAddr() net.Addr { return c.raddr }

// sendToPeer relays a client's ChannelData payload to b's peer. Errors
// (peer unreachable, relay closed) drop the datagram, as pion does.
func (c *relayConn) sendToPeer(payload []byte, b *binding) {
	n, err := c.UDPConn.WriteToUDPAddrPort(payload, b.peer)
	if err == nil {
		c.traffic.packetsOut.Add(1)
		c.traffic.bytesOut.Add(uint64(n))
		c.traffic.fastOut.Add(1)
	}
}

// readFast reads datagrams from peers, relaying those from peers with an
// active binding to the client itself. It returns the first datagram pion
// has to handle (a peer without a channel), in b, or an error. While the
// relay has no binding it reads straight into b.
func (c *relayConn) readFast(b []byte) (int, net.Addr, error) {
	for {
		var frame []byte
		var n int
		var a net.Addr
		var err error
		if c.fast.peers.Load() == nil {
			if n, a, err = c.read(b); err != nil || c.fast.peers.Load() == nil {
				return n, a, err
			}
			// A binding arrived while this read waited: use it.
			frame = c.frameBuf(len(b))
			copy(frame[chanHeader:], b[:n])
		} else {
			frame = c.frameBuf(len(b))
			if n, a, err = c.read(frame[chanHeader : chanHeader+len(b)]); err != nil {
				return n, a, err
			}
		}
		var bnd *binding
		if ua, ok := a.(*net.UDPAddr); ok {
			bnd = c.fast.lookup(canonical(ua.AddrPort()))
		}
		if bnd == nil {
			return copy(b, frame[chanHeader:chanHeader+n]), a, nil
		}
		c.traffic.packetsIn.Add(1)
		c.traffic.bytesIn.Add(uint64(n))
		c.traffic.fastIn.Add(1)
		bnd.side.sendChannelData(frame, n, bnd)
	}
}

// frameBuf is the relay's read buffer for payloads of up to n bytes, with
// room for the ChannelData header in front and TCP padding behind.
func (c *relayConn) frameBuf(n int) []byte {
	if len(c.fast.buf) < chanHeader+n+3 {
		c.fast.buf = make([]byte, chanHeader+n+3)
	}
	return c.fast.buf
}
