package signal

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zeromicro/go-zero/core/logx"
	"golang.org/x/time/rate"

	"github.com/rtcd/rtcd/auth"
)

// conn is one WebSocket. The handler goroutine reads (run); after hello a
// writer goroutine (writeLoop) owns all data writes. Before hello there is
// no writer and the reader writes its own replies.
type conn struct {
	h     *Hub
	ws    *websocket.Conn
	ipKey string

	// Owned by the reader (run), not thread-safe.
	lim        *rate.Limiter
	floodStart time.Time
	lastDenied time.Time
	sess       *session // set once at hello, before the writer starts
	endSession bool     // the client closed with 1000: no resume

	done       chan struct{} // closed when the reader has finished
	writerDone chan struct{} // closed when the writer has finished
	closing    chan struct{} // closed by requestClose
	closeOnce  sync.Once

	mu          sync.Mutex // guards the following fields
	writerOn    bool
	closeCode   int
	closeReason string
	final       []byte // last data message before the close frame (bye)
}

func newConn(h *Hub, ws *websocket.Conn, key string) *conn {
	mps := h.cfg.MessagesPerSecond
	return &conn{
		h:          h,
		ws:         ws,
		ipKey:      key,
		lim:        rate.NewLimiter(rate.Limit(mps), 2*mps),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		closing:    make(chan struct{}),
	}
}

// run is the read loop; it returns when the socket is gone and cleaned up.
func (c *conn) run() {
	cfg := c.h.cfg
	ws := c.ws
	ws.SetReadLimit(MaxMessageBytes)
	_ = ws.SetReadDeadline(time.Now().Add(cfg.HelloTimeout))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
	})
	for {
		mt, b, err := ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			break
		}
		if c.isClosing() {
			continue // draining until the close handshake completes
		}
		c.handle(mt, b)
		if c.sess != nil && !c.isClosing() {
			_ = ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
	}
	close(c.done)
	c.mu.Lock()
	writer := c.writerOn
	c.mu.Unlock()
	if writer {
		<-c.writerDone
	}
	_ = ws.Close()
	if c.sess != nil {
		c.h.detach(c.sess, c, c.endSession)
	}
}

// readFailed classifies why the read loop ended and closes accordingly.
func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		// gorilla has answered the close frame.
		c.endSession = ce.Code == websocket.CloseNormalClosure
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent 1009.
		c.h.st.err(codeBadRequest)
	case c.isClosing():
		// We closed; the client did not answer in time or cut the socket.
	case errors.As(err, &ne) && ne.Timeout():
		if c.sess == nil {
			c.requestClose(closeHelloTimeout, nil)
		} else {
			c.requestClose(closeIdle, nil)
		}
		c.closeNow()
	default:
		logx.Debugw("signal: read", logx.Field("ip", c.ipKey), logx.Field("err", err.Error()))
	}
}

func (c *conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// closeSpec is a close code with its reason text.
type closeSpec struct {
	code   int
	reason string
}

// Every close the server initiates, in one place (protocol.md §3.9 and Changes).
var (
	closeHelloTimeout = closeSpec{websocket.ClosePolicyViolation, "hello timeout"}
	closeVersion      = closeSpec{websocket.ClosePolicyViolation, "unsupported version"}
	closeFlood        = closeSpec{websocket.ClosePolicyViolation, "message flood"}
	closeThrottled    = closeSpec{websocket.ClosePolicyViolation, "auth throttled"}
	closeReplaced     = closeSpec{websocket.ClosePolicyViolation, "replaced"}
	closeIdle         = closeSpec{websocket.CloseGoingAway, "idle timeout"}
	closeShutdown     = closeSpec{websocket.CloseGoingAway, "server shutting down"}
)

// requestClose closes the socket with cs after flushing what is queued and
// final. Only the first call counts.
func (c *conn) requestClose(cs closeSpec, final []byte) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.closeReason, c.final = cs.code, cs.reason, final
		close(c.closing)
		writer := c.writerOn
		c.mu.Unlock()
		if !writer {
			c.closeNow()
		}
	})
}

// closeNow writes the close frame (safe next to other writes: gorilla allows
// WriteControl concurrently) and gives the client closeGrace to answer.
func (c *conn) closeNow() {
	c.mu.Lock()
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeFlush))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
}

// kill cuts the TCP connection; both loops then fail and clean up.
func (c *conn) kill() { _ = c.ws.NetConn().Close() }

// startWriter hands writes to a writer goroutine once the session is known.
func (c *conn) startWriter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosing() {
		return false
	}
	c.writerOn = true
	go c.writeLoop()
	return true
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	cfg := c.h.cfg
	s := c.sess
	o := s.out
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	refresh := time.NewTimer(c.h.refreshAfter())
	defer refresh.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.closing:
			c.flushAndClose(o)
			return
		case <-o.wake:
			items, ok := o.take(c)
			if !ok {
				// Resumed on another socket: the wake-up was for its
				// writer, and a close of this one is on its way.
				o.notify()
				select {
				case <-c.done:
				case <-c.closing:
					c.closeNow()
				}
				return
			}
			if err := c.write(o, items, cfg.WriteTimeout); err != nil {
				c.kill()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				c.kill()
				return
			}
		case <-refresh.C:
			b := c.h.iceMessage(s, "")
			if err := c.write(o, []item{{b: b}}, cfg.WriteTimeout); err != nil {
				c.kill()
				return
			}
			refresh.Reset(c.h.refreshAfter())
		}
	}
}

// write sends items, each within timeout. What a failed write did not send
// goes back to the outbox for a resume.
func (c *conn) write(o *outbox, items []item, timeout time.Duration) error {
	for i, it := range items {
		_ = c.ws.SetWriteDeadline(time.Now().Add(timeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, it.b); err != nil {
			o.unread(c, items[i:])
			return err
		}
	}
	return nil
}

func (c *conn) flushAndClose(o *outbox) {
	c.mu.Lock()
	final := c.final
	c.mu.Unlock()
	items, _ := o.take(c)
	if final != nil {
		items = append(items, item{b: final})
	}
	deadline := time.Now().Add(closeFlush)
	for _, it := range items {
		_ = c.ws.SetWriteDeadline(deadline)
		if c.ws.WriteMessage(websocket.TextMessage, it.b) != nil {
			break
		}
	}
	c.closeNow()
}

// send queues a reply to this connection's client.
func (c *conn) send(b []byte) {
	s := c.sess
	if s == nil {
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.kill()
		}
		return
	}
	owned, ok := s.out.pushFor(c, b)
	switch {
	case !owned:
	case !ok:
		c.h.overflow(s)
	default:
		s.out.notify()
	}
}

func (c *conn) sendErr(id string, e *protoError) {
	c.h.st.err(e.code)
	c.send(errorMsg(id, e))
}

// allow applies the per-connection rate limit. A flood that lasts
// floodWindow closes the socket with 1008.
func (c *conn) allow(b []byte) bool {
	now := time.Now()
	if c.lim.AllowN(now, 1) {
		return true
	}
	if c.floodStart.IsZero() || now.Sub(c.lastDenied) > time.Second {
		c.floodStart = now
	}
	c.lastDenied = now
	if now.Sub(c.floodStart) >= c.h.floodWindow {
		c.sendErr("", perr(codeRateLimited, "message flood; closing"))
		c.requestClose(closeFlood, nil)
		return false
	}
	c.sendErr(recoverID(b), perr(codeRateLimited, "more than %d messages per second; message dropped", c.h.cfg.MessagesPerSecond))
	return false
}

// handle processes one client frame.
func (c *conn) handle(mt int, b []byte) {
	if !c.allow(b) {
		return
	}
	if mt != websocket.TextMessage {
		c.h.st.msg("")
		c.sendErr("", perr(codeBadRequest, "binary frames are not accepted; send JSON text"))
		return
	}
	m, perr0 := decode(b)
	c.h.st.msg(m.Type)
	if perr0 != nil {
		c.sendErr(m.ID, perr0)
		if perr0.code == codeUnsupportedVersion {
			c.requestClose(closeVersion, nil)
		}
		return
	}
	if c.sess == nil {
		if m.Type != typeHello {
			c.sendErr(m.ID, perr(codeHelloRequired, "send hello first"))
			return
		}
		c.hello(m)
		return
	}
	s := c.sess
	var e *protoError
	switch m.Type {
	case typeHello:
		e = perr(codeAlreadyHello, "hello was already sent on this socket")
	case typeJoin:
		e = c.join(s, m)
	case typeLeave:
		if !c.h.router.leave(s, mustJSON(out{V: Version, Type: typeLeft, ID: m.ID}), false) {
			e = perr(codeNotInRoom, "not in a room")
		}
	case typeSignal:
		msg := mustJSON(out{V: Version, Type: typeSignal, From: s.id, Kind: m.Kind, Data: m.Data})
		if e = c.h.router.relay(s, m.To, msg); e == nil {
			c.h.st.relayed.Add(1)
		}
	case typeUpdate:
		e = c.h.router.update(s, m.Name, m.State)
	case typeICE:
		c.send(c.h.iceMessage(s, m.ID))
	case typePing:
		c.send(mustJSON(out{V: Version, Type: typePong, ID: m.ID}))
	}
	if e != nil {
		c.sendErr(m.ID, e)
	}
}

func (c *conn) join(s *session, m inMsg) *protoError {
	if s.claims != nil && s.claims.Room != "*" && s.claims.Room != m.Room {
		return perr(codeForbidden, "your token does not allow room %s", m.Room)
	}
	return c.h.router.join(s, m.Room, m.ID)
}

// hello authenticates, creates or resumes the session and starts the writer.
func (c *conn) hello(m inMsg) {
	h := c.h
	if h.fails.blocked(c.ipKey) {
		c.sendErr(m.ID, perr(codeThrottled, "too many failed authentications; retry later"))
		c.requestClose(closeThrottled, nil)
		return
	}
	if m.Resume != "" {
		c.resume(m)
		return
	}
	var claims *auth.Claims
	if h.tokens != nil {
		if m.Token == "" {
			h.authFailed(c.ipKey, "no token")
			c.sendErr(m.ID, perr(codeUnauthorized, "this server needs a join token"))
			return
		}
		cl, err := h.tokens.Verify(m.Token)
		switch {
		case errors.Is(err, auth.ErrTokenExpired):
			h.authFailed(c.ipKey, "expired token")
			c.sendErr(m.ID, perr(codeTokenExpired, "join token expired"))
			return
		case err != nil:
			h.authFailed(c.ipKey, "invalid token")
			c.sendErr(m.ID, perr(codeUnauthorized, "invalid join token"))
			return
		}
		claims = &cl
	}
	name := defaultName
	if m.Name != nil {
		name = *m.Name
	}
	s := h.newSession(c, name, claims)
	if s == nil {
		return // stopping; the close is on its way
	}
	c.sess = s
	h.router.attach(s, c, func(string, []peerInfo) []byte {
		return h.helloReply(m.ID, s, s.resume, false, "", nil)
	})
	if !c.startWriter() {
		return
	}
	logx.Debugw("signal: hello", logx.Field("peer", s.id), logx.Field("ip", c.ipKey))
}

func (c *conn) resume(m inMsg) {
	h := c.h
	s, tok, old := h.takeOver(m.Resume, c)
	if s == nil {
		h.authFailed(c.ipKey, "unknown resume token")
		c.sendErr(m.ID, perr(codeNoSuchSession, "no session for this resume token; send hello without resume"))
		return
	}
	if old != nil {
		old.requestClose(closeReplaced, nil)
	}
	c.sess = s
	h.router.attach(s, c, func(room string, peers []peerInfo) []byte {
		return h.helloReply(m.ID, s, tok, true, room, peers)
	})
	c.startWriter()
	logx.Debugw("signal: resumed", logx.Field("peer", s.id), logx.Field("ip", c.ipKey))
}
