package turn

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

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
