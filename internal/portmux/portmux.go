// Package portmux serves HTTPS, WSS and TURN over TLS on one TCP port, so a
// client whose network lets only port 443 out still reaches the relay. It
// terminates TLS once and then splits each connection: an ALPN of "h2" or
// "http/1.1" is HTTP, "stun.turn" (RFC 7443) is TURN, and without ALPN the
// first application byte decides, since every STUN message starts with
// 0b00 (RFC 8489 §5) and every HTTP request with a letter.
//
// Jitsi does this with an nginx stream block and BigBlueButton with haproxy
// in front of separate servers; here it is one process, and
// pion/turn accepts the TURN side as an ordinary net.Listener.
package portmux

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
)

// ALPN protocol names the mux routes on.
const (
	ProtoH2     = "h2"
	ProtoHTTP11 = "http/1.1"
	// ProtoTURN is the ALPN of TURN (RFC 7443 §3). It is added to the TLS
	// config if missing: a Go TLS server refuses a client whose only offered
	// protocol it does not list.
	ProtoTURN = "stun.turn"
	// protoACME is autocert's tls-alpn-01 challenge; the handshake itself
	// answers it, so the connection is closed afterwards.
	protoACME = "acme-tls/1"
)

// Defaults for the Mux fields left zero.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxPending       = 256
)

// Mux splits the connections of one listener between an HTTP and a TURN
// listener. Set the exported fields before Serve.
type Mux struct {
	// HandshakeTimeout bounds the TLS handshake plus the wait for the first
	// application byte, and the hand-over to a consumer that is not
	// accepting. A client silent for longer is closed. Defaults to 10 s.
	HandshakeTimeout time.Duration
	// MaxPending bounds connections between Accept and hand-over. When it
	// is reached the mux stops accepting (the kernel backlog queues new
	// clients) until a slot frees, at the latest after HandshakeTimeout.
	// Defaults to 256.
	MaxPending int

	ln      net.Listener
	tlsConf *tls.Config // nil: plain TCP, split on the first byte only
	http    *listener
	turn    *listener

	ctx       context.Context // canceled by Close; interrupts pending connections
	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup // the per-connection goroutines

	stats Stats
}

// Stats counts what the mux did since it started; read it with Mux.Stats.
type Stats struct {
	Accepted        atomic.Uint64 // TCP connections accepted
	HTTP            atomic.Uint64 // handed to the HTTP listener
	TURN            atomic.Uint64 // handed to the TURN listener
	HandshakeFailed atomic.Uint64 // TLS handshake failed or timed out
	Silent          atomic.Uint64 // handshake done, but no first byte in time
	Dropped         atomic.Uint64 // no consumer accepted in time, or it was closed
}

// New returns a Mux over ln. With tlsConfig nil the mux splits plain TCP
// (HTTP and TURN over TCP) on the first byte. tlsConfig is cloned; its
// NextProtos gains "stun.turn" when it lists any protocols.
func New(ln net.Listener, tlsConfig *tls.Config) *Mux {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mux{ln: ln, ctx: ctx, cancel: cancel}
	if tlsConfig != nil {
		m.tlsConf = tlsConfig.Clone()
		if len(m.tlsConf.NextProtos) > 0 && !slices.Contains(m.tlsConf.NextProtos, ProtoTURN) {
			m.tlsConf.NextProtos = append(m.tlsConf.NextProtos, ProtoTURN)
		}
	}
	m.http = newListener(ln.Addr(), ctx.Done())
	m.turn = newListener(ln.Addr(), ctx.Done())
	return m
}

// HTTP is the listener of HTTP connections, for http.Server.Serve. When the
// client negotiated ALPN the conn is the *tls.Conn itself, so net/http sets
// Request.TLS and speaks HTTP/2; otherwise it is a *Conn.
func (m *Mux) HTTP() net.Listener { return m.http }

// TURN is the listener of TURN connections, for a pion turn.ListenerConfig.
// Its conns are *Conn, or the *tls.Conn when the client negotiated
// "stun.turn".
func (m *Mux) TURN() net.Listener { return m.turn }

// Addr is the address of the shared port.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Stats are the mux's counters, for metrics.
func (m *Mux) Stats() *Stats { return &m.stats }

// Serve accepts connections until Close, then returns nil. Any other accept
// error that is not temporary is returned after closing the mux.
func (m *Mux) Serve() error {
	maxPending := m.MaxPending
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	slots := make(chan struct{}, maxPending)
	var delay time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-m.ctx.Done():
			m.wg.Wait()
			return nil
		}
		c, err := m.ln.Accept()
		if err != nil {
			<-slots
			if m.ctx.Err() != nil {
				m.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				logx.Errorw("portmux: accept", logx.Field("err", err.Error()), logx.Field("retryIn", delay.String()))
				select {
				case <-time.After(delay):
				case <-m.ctx.Done():
				}
				continue
			}
			m.Close()
			m.wg.Wait()
			return err
		}
		delay = 0
		m.stats.Accepted.Add(1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer func() { <-slots }()
			m.route(c)
		}()
	}
}

// isTemporary recognises accept errors worth retrying, such as EMFILE,
// without the deprecated net.Error.Temporary.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Close stops accepting, closes the listener, both sub-listeners and every
// connection not yet handed over. Connections already handed over belong
// to their consumer. It is safe to call more than once.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.cancel()
		err = m.ln.Close()
	})
	return err
}

// route finishes the handshake, decides where c goes and hands it over,
// all within one deadline. Close interrupts it.
func (m *Mux) route(raw net.Conn) {
	timeout := m.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	deadline := time.Now().Add(timeout)
	_ = raw.SetDeadline(deadline)
	// Close interrupts this connection until it is handed over.
	stop := context.AfterFunc(m.ctx, func() { _ = raw.Close() })
	conn, to := m.classify(raw)
	if !stop() || conn == nil {
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	// Counted before the hand-over, which the consumer may act on at once.
	counter := &m.stats.TURN
	if to == m.http {
		counter = &m.stats.HTTP
	}
	counter.Add(1)
	if !to.deliver(conn, deadline) {
		counter.Add(^uint64(0)) // not handed over after all
		m.stats.Dropped.Add(1)
		_ = conn.Close()
	}
}

// classify returns the conn to hand over and its listener, or nil.
func (m *Mux) classify(raw net.Conn) (net.Conn, *listener) {
	var conn net.Conn = raw
	if m.tlsConf != nil {
		tc := tls.Server(raw, m.tlsConf)
		if err := tc.HandshakeContext(m.ctx); err != nil {
			m.stats.HandshakeFailed.Add(1)
			m.answerPlainHTTP(raw, err)
			// Scanners and broken clients: debug only, never per-failure noise.
			logx.Debugw("portmux: tls handshake failed",
				logx.Field("remote", raw.RemoteAddr().String()), logx.Field("err", err.Error()))
			return nil, nil
		}
		switch tc.ConnectionState().NegotiatedProtocol {
		case ProtoH2, ProtoHTTP11:
			return tc, m.http
		case ProtoTURN:
			return tc, m.turn
		case protoACME:
			return nil, nil
		}
		conn = tc
	}
	// No ALPN: peek the first application byte.
	br := bufio.NewReaderSize(conn, 16)
	first, err := br.Peek(1)
	if err != nil {
		m.stats.Silent.Add(1)
		logx.Debugw("portmux: no first byte",
			logx.Field("remote", raw.RemoteAddr().String()), logx.Field("err", err.Error()))
		return nil, nil
	}
	pc := &Conn{Conn: conn, r: br}
	if first[0] <= 0x01 { // STUN/TURN message type (RFC 8489 §5: top bits 00)
		return pc, m.turn
	}
	return pc, m.http
}

// answerPlainHTTP tells a browser that typed http:// on the TLS port what
// went wrong, the way net/http's own TLS server does.
func (m *Mux) answerPlainHTTP(raw net.Conn, err error) {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil {
		return
	}
	switch string(re.RecordHeader[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
	}
}

// Conn is a connection whose first bytes were read to route it; Read
// returns them again first.
type Conn struct {
	net.Conn
	drained atomic.Bool // the replayed bytes are consumed; read c.Conn directly
	mu      sync.Mutex  // guards r
	r       *bufio.Reader
}

// Read reads the replayed bytes, then the connection.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.drained.Load() {
		c.mu.Lock()
		if c.r != nil && c.r.Buffered() > 0 {
			// With bytes buffered, bufio.Reader.Read only copies them.
			n, err := c.r.Read(p)
			c.mu.Unlock()
			return n, err
		}
		c.r = nil
		c.drained.Store(true)
		c.mu.Unlock()
	}
	return c.Conn.Read(p)
}

// TLS is the underlying TLS connection, or nil in plain mode.
func (c *Conn) TLS() *tls.Conn {
	tc, _ := c.Conn.(*tls.Conn)
	return tc
}

// listener is a net.Listener fed by the mux.
type listener struct {
	addr      net.Addr
	conns     chan net.Conn
	muxDone   <-chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newListener(addr net.Addr, muxDone <-chan struct{}) *listener {
	return &listener{addr: addr, conns: make(chan net.Conn), muxDone: muxDone, closed: make(chan struct{})}
}

// deliver hands c to Accept, giving up at deadline or when either side is
// closed.
func (l *listener) deliver(c net.Conn, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
	case <-l.muxDone:
	case <-t.C:
	}
	return false
}

// Accept waits for the next routed connection. After Close of this listener
// or of the mux it returns net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
	case <-l.muxDone:
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
}

// Close stops this side: connections routed here afterwards are closed.
// The mux and the other side keep running.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }
