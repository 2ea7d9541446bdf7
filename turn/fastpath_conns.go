package turn

import (
	"net"
)

// The fast path's per-conn pieces; see fastpath.go.

func (c *listenerConn) table() *chanTable { return &c.tbl }

// putFrame: over UDP the padding is optional (RFC 8656 §12.5); none is sent.
func (c *listenerConn) putFrame(buf []byte, n int, num uint16) int {
	putChannelHeader(buf, num, n)
	return chanHeader + n
}

// sendFrames sends the datagrams with one sendmmsg(2) where it can.
func (c *listenerConn) sendFrames(_ []byte, frames [][]byte, b *binding) {
	sent := 0
	if c.raw != nil && len(frames) > 1 {
		sent = c.raw.sendMany(frames, b.client)
	}
	for _, f := range frames[sent:] {
		if c.lp != nil {
			_, _ = c.raw.send(f, b.client) // a loop's socket drops rather than wait
			continue
		}
		_, _ = c.WriteTo(f, b.client)
	}
}

// LocalAddr returns the same *net.UDPAddr every time; pion's 5-tuples keep
// it, and fastSide finds this socket by it.
func (c *listenerConn) LocalAddr() net.Addr { return c.local }

// relayChannelData relays the datagram b from src if it is ChannelData of a
// channel bound on this socket, and reports whether it did.
func (c *listenerConn) relayChannelData(b []byte, src net.Addr) bool {
	ua, _ := src.(*net.UDPAddr)
	bnd, payload := c.bound(b, ua)
	if bnd == nil {
		return false
	}
	bnd.relay.sendToPeer(payload, bnd)
	return true
}

// bound returns the binding and payload of the datagram b from src if it is
// ChannelData of a channel bound on this socket, or nil.
func (c *listenerConn) bound(b []byte, src *net.UDPAddr) (*binding, []byte) {
	if len(b) < chanHeader || b[0]&0xC0 != 0x40 || src == nil {
		return nil, nil
	}
	num, payload, ok := parseChannelData(b)
	if !ok {
		return nil, nil
	}
	return c.tbl.get(canonical(src.AddrPort()), num), payload
}

func (c *tcpConn) table() *chanTable { return &c.tbl }

// putFrame pads to 4 bytes, as TCP requires (RFC 8656 §12.5).
func (c *tcpConn) putFrame(buf []byte, n int, num uint16) int {
	putChannelHeader(buf, num, n)
	end := chanHeader + n
	p := padded(end)
	clear(buf[end:p])
	return p
}

// sendFrames writes all frames with one Write, so they never interleave
// with pion's writes and cost one system call.
func (c *tcpConn) sendFrames(all []byte, _ [][]byte, _ *binding) {
	if c.raw != nil {
		_, _ = c.raw.Write(all)
		return
	}
	_, _ = c.Conn.Write(all)
}

// RemoteAddr returns the same address every time; pion's 5-tuples keep it,
// and fastSide finds this conn by it.
func (c *tcpConn) RemoteAddr() net.Addr { return c.raddr }

// sendToPeer relays a client's ChannelData payload to b's peer. Errors
// (peer unreachable, relay closed) drop the datagram, as pion does.
func (c *relayConn) sendToPeer(payload []byte, b *binding) {
	n, ok := 0, false
	if c.raw != nil {
		n, ok = c.raw.send(payload, b.peerUA)
	}
	if !ok && c.lp == nil { // a loop's socket drops rather than wait
		var err error
		n, err = c.UDPConn.WriteToUDPAddrPort(payload, b.peer)
		ok = err == nil
	}
	if ok {
		c.traffic.fastToPeer(n)
	}
}

// sendManyToPeer relays payloads to b's peer with one sendmmsg(2) where it
// can.
func (c *relayConn) sendManyToPeer(payloads [][]byte, b *binding) {
	sent := 0
	if c.raw != nil && len(payloads) > 1 {
		sent = c.raw.sendMany(payloads, b.peerUA)
		for _, p := range payloads[:sent] {
			c.traffic.fastToPeer(len(p))
		}
	}
	for _, p := range payloads[sent:] {
		c.sendToPeer(p, b)
	}
}

// peerSends collects a client's relayed payloads for one binding, so that
// what one read brought is sent with one system call. The payloads point
// into the reader's buffer: flush before reading into it again and before
// handing pion anything (order).
type peerSends struct {
	to *binding
	p  [][]byte
}

func (q *peerSends) add(b *binding, payload []byte) {
	if q.to != b {
		q.flush()
		q.to = b
	}
	q.p = append(q.p, payload)
	if len(q.p) == maxSendBatch {
		q.flush()
	}
}

func (q *peerSends) flush() {
	if len(q.p) == 0 {
		return
	}
	q.to.relay.sendManyToPeer(q.p, q.to)
	clear(q.p)
	q.p, q.to = q.p[:0], nil
}

// readFast reads datagrams from peers, relaying those from peers with an
// active binding to the client itself: the payload is read behind room for
// the ChannelData header, and the datagrams a batch read already holds are
// sent on together. It returns the first datagram pion has to handle (a
// peer without a channel), in b, or an error. While the relay has no
// binding it reads straight into b.
func (c *relayConn) readFast(b []byte) (int, net.Addr, error) {
	f := &c.fast
	for {
		var buf []byte
		var n int
		var a net.Addr
		var err error
		if f.peers.Load() == nil && len(f.frames) == 0 {
			if n, a, err = c.read(b); err != nil || f.peers.Load() == nil {
				return n, a, err
			}
			// A binding arrived while this read waited: use it.
			buf = c.room(len(b))
			copy(buf[chanHeader:], b[:n])
		} else {
			buf = c.room(len(b))
			if n, a, err = c.read(buf[chanHeader : chanHeader+len(b)]); err != nil {
				f.flush()
				return n, a, err
			}
		}
		var bnd *binding
		if ua, ok := a.(*net.UDPAddr); ok {
			bnd = f.lookup(canonical(ua.AddrPort()))
		}
		if bnd == nil {
			f.flush()
			return copy(b, buf[chanHeader:chanHeader+n]), a, nil
		}
		c.relayFrame(buf, n, bnd)
	}
}

// relayFrame turns the n-byte payload read into room buf into a frame for
// bnd's client, and sends the pending frames when the read brought no more.
func (c *relayConn) relayFrame(buf []byte, n int, bnd *binding) {
	f := &c.fast
	c.traffic.packetsIn.Add(1)
	c.traffic.bytesIn.Add(uint64(n))
	c.traffic.fastIn.Add(1)
	l := bnd.side.putFrame(buf, n, bnd.num)
	f.frames = append(f.frames, f.buf[f.pendLen:f.pendLen+l])
	f.pendLen += l
	f.to = bnd
	if c.batch == nil || c.batch.queued() == 0 || len(f.frames) == maxSendBatch {
		f.flush()
	}
}

// room returns where the next datagram of up to n bytes goes: after the
// pending frames, with room for the header in front and padding behind.
// A relay that reads in batches gets room for a batch.
func (c *relayConn) room(n int) []byte {
	f := &c.fast
	slot := chanHeader + n + 3
	if f.pendLen+slot > len(f.buf) {
		f.flush()
		want := slot
		if c.batch != nil {
			want = slot * c.s.tune.relayBatch
		}
		if len(f.buf) < want {
			f.buf = make([]byte, want)
		}
	}
	return f.buf[f.pendLen : f.pendLen+slot]
}

// flush sends the pending frames.
func (f *relayFast) flush() {
	if len(f.frames) == 0 {
		return
	}
	f.to.side.sendFrames(f.buf[:f.pendLen], f.frames, f.to)
	clear(f.frames)
	f.frames, f.pendLen, f.to = f.frames[:0], 0, nil
}
