package turn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errStopped         = errors.New("turn: server stopped")
	errPortRange       = errors.New("turn: no free relay port in range")
	errOwnPortDenied   = errors.New("turn: own relay address at a port without a live allocation")
	errRequestedPort   = errors.New("turn: requested relay port outside range")
	errTCPRelayRefused = errors.New("turn: TCP relays are not supported")
)

// group counts goroutines that pion runs on conns we handed it, so Stop can
// wait for them. pion's Server.Close does not wait; a conn reports "exited"
// when its reader saw the error that ends pion's loop.
type group struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{} // closed when closing && n == 0
}

func newGroup() *group { return &group{zero: make(chan struct{})} }

// add registers one more reader; false once Stop began.
func (g *group) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 {
		close(g.zero)
	}
}

func (g *group) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return
	}
	g.closing = true
	if g.n == 0 {
		close(g.zero)
	}
}

func (g *group) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-g.zero:
		return true
	case <-t.C:
		return false
	}
}

// member is embedded in every tracked conn.
type member struct {
	g    *group
	once sync.Once
}

func (m *member) exited() { m.once.Do(m.g.done) }

// Batched reads (recvmmsg on Linux). A listen socket carries every client
// hashed to it, so it batches from the start; a relay socket batches once it
// has proven busy, so idle and short-lived allocations keep a small footprint.
// 0 turns batching off (benchmarks measure with and without).
var (
	listenBatch    = 16   // datagrams per recvmmsg on a listen socket
	relayBatch     = 8    // datagrams per recvmmsg on a busy relay socket
	relayBusyAfter = 256  // datagrams a relay socket reads before it batches
	batchSlot      = 2048 // bytes per datagram slot; pion's MTU is 1600

	rawSend  = true // listen sockets send without Go's write lock (rawSender)
	fastPath = true // relay bound ChannelData in rtcd (fastpath.go); Config.DisableFastPath also turns it off
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
		if uc, ok := c.PacketConn.(*net.UDPConn); ok && listenBatch > 1 {
			c.batch = newBatchReader(uc, listenBatch, batchSlot)
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
	} else if c.s.fastOn {
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
		c.batch = newBatchReader(c.UDPConn, relayBatch, batchSlot)
		c.batching.Store(c.batch != nil)
	}
	return n, a, nil
}

// noteRead counts a one-datagram read from ap and returns ap as the relay's
// cached source address; busy says the relay should batch its reads from
// now on. Owned by the relay's reader.
func (c *relayConn) noteRead(ap netip.AddrPort) (a *net.UDPAddr, busy bool) {
	c.reads++
	busy = relayBatch > 1 && c.reads == uint32(relayBusyAfter)
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
		c := Canonical(a)
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
	return s.livePorts.has(port)
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
	if s.fastOn && rawSend {
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

// trackedListener hands pion TCP conns with an idle deadline and a cap.
type trackedListener struct {
	net.Listener
	member
	s *Server
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.exited() // pion's readListener returns on any error
			return nil, err
		}
		tc, ok := l.s.trackConn(c)
		if !ok {
			_ = c.Close()
			continue
		}
		return tc, nil
	}
}

// TURN-over-TCP deadlines. A conn must deliver its first complete message
// within tcpFirstTimeout of accept (a handshake, half a header or nothing
// at all is not enough), may then go tcpNoAllocTimeout without data while it
// holds no allocation, and tcpIdleTimeout once it does: longer than the
// longest allocation lifetime pion grants (1h is the maximum; 10 min the
// default), since clients refresh well before that.
const (
	tcpFirstTimeout   = 10 * time.Second
	tcpNoAllocTimeout = 30 * time.Second
	tcpIdleTimeout    = 11 * time.Minute
)

// tcpConn is one accepted TURN-over-TCP connection.
type tcpConn struct {
	net.Conn
	member
	s          *Server
	closeOnce  sync.Once
	addr       netip.Addr // the client address the per-address cap counts
	acceptedAt time.Time

	// Owned by pion's reader.
	deadlineAt time.Time // when Read last moved the deadline
	first      firstMsg  // progress of the first message
	allocated  bool      // the conn held a live allocation at the last check

	raddr net.Addr       // RemoteAddr, one value for the conn's lifetime
	rap   netip.AddrPort // the same, canonical (chanTable key)
	tbl   chanTable      // channels bound by this conn's allocation
	fr    *frameReader   // nil: fast path off; owned by pion's reader
	raw   *tcpRaw        // with the fast path, a plain TCP conn's reads and fast writes
}

// Read hands pion the conn's bytes; with the fast path on, ChannelData of a
// bound channel is relayed on the way (tcpframe.go).
func (c *tcpConn) Read(b []byte) (int, error) {
	if c.fr != nil {
		return c.fr.read(c, b)
	}
	return c.readConn(b)
}

// readConn reads with the deadline of the conn's state: the first-message
// deadline, then the short idle timeout while it has no allocation, then
// tcpIdle. With an allocation the deadline moves at most every tcpIdle/16:
// setting a deadline re-arms a runtime timer, which on a busy TCP relay cost
// more than the read itself (the conn is thus closed after 15/16 to 16/16 of
// tcpIdle); that is also when the allocation is looked up again.
func (c *tcpConn) readConn(b []byte) (int, error) {
	now := time.Now()
	switch {
	case !c.first.done():
		if c.deadlineAt.IsZero() {
			_ = c.Conn.SetReadDeadline(c.acceptedAt.Add(c.s.tcpFirst))
			c.deadlineAt = now
		}
	case !c.allocated || now.Sub(c.deadlineAt) >= c.s.tcpIdle/16:
		c.allocated = c.s.allocs.hasLive(c.raddr)
		if c.allocated {
			_ = c.Conn.SetReadDeadline(now.Add(c.s.tcpIdle))
		} else {
			_ = c.Conn.SetReadDeadline(now.Add(c.s.tcpNoAlloc))
		}
		c.deadlineAt = now
	}
	var n int
	var err error
	if c.raw != nil {
		n, err = c.raw.Read(b)
	} else {
		n, err = c.Conn.Read(b)
	}
	if n > 0 && !c.first.done() {
		c.first.feed(b[:n])
	}
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.s.stats.tcpTimeouts.Add(1)
	}
	return n, err
}

// firstMsg follows the first message of a TURN-over-TCP stream (STUN or
// ChannelData) far enough to tell when it is complete.
type firstMsg struct {
	hdr   [4]byte
	seen  int // bytes seen
	total int // the message's length once hdr is known; -1: not a TURN message
}

func (f *firstMsg) done() bool { return f.total > 0 && f.seen >= f.total }

func (f *firstMsg) feed(p []byte) {
	for len(p) > 0 && f.seen < len(f.hdr) {
		f.hdr[f.seen] = p[0]
		f.seen++
		p = p[1:]
	}
	if f.seen < len(f.hdr) {
		return
	}
	if f.total == 0 {
		size := int(f.hdr[2])<<8 | int(f.hdr[3])
		switch f.hdr[0] >> 6 {
		case 0: // STUN: 20-byte header, then the attributes
			f.total = 20 + size
		case 1: // ChannelData: 4-byte header, then the payload
			f.total = 4 + size
		default: // pion refuses the stream; the first-message deadline closes it
			f.total = -1
		}
	}
	f.seen += len(p)
}

// Close is called by pion's per-conn goroutine right before it returns, so
// it is the exit signal. Stop closes the underlying conn instead.
func (c *tcpConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.s.forgetConn(c)
		c.s.sides.Delete(c.raddr)
		c.exited()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
