package turn

import (
	"net"
)

// listenerConn is one UDP listen socket handed to pion.
type listenerConn struct {
	net.PacketConn
	member
	s       *Server
	batch   *batchReader // owned by pion's single read goroutine
	batchOK bool         // batch was tried
	raw     *rawSender   // set before pion starts; nil: plain WriteTo
	local   net.Addr     // LocalAddr, one value for the socket's lifetime
	fast    bool         // relay bound ChannelData itself (fastpath.go)
	tbl     chanTable    // channels bound by clients of this socket
	out     peerSends    // relayed payloads in batch slots, not yet sent

	// With an event loop (evloop_linux.go) the loop reads the socket: batch
	// and out are the loop's, and pion reads what the loop queues in lp.
	loop *eventLoop
	lp   *loopSock
}

// WriteTo sends to a client. Relay goroutines of many allocations call it
// concurrently; see rawSender.
func (c *listenerConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, isUDP := addr.(*net.UDPAddr)
	if c.lp != nil {
		// In an event loop: no net.UDPConn to fall back to.
		if !isUDP {
			return 0, &net.AddrError{Err: "not a UDP address", Addr: addr.String()}
		}
		return c.raw.sendWait(b, ua)
	}
	if c.raw != nil && isUDP {
		if n, ok := c.raw.send(b, ua); ok {
			return n, nil
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

// Close closes the socket; pion's reader then returns.
func (c *listenerConn) Close() error {
	if c.lp != nil {
		return c.lp.close()
	}
	return c.PacketConn.Close()
}

// ReadFrom returns the next datagram for pion. ChannelData of a bound
// channel is relayed here and never returned, nor are Binding requests over
// the client address's rate (ratelimit.go), whichever path read them.
func (c *listenerConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.readFrom(b)
		if err != nil || c.s == nil || !c.s.limitedBinding(b[:n], a) {
			return n, a, err
		}
	}
}

func (c *listenerConn) readFrom(b []byte) (int, net.Addr, error) {
	if c.lp != nil {
		n, a, err := c.lp.q.pop(b)
		if err != nil {
			c.exited()
		}
		return n, a, err
	}
	c.initBatch()
	if !c.fast {
		return c.readOne(b)
	}
	for {
		if c.batch == nil {
			n, a, err := c.readOne(b)
			if err != nil || !c.relayChannelData(b[:n], a) {
				return n, a, err
			}
			continue
		}
		// Batched: relayed payloads stay in their slots until the batch is
		// used up, and go out per binding with one system call.
		if c.batch.queued() == 0 {
			c.out.flush()
		}
		d, a, err := c.batch.next1()
		if err != nil {
			c.exited()
			return 0, nil, err
		}
		if bnd, payload := c.bound(d, a); bnd != nil {
			c.out.add(bnd, payload)
			continue
		}
		c.out.flush()
		return copy(b, d), a, nil
	}
}

// initBatch sets up batched reads on the first read.
func (c *listenerConn) initBatch() {
	if !c.batchOK {
		c.batchOK = true
		if t := c.s.tune; t.listenBatch > 1 {
			if uc, ok := c.PacketConn.(*net.UDPConn); ok {
				c.batch = newBatchReader(uc, t.listenBatch, t.batchSlot)
			}
		}
	}
}

func (c *listenerConn) readOne(b []byte) (int, net.Addr, error) {
	var n int
	var a net.Addr
	var err error
	if c.batch != nil {
		n, a, err = c.batch.ReadFrom(b)
	} else {
		n, a, err = c.PacketConn.ReadFrom(b)
	}
	if err != nil {
		c.exited() // pion's readLoop returns on any error
	}
	return n, a, err
}
