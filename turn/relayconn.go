package turn

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// relayConn is one allocation's relay socket. Its WriteTo keeps the server's
// own relay address reachable only at live allocations' ports
// (PermissionHandler sees the IP but not the port), so a client cannot reach
// the TURN, HTTP or any other port of the host through its own public address.
type relayConn struct {
	*net.UDPConn
	member
	s           *Server
	readStarted atomic.Bool
	closeOnce   sync.Once
	// Traffic through this allocation. Per relay, not per server, so the
	// per-packet cost is an uncontended atomic add; Stats sums them.
	traffic relayTraffic

	adv  *net.UDPAddr // the relay address pion was given (fastRelay's key)
	fast relayFast
	raw  *rawSender // fast path sends to peers; nil: WriteToUDPAddrPort

	// Owned by pion's packetHandler, the relay's only reader.
	reads uint32
	last  *net.UDPAddr // last source: a relay usually talks to one peer
	batch *batchReader

	batching atomic.Bool // batch is set (for tests and debugging)

	// With an event loop (evloop_linux.go) the loop reads the socket (and
	// owns reads, last, batch and fast's buffers); pion reads what it
	// queues in lp. lp is set before pion's first read and never cleared.
	lpMu    sync.Mutex // orders toLoop and Close
	closing bool
	lp      *loopSock
}

// relayTraffic counts datagrams and bytes a relay exchanged with peers.
type relayTraffic struct {
	packetsIn, bytesIn   atomic.Uint64 // from peers, towards the client
	packetsOut, bytesOut atomic.Uint64 // from the client, towards peers
	fastIn, fastOut      atomic.Uint64 // of the packets, those the fast path relayed
	kernIn, kernOut      atomic.Uint64 // of the packets, those the kernel fast path relayed
}

// fastToPeer counts one n-byte datagram the fast path relayed to a peer.
func (t *relayTraffic) fastToPeer(n int) {
	t.packetsOut.Add(1)
	t.bytesOut.Add(uint64(n))
	t.fastOut.Add(1)
}

func (t *relayTraffic) addTo(dst *relayTraffic) {
	dst.packetsIn.Add(t.packetsIn.Load())
	dst.bytesIn.Add(t.bytesIn.Load())
	dst.packetsOut.Add(t.packetsOut.Load())
	dst.bytesOut.Add(t.bytesOut.Load())
	dst.fastIn.Add(t.fastIn.Load())
	dst.fastOut.Add(t.fastOut.Load())
	dst.kernIn.Add(t.kernIn.Load())
	dst.kernOut.Add(t.kernOut.Load())
}

// ReadFrom does not allocate: the source address is reused while it stays
// the same, and busy relays read in batches.
func (c *relayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	var n int
	var a net.Addr
	var err error
	if c.lp != nil {
		c.readStarted.Store(true)
		n, a, err = c.lp.q.pop(b)
	} else if c.s.tune.fastPath {
		n, a, err = c.readFast(b)
	} else {
		n, a, err = c.read(b)
	}
	if err != nil {
		c.exited() // pion's packetHandler returns on any error
		return n, a, err
	}
	c.traffic.packetsIn.Add(1)
	c.traffic.bytesIn.Add(uint64(n))
	return n, a, err
}

func (c *relayConn) read(b []byte) (int, net.Addr, error) {
	if c.batch != nil {
		return c.batch.ReadFrom(b)
	}
	if c.reads == 0 {
		c.readStarted.Store(true)
	}
	n, ap, err := c.UDPConn.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	a, busy := c.noteRead(ap)
	if busy {
		c.batch = newBatchReader(c.UDPConn, c.s.tune.relayBatch, c.s.tune.batchSlot)
		c.batching.Store(c.batch != nil)
	}
	return n, a, nil
}

// noteRead counts a one-datagram read from ap and returns ap as the relay's
// cached source address; busy says the relay should batch its reads from
// now on. Owned by the relay's reader.
func (c *relayConn) noteRead(ap netip.AddrPort) (a *net.UDPAddr, busy bool) {
	c.reads++
	busy = c.s.tune.relayBatch > 1 && c.reads == uint32(c.s.tune.relayBusyAfter)
	if a := c.last; a != nil && a.AddrPort() == ap {
		return a, busy
	}
	c.last = net.UDPAddrFromAddrPort(ap)
	return c.last, busy
}

// WriteTo is on the per-packet path: no allocations.
func (c *relayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && !c.s.ownPortOK(ua.IP, ua.Port) {
		c.s.stats.ownPortDrops.Add(1)
		return 0, errOwnPortDenied
	}
	var n int
	var err error
	if ua, ok := addr.(*net.UDPAddr); ok && c.lp != nil {
		n, err = c.raw.sendWait(b, ua)
	} else {
		n, err = c.UDPConn.WriteTo(b, addr)
	}
	if err == nil {
		c.traffic.packetsOut.Add(1)
		c.traffic.bytesOut.Add(uint64(n))
	}
	return n, err
}

// Close is idempotent: pion and Stop may both close a relay.
func (c *relayConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.fast.close()
		c.lpMu.Lock()
		c.closing = true
		if c.lp != nil {
			err = c.lp.close()
		} else {
			err = c.UDPConn.Close()
		}
		c.lpMu.Unlock()
		c.s.forgetRelay(c)
		if !c.readStarted.Load() {
			// pion probes EVEN-PORT with a conn it never reads.
			c.exited()
		}
	})
	return err
}
