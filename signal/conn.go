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

	"github.com/rtcd/rtcd/signal/proto"
)

// wsWriteBuffers lends gorilla its write buffer for the duration of one
// message, so idle connections hold none (Upgrader.WriteBufferPool).
var wsWriteBuffers sync.Pool

// wsReadBuffer is gorilla's per-socket read buffer; a socket is idle most of
// its life, and the rare SDP larger than this is read in a few steps.
const wsReadBuffer = 1024

// conn is one WebSocket. The handler goroutine reads (run). After hello all
// data writes go through writer runs (writeRun): a goroutine started when
// the outbox has something to send, which exits once it is empty, so an idle
// connection costs one goroutine, not two. Pings and credential refreshes
// are runtime timers (time.AfterFunc), not a goroutine with a ticker. Before
// hello there is no writer and the reader writes its own replies.
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

	done      chan struct{} // closed when the reader has finished
	closing   chan struct{} // closed by requestClose
	closeOnce sync.Once
	writers   sync.WaitGroup // writer runs; run waits for them before closing
	timerRuns sync.WaitGroup // ping and refresh timer callbacks in flight; run waits for them

	mu          sync.Mutex // guards the following fields
	writerOn    bool       // a session is attached: data writes go through writer runs
	writing     bool       // a writer run is active
	again       bool       // kicked while writing: look at the outbox once more
	writerDead  bool       // a write failed or the close was flushed: no more runs
	timersOff   bool       // the reader has finished: timers must not re-arm
	ping        *time.Timer
	refresh     *time.Timer
	closeCode   int
	closeReason string
	final       []byte // last data message before the close frame (bye)
}

func newConn(h *Hub, ws *websocket.Conn, key string) *conn {
	mps := h.cfg.MessagesPerSecond
	return &conn{
		h:       h,
		ws:      ws,
		ipKey:   key,
		lim:     rate.NewLimiter(rate.Limit(mps), 2*mps),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
}

// run is the read loop; it returns when the socket is gone and cleaned up.
func (c *conn) run() {
	cfg := c.h.cfg
	ws := c.ws
	ws.SetReadLimit(proto.MaxMessageBytes)
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
	c.writerOn, c.timersOff = false, true
	if c.ping != nil {
		c.ping.Stop()
	}
	if c.refresh != nil {
		c.refresh.Stop()
	}
	c.mu.Unlock()
	c.timerRuns.Wait()
	c.writers.Wait()
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
		c.h.st.err(proto.CodeBadRequest)
	case c.isClosing():
		// We closed; the client did not answer in time or cut the socket.
	case errors.As(err, &ne) && ne.Timeout():
		if c.sess == nil {
			c.requestClose(proto.CloseHelloTimeout, nil)
		} else {
			c.requestClose(proto.CloseIdle, nil)
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

func (c *conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// requestClose closes the socket with cs after flushing what is queued and
// final. Only the first call counts.
func (c *conn) requestClose(cs proto.Close, final []byte) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.closeReason, c.final = cs.Code, cs.Reason, final
		close(c.closing)
		c.mu.Unlock()
		if !c.kick() {
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

// startWriter hands writes to writer runs once the session is known, arms
// the ping and credential-refresh timers and sends what is already queued
// (the hello reply).
func (c *conn) startWriter() bool {
	c.mu.Lock()
	if c.isClosing() {
		c.mu.Unlock()
		return false
	}
	c.writerOn = true
	c.ping = time.AfterFunc(c.h.cfg.PingInterval, c.pingNow)
	c.refresh = time.AfterFunc(c.h.refreshAfter(), c.refreshNow)
	c.mu.Unlock()
	c.kick()
	return true
}

// kick makes sure a writer run will look at the outbox (and at a requested
// close). It reports false when there is no writer: before hello, after the
// reader finished, or after a failed write.
func (c *conn) kick() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.writerOn || c.writerDead {
		return false
	}
	if c.writing {
		c.again = true
		return true
	}
	c.writing = true
	c.writers.Add(1)
	go c.writeRun()
	return true
}

// writeRun writes what is queued, then exits; kick starts the next one.
// At most one runs at a time, so it owns all data writes to ws.
func (c *conn) writeRun() {
	defer c.writers.Done()
	o := c.sess.out
	for {
		switch {
		case c.isDone():
			c.endRun(false)
			return
		case c.isClosing():
			c.flushAndClose(o)
			c.endRun(true)
			return
		}
		items, ok := o.take(c)
		if ok && len(items) > 0 {
			if err := c.write(o, items, c.h.cfg.WriteTimeout); err != nil {
				c.kill()
				c.endRun(true)
				return
			}
			continue
		}
		// Empty, or resumed on another socket (the close of this one is
		// on its way and will kick a run that sends it).
		c.mu.Lock()
		if c.again {
			c.again = false
			c.mu.Unlock()
			continue
		}
		c.writing = false
		c.mu.Unlock()
		return
	}
}

func (c *conn) endRun(dead bool) {
	c.mu.Lock()
	c.writing, c.again = false, false
	if dead {
		c.writerDead = true
	}
	c.mu.Unlock()
}

// enterTimer admits a timer callback while the reader runs; the reader
// turns timers off and then waits for those admitted, so none outlives the
// connection. The caller calls c.timerRuns.Done when enterTimer is true.
func (c *conn) enterTimer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timersOff {
		return false
	}
	c.timerRuns.Add(1)
	return true
}

// pingNow runs on the ping timer. WriteControl may run next to a writer run.
func (c *conn) pingNow() {
	if !c.enterTimer() {
		return
	}
	defer c.timerRuns.Done()
	if c.isDone() || c.isClosing() {
		return
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.h.cfg.WriteTimeout)); err != nil {
		c.kill()
		return
	}
	c.mu.Lock()
	if !c.timersOff {
		c.ping.Reset(c.h.cfg.PingInterval)
	}
	c.mu.Unlock()
}

// refreshNow runs on the refresh timer: fresh TURN credentials before the
// current ones expire, queued like any other message.
func (c *conn) refreshNow() {
	if !c.enterTimer() {
		return
	}
	defer c.timerRuns.Done()
	if c.isDone() || c.isClosing() {
		return
	}
	c.send(c.h.iceMessage(c.sess, ""))
	c.mu.Lock()
	if !c.timersOff {
		c.refresh.Reset(c.h.refreshAfter())
	}
	c.mu.Unlock()
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

func (c *conn) sendErr(id string, e *proto.Error) {
	c.h.st.err(e.Code)
	c.send(proto.ErrorFrame(id, e))
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
		c.sendErr("", proto.Errorf(proto.CodeRateLimited, "message flood; closing"))
		c.requestClose(proto.CloseFlood, nil)
		return false
	}
	c.sendErr(proto.RecoverID(b), proto.Errorf(proto.CodeRateLimited, "more than %d messages per second; message dropped", c.h.cfg.MessagesPerSecond))
	return false
}

// handle processes one client frame.
func (c *conn) handle(mt int, b []byte) {
	if !c.allow(b) {
		return
	}
	if mt != websocket.TextMessage {
		c.h.st.msg("")
		c.sendErr("", proto.Errorf(proto.CodeBadRequest, "binary frames are not accepted; send JSON text"))
		return
	}
	m, perr0 := proto.Decode(b)
	c.h.st.msg(m.Type)
	if perr0 != nil {
		c.sendErr(m.ID, perr0)
		if perr0.Code == proto.CodeUnsupportedVersion {
			c.requestClose(proto.CloseVersion, nil)
		}
		return
	}
	if c.sess == nil {
		if m.Type != proto.TypeHello {
			c.sendErr(m.ID, proto.Errorf(proto.CodeHelloRequired, "send hello first"))
			return
		}
		c.hello(m)
		return
	}
	s := c.sess
	var e *proto.Error
	switch m.Type {
	case proto.TypeHello:
		e = proto.Errorf(proto.CodeAlreadyHello, "hello was already sent on this socket")
	case proto.TypeJoin:
		e = c.join(s, m)
	case proto.TypeLeave:
		if !c.h.router.leave(s, proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeLeft, ID: m.ID}), false) {
			e = proto.Errorf(proto.CodeNotInRoom, "not in a room")
		}
		c.h.closeMedia(s)
	case proto.TypeSignal:
		if m.To == proto.SFUPeer {
			e = c.h.mediaSignal(s, m.ID, m.Kind, m.Data)
			break
		}
		msg := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeSignal, From: s.id, Kind: m.Kind, Data: m.Data})
		if e = c.h.router.relay(s, m.To, msg); e == nil {
			c.h.st.relayed.Add(1)
		}
	case proto.TypeUpdate:
		var unheld bool
		if unheld, e = c.h.router.update(s, m.Name, m.State); unheld {
			c.h.holdAudio(s) // s unmuted itself: a host's mute is over
		}
	case proto.TypeHost:
		e = c.h.hostAction(action{actor: s, name: m.Action, target: m.Target, password: m.Password, id: m.ID})
	case proto.TypeICE:
		c.send(c.h.iceMessage(s, m.ID))
	case proto.TypePing:
		c.send(proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypePong, ID: m.ID}))
	}
	if e != nil {
		c.sendErr(m.ID, e)
	}
}

func (c *conn) join(s *session, m proto.ClientMessage) *proto.Error {
	if s.claims != nil && s.claims.Room != "*" {
		if want, _ := proto.CanonicalRoom(s.claims.Room); want != m.Room {
			return proto.Errorf(proto.CodeForbidden, "your token does not allow room %s", m.Room)
		}
	}
	c.h.replaceStale(s, m.Room)
	// Passwords are guessable where tokens are not: an address that got
	// too many wrong has its attempts refused unread, right or wrong.
	if m.Password != "" && c.h.pwBlocked(c.ipKey) {
		return proto.Errorf(proto.CodeRateLimited, "too many wrong passwords from your address; retry in a minute")
	}
	e := c.h.router.join(s, m.Room, m.ID, joinOpts{password: m.Password})
	if e != nil && e.Code == proto.CodeWrongPassword {
		c.h.pwFailed(c.ipKey)
		logx.Debugw("signal: wrong room password", logx.Field("ip", c.ipKey), logx.Field("room", m.Room))
	}
	return e
}

// hello authenticates, creates or resumes the session and starts the writer.
// Credentials are always checked, also from a throttled address: the
// throttle refuses only failed attempts, so one client guessing from a
// shared NAT address does not lock out everyone behind it, and a guess
// still has to pass the HMAC (or match a 192-bit resume token).
func (c *conn) hello(m proto.ClientMessage) {
	h := c.h
	if m.Resume != "" {
		c.resume(m)
		return
	}
	var claims *auth.Claims
	if h.tokens != nil {
		if m.Token == "" {
			c.authFailed(m.ID, "no token", proto.Errorf(proto.CodeUnauthorized, "this server needs a join token"))
			return
		}
		cl, err := h.tokens.Verify(m.Token)
		switch {
		case errors.Is(err, auth.ErrTokenExpired):
			c.authFailed(m.ID, "expired token", proto.Errorf(proto.CodeTokenExpired, "join token expired"))
			return
		case err != nil:
			c.authFailed(m.ID, "invalid token", proto.Errorf(proto.CodeUnauthorized, "invalid join token"))
			return
		}
		claims = &cl
	}
	name := proto.DefaultName
	if m.Name != nil {
		name = *m.Name
	}
	if claims != nil && claims.Name != "" {
		name = claims.Name // the operator's app vouches for it; the client may not pick another
	}
	s := h.newSession(c, name, m.Client, claims)
	if s == nil {
		return // stopping; the close is on its way
	}
	c.sess = s
	h.router.attach(s, c, func(roomView) []byte {
		return h.helloReply(m.ID, s, s.resume, false, roomView{})
	})
	if !c.startWriter() {
		return
	}
	logx.Debugw("signal: hello", logx.Field("peer", s.id), logx.Field("ip", c.ipKey))
}

// authFailed answers a failed hello with e and counts it; once the address
// is over the throttle limit the answer is throttled and the socket closes.
func (c *conn) authFailed(id, why string, e *proto.Error) {
	if c.h.fails.blocked(c.ipKey) {
		c.h.authFailed(c.ipKey, why)
		c.sendErr(id, proto.Errorf(proto.CodeThrottled, "too many failed authentications; retry later"))
		c.requestClose(proto.CloseThrottled, nil)
		return
	}
	c.h.authFailed(c.ipKey, why)
	c.sendErr(id, e)
}

func (c *conn) resume(m proto.ClientMessage) {
	h := c.h
	s, tok, old := h.takeOver(m.Resume, c)
	if s == nil {
		c.authFailed(m.ID, "unknown resume token", proto.Errorf(proto.CodeNoSuchSession, "no session for this resume token; send hello without resume"))
		return
	}
	if old != nil {
		old.requestClose(proto.CloseReplaced, nil)
	}
	c.sess = s
	h.router.attach(s, c, func(v roomView) []byte {
		return h.helloReply(m.ID, s, tok, true, v)
	})
	h.router.setAway(s, false)
	c.startWriter()
	logx.Debugw("signal: resumed", logx.Field("peer", s.id), logx.Field("ip", c.ipKey))
}
