package signal

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

// Fixed policy values (protocol.md §5, §6) that are not worth a config knob.
const (
	floodWindow    = 5 * time.Second  // continuous rate excess before close 1008
	authFailMax    = 10               // failed authentications per IP per window ...
	authFailWindow = 10 * time.Minute // ... before hello is throttled
	closeFlush     = time.Second      // time to flush a closing socket's queue
	closeGrace     = time.Second      // time to wait for the client's close reply
	stopWait       = 3 * time.Second  // Stop waits this long before cutting sockets
	retryAfterMs   = 1000             // bye hint on shutdown
)

// ICEURLs is data from the relay: the STUN and TURN URLs clients are given
// ("stun:host:3478", "turn:host:3478?transport=udp", "turns:..."). signal never
// imports turn; cmd/rtcd copies them over.
type ICEURLs struct {
	STUN []string
	TURN []string
}

// session is one peer: it survives a dropped socket for the resume window.
type session struct {
	id     string       // immutable
	user   string       // immutable; the user part of TURN usernames (RandomUser or tokenUser)
	claims *auth.Claims // immutable; nil in open mode
	out    *outbox      // immutable pointer
	media  mediaLink    // its session with the media server
	// client is the browser's own id (hello.client), never sent to anyone:
	// a new session with the same client replaces a detached one at join.
	client string // immutable

	// node is the node holding the session; "" for this node. A
	// session with node set is a placeholder in a room: no outbox, no conn.
	node string // immutable

	// Guarded by router.mu.
	name    string
	state   proto.State
	room    *room
	waiting *room  // the room whose lobby it waits in (room is nil then)
	host    bool   // a host of its room (hostctl.go)
	since   int64  // when it entered its room (unix ms): the oldest member becomes host
	joining string // room of a bus join in flight
	closed  bool   // ended: a join in flight must not add it
	away    bool   // detached, waiting for a resume; the room is told
	// audioHeld says a host muted it: the media server holds its audio
	// until it unmutes itself (hostact.go).
	audioHeld bool

	// Guarded by Hub.mu.
	conn   *conn // attached connection; nil while waiting for a resume
	resume string
	timer  *time.Timer // resume window while detached
	ended  bool
}

// Hub is the signaling server: sessions, rooms and the /ws and /api/v1
// handlers. Create it with NewHub and stop it with Stop.
type Hub struct {
	cfg      Config
	issuer   *auth.Issuer
	tokens   *auth.Tokens
	urls     ICEURLs
	allow    map[string]bool // normalized AllowOrigins
	hosts    *hostSet
	trusted  []netip.Prefix
	upgrader websocket.Upgrader
	router   *router
	ips      *ipLimiter
	fails    *throttle
	pwFails  *throttle // wrong room passwords per address
	st       stats

	// Test hooks, fixed in production.
	floodWindow time.Duration

	media  MediaServer // nil: every room is a mesh room; set before serving
	claims mediaClaims // the rooms whose media this node carries
	hosted hostedMedia // media sessions of other nodes' clients

	wg sync.WaitGroup // connection handlers and resume timers

	mu       sync.Mutex // guards the following fields and session.{conn,resume,timer,ended}
	sessions map[string]*session
	byResume map[string]*session
	conns    map[*conn]struct{}
	stopping bool
}

// NewHub builds a hub. tokens is required in token mode and ignored in open
// mode; issuer mints the TURN credentials handed to clients.
func NewHub(c Config, issuer *auth.Issuer, tokens *auth.Tokens, urls ICEURLs) (*Hub, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	if issuer == nil {
		return nil, errors.New("signal: NewHub: nil issuer")
	}
	if c.Mode == ModeToken && tokens == nil {
		return nil, errors.New("signal: token mode needs Auth.TokenSecret")
	}
	if c.Mode == ModeOpen {
		tokens = nil
	}
	trusted, err := parsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:         c,
		issuer:      issuer,
		tokens:      tokens,
		urls:        urls,
		allow:       make(map[string]bool),
		hosts:       newHostSet(c.AllowedHosts, c.AllowOrigins),
		trusted:     trusted,
		ips:         newIPLimiter(c.MaxConnsPerIP),
		fails:       newThrottle(authFailMax, authFailWindow),
		pwFails:     newThrottle(pwFailMax-1, pwFailWindow), // blocked once it has pwFailMax
		floodWindow: floodWindow,
		sessions:    make(map[string]*session),
		byResume:    make(map[string]*session),
		conns:       make(map[*conn]struct{}),
	}
	for _, o := range c.AllowOrigins {
		n, _ := normalizeOrigin(o) // checked by Validate
		h.allow[n] = true
	}
	h.router = newRouter(c.RoomSize, &h.st, h.overflow)
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: c.HelloTimeout,
		// A 1 KiB read buffer (longer messages take a few more reads) and
		// pooled write buffers, held only during a write: 7 KiB less per
		// idle socket than 4 KiB each.
		ReadBufferSize:  wsReadBuffer,
		WriteBufferPool: &wsWriteBuffers,
		// Origin was checked before Upgrade, with a JSON-free 403.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return h, nil
}

// Handler serves the WebSocket endpoint (mounted at /ws).
func (h *Hub) Handler() http.Handler { return http.HandlerFunc(h.serveWS) }

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	if h.hostRefused(w, r, false) {
		return
	}
	if _, ok := h.originAllowed(r); !ok {
		h.st.err(proto.CodeForbidden)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	key := ipKey(h.clientIP(r))
	if !h.ips.acquire(key) {
		h.st.ipLimited.Add(1)
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		h.ips.release(key)
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()

	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has written the HTTP error.
		logx.Debugw("signal: upgrade failed", logx.Field("err", err.Error()))
		h.ips.release(key)
		h.wg.Done()
		return
	}
	// The socket gets a goroutine of its own and the HTTP handler returns:
	// net/http's per-connection state (its write buffer, the request, the
	// response and a deep handler stack) is then garbage instead of being
	// held for the life of the WebSocket, about 8 KiB per idle client.
	go h.serveConn(ws, key)
}

// serveConn runs one upgraded socket until it is gone.
func (h *Hub) serveConn(ws *websocket.Conn, key string) {
	defer h.wg.Done()
	defer h.ips.release(key)
	c := newConn(h, ws, key)
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(proto.CloseShutdown.Code, proto.CloseShutdown.Reason), time.Now().Add(closeFlush))
		_ = ws.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	h.st.conns.Add(1)

	c.run()

	h.st.conns.Add(-1)
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// Stop says bye{server-restart, reconnect} and closes every socket with
// 1001, then waits for the connection goroutines. Sockets that do not finish
// the close handshake within a few seconds are cut, so Stop fits in go-zero's
// 5.5 s shutdown window.
func (h *Hub) Stop() {
	h.mu.Lock()
	if h.stopping {
		h.mu.Unlock()
		h.wg.Wait()
		return
	}
	h.stopping = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	var waiting []*session
	for _, s := range h.sessions {
		if s.timer != nil && s.timer.Stop() {
			h.wg.Done() // the timer will not run
		}
		s.timer = nil
		if s.conn == nil {
			waiting = append(waiting, s)
		}
	}
	byTok := make(map[string]*session, len(h.byResume))
	for tok, s := range h.byResume {
		byTok[tok] = s
	}
	h.mu.Unlock()
	// Clients are told to reconnect: let them resume on another node.
	h.router.bus.SaveSessions(h.router.records(byTok), h.cfg.ResumeWindow)
	for _, s := range waiting {
		h.endSession(s) // silent: everyone is being closed
	}

	bye := proto.Marshal(proto.ServerMessage{V: proto.Version, Type: proto.TypeBye, Reason: "server-restart", Reconnect: boolp(true), RetryAfterMs: retryAfterMs})
	for _, c := range conns {
		c.requestClose(proto.CloseShutdown, bye)
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopWait):
		h.mu.Lock()
		for c := range h.conns {
			c.kill()
		}
		h.mu.Unlock()
		<-done
	}
	h.closeHosted()
	h.router.bus.Stop()
	logx.Infow("signal: hub stopped", logx.Field("connections", len(conns)))
}

// Stats is a snapshot of the hub's counters, for metrics.
type Stats struct {
	Connections   int64             // open WebSockets
	Sessions      int64             // live sessions, including those waiting for a resume
	Rooms         int64             // rooms with at least one peer
	Peers         int64             // sessions in a room
	Messages      map[string]uint64 // received messages by type ("other" for unknown)
	Errors        map[string]uint64 // error replies and refusals by code
	AuthFailures  uint64            // bad tokens and unknown resume tokens
	SlowConsumers uint64            // sessions ended because their queue overflowed
	IPLimited     uint64            // upgrades refused with 429 (MaxConnsPerIP)
	Relayed       uint64            // signals delivered to an outbox
	MediaSessions int64             // open sessions with the media server
	Promotions    uint64            // rooms moved from mesh to the media server (auto mode)
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	s := Stats{
		Connections:   h.st.conns.Load(),
		Sessions:      h.st.sessions.Load(),
		Rooms:         h.st.rooms.Load(),
		Peers:         h.st.peers.Load(),
		Messages:      make(map[string]uint64),
		Errors:        make(map[string]uint64),
		AuthFailures:  h.st.authFailures.Load(),
		SlowConsumers: h.st.slowConsumers.Load(),
		IPLimited:     h.st.ipLimited.Load(),
		Relayed:       h.st.relayed.Load(),
		MediaSessions: h.st.mediaSessions.Load(),
		Promotions:    h.st.promotions.Load(),
	}
	for i, t := range proto.ClientTypes {
		s.Messages[t] = h.st.msgs[i].Load()
	}
	s.Messages["other"] = h.st.msgs[len(proto.ClientTypes)].Load()
	for i, c := range proto.ErrorCodes {
		s.Errors[c] = h.st.errs[i].Load()
	}
	return s
}

// newSession registers a fresh session attached to c. It returns nil while
// stopping.
func (h *Hub) newSession(c *conn, name, client string, claims *auth.Claims) *session {
	s := &session{claims: claims, name: name, client: client, out: newOutbox(h.cfg.QueueSize), conn: c}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return nil
	}
	for s.id == "" || h.sessions[s.id] != nil {
		s.id = "p_" + randomID(10)
	}
	s.user = auth.RandomUser(s.id)
	if claims != nil {
		s.user = h.tokenUser(claims.User)
	}
	s.resume = h.newResumeToken()
	h.sessions[s.id] = s
	h.byResume[s.resume] = s
	h.st.sessions.Add(1)
	return s
}

// takeOver moves the session owning resume token tok to c and rotates the
// token. It returns the session, its new token and the connection it had.
func (h *Hub) takeOver(tok string, c *conn) (s *session, newTok string, old *conn) {
	h.mu.Lock()
	s = h.byResume[tok]
	if s == nil && !h.stopping {
		h.mu.Unlock()
		return h.takeOverRemote(tok, c)
	}
	defer h.mu.Unlock()
	if s == nil || s.ended || h.stopping {
		return nil, "", nil
	}
	delete(h.byResume, tok)
	s.resume = h.newResumeToken()
	h.byResume[s.resume] = s
	old, s.conn = s.conn, c
	if s.timer != nil && s.timer.Stop() {
		h.wg.Done()
	}
	s.timer = nil
	return s, s.resume, old
}

// detach is called when c's socket is gone. The session waits for a resume
// unless end is set (leave by close 1000) or the hub is stopping.
func (h *Hub) detach(s *session, c *conn, end bool) {
	s.out.detach(c)
	h.mu.Lock()
	if s.conn != c || s.ended {
		h.mu.Unlock()
		return
	}
	s.conn = nil
	if !end && !h.stopping {
		h.wg.Add(1)
		s.timer = time.AfterFunc(h.cfg.ResumeWindow, func() {
			defer h.wg.Done()
			h.expire(s)
		})
		h.mu.Unlock()
		h.router.leaveLobby(s)
		h.router.setAway(s, true)
		return
	}
	h.mu.Unlock()
	h.endSession(s)
}

// replaceStale ends the detached sessions in room that belong to the same
// browser as s (same hello.client): a user who reloads or reopens the page
// takes their own place at once instead of meeting their own ghost, and
// does not find the room full because of it. Live sessions are kept, so two
// tabs of one browser can both be in a room.
func (h *Hub) replaceStale(s *session, room string) {
	if s.client == "" {
		return
	}
	for _, old := range h.router.awayTwins(s, room) {
		h.mu.Lock()
		detached := old.conn == nil && !old.ended
		h.mu.Unlock()
		if detached {
			logx.Debugw("signal: detached session replaced by its browser's new one",
				logx.Field("old", old.id), logx.Field("new", s.id))
			h.endSession(old)
		}
	}
}

// expire ends a session whose resume window passed.
func (h *Hub) expire(s *session) {
	h.mu.Lock()
	if s.conn != nil || s.ended || s.timer == nil {
		h.mu.Unlock()
		return
	}
	s.timer = nil
	h.mu.Unlock()
	h.endSession(s)
}

// endSession forgets s and tells its room. Idempotent.
func (h *Hub) endSession(s *session) {
	h.mu.Lock()
	if s.ended {
		h.mu.Unlock()
		return
	}
	s.ended = true
	delete(h.sessions, s.id)
	delete(h.byResume, s.resume)
	if s.timer != nil && s.timer.Stop() {
		h.wg.Done()
	}
	s.timer = nil
	silent := h.stopping
	h.mu.Unlock()
	h.st.sessions.Add(-1)
	h.router.forget(s)
	h.router.leave(s, nil, silent)
	h.closeMedia(s)
}

// overflow ends a session whose outbox filled up: a slow consumer is
// disconnected so that it never holds up anyone else.
func (h *Hub) overflow(s *session) {
	h.st.slowConsumers.Add(1)
	h.mu.Lock()
	c := s.conn
	h.mu.Unlock()
	logx.Infow("signal: slow consumer disconnected", logx.Field("peer", s.id))
	h.endSession(s)
	if c != nil {
		c.kill()
	}
}

// iceServers mints fresh credentials for s.
func (h *Hub) iceServers(s *session) ([]proto.ICEServer, auth.Credential) {
	cred := h.issuer.Issue(s.user)
	urls := h.router.bus.ICEURLs(h.urls)
	var servers []proto.ICEServer
	if len(urls.STUN) > 0 {
		servers = append(servers, proto.ICEServer{URLs: urls.STUN})
	}
	if len(urls.TURN) > 0 {
		servers = append(servers, proto.ICEServer{URLs: urls.TURN, Username: cred.Username, Credential: cred.Password})
	}
	if servers == nil {
		servers = []proto.ICEServer{}
	}
	return servers, cred
}

func (h *Hub) iceMessage(s *session, id string) []byte {
	servers, cred := h.iceServers(s)
	return proto.Marshal(proto.ICE{V: proto.Version, Type: proto.TypeICE, ID: id, IceServers: servers,
		IceTTL: int64(cred.TTL / time.Second), IceExpires: cred.Expires.Unix()})
}

// refreshAfter is when credentials are pushed again: at 80 % of their TTL.
func (h *Hub) refreshAfter() time.Duration { return h.issuer.TTL() * 8 / 10 }

func (h *Hub) helloReply(id string, s *session, resume string, resumed bool, v roomView) []byte {
	servers, cred := h.iceServers(s)
	m := proto.Hello{
		V: proto.Version, Type: proto.TypeHello, ID: id, PeerID: s.id, Resume: resume, Resumed: resumed,
		IceServers: servers, IceTTL: int64(cred.TTL / time.Second), IceExpires: cred.Expires.Unix(),
		Limits:    proto.Limits{MaxMessageBytes: proto.MaxMessageBytes, MessagesPerSecond: h.cfg.MessagesPerSecond, RoomSize: h.router.size},
		Heartbeat: proto.Heartbeat{Interval: h.cfg.PingInterval.Seconds(), Timeout: h.cfg.IdleTimeout.Seconds()},
	}
	if resumed {
		m.Room = v.name
		if v.name != "" {
			m.Peers, m.Media, m.Settings, m.Host = v.peers, v.media, v.settings, v.host
		}
	}
	return proto.Marshal(m)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n characters of lowercase base32 from crypto/rand.
func randomID(n int) string {
	b := make([]byte, (n*5+7)/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b)[:n]
}

// tokenUser is the TURN user part of a token's sub: the same for every
// session and API call of that sub, so relay quotas count per user, and
// unknown to anyone without the TURN secret (auth.Issuer.KeyedUser), and
// the same on every node of a cluster.
func (h *Hub) tokenUser(sub string) string {
	return h.issuer.KeyedUser(strings.ReplaceAll(sub, ":", "_"), sub)
}

// randomToken returns 192 bits as base64url, for resume tokens.
func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authFailed counts a failed authentication from key.
func (h *Hub) authFailed(key, why string) {
	h.st.authFailures.Add(1)
	h.fails.fail(key)
	logx.Debugw("signal: authentication failed", logx.Field("ip", key), logx.Field("why", why))
}

// newResumeToken returns a fresh resume token. On a node that shares rooms
// with others it ends with ".<node id>", so that any node finds the
// session's node.
func (h *Hub) newResumeToken() string {
	if node := h.router.bus.NodeID(); node != "" {
		return "r_" + randomToken() + "." + node
	}
	return "r_" + randomToken()
}

// tokenNode is the node id at the end of a resume token
// ("r_<random>.<node>"); random tokens are base64url, which has no '.'.
func tokenNode(tok string) string {
	i := strings.IndexByte(tok, '.')
	if !strings.HasPrefix(tok, "r_") || i < 0 || !proto.ValidASCIIName(tok[i+1:]) {
		return "" // a single node's token, or not a possible node id
	}
	return tok[i+1:]
}

// StartBus makes the hub share its rooms with other nodes through b (the
// Redis bus of cluster mode, docs/cluster.md) instead of serving them alone.
// Call it after NewHub and before serving; Stop stops b. A bus whose
// backend is unreachable is not an error: the hub then serves its rooms
// alone, and says so in Ready, until the bus is connected.
func (h *Hub) StartBus(b RoomBus) error {
	if _, local := h.router.bus.(localBus); !local {
		return errors.New("signal: StartBus called twice")
	}
	h.router.bus = b
	b.Start(&Rooms{h: h, r: h.router})
	return nil
}

// NodeID is this node's id among the nodes sharing rooms ("" on a single
// node).
func (h *Hub) NodeID() string { return h.router.bus.NodeID() }

// Ready reports whether the hub serves as configured: nil on a single node
// and on a node connected to the others; otherwise why not (the node still
// serves its own rooms). It backs /readyz.
func (h *Hub) Ready() error {
	h.mu.Lock()
	stopping := h.stopping
	h.mu.Unlock()
	if stopping {
		return errors.New("signal: shutting down")
	}
	return h.router.bus.Health()
}

// takeOverRemote resumes on this node a session of another node.
func (h *Hub) takeOverRemote(tok string, c *conn) (*session, string, *conn) {
	node := tokenNode(tok)
	if node == "" {
		return nil, "", nil
	}
	rec, items := h.router.bus.TakeOver(node, tok)
	if rec == nil {
		return nil, "", nil
	}
	s := &session{id: rec.Peer, user: rec.User, claims: rec.Claims, name: rec.Name, state: rec.State,
		client: rec.Client, host: rec.Host, since: rec.Since, audioHeld: rec.Held, out: newOutbox(h.cfg.QueueSize), conn: c}
	for _, b := range items {
		s.out.push(b, true)
	}
	defer h.router.bus.Drain(s.id) // whatever is still held for s, had it not entered its room
	h.mu.Lock()
	if h.stopping || h.sessions[s.id] != nil {
		h.mu.Unlock()
		return nil, "", nil
	}
	s.resume = h.newResumeToken()
	h.sessions[s.id] = s
	h.byResume[s.resume] = s
	h.mu.Unlock()
	h.st.sessions.Add(1)
	if rec.Room != "" {
		h.rejoin(s, rec.Room)
	}
	logx.Debugw("signal: session taken over from another node", logx.Field("peer", s.id))
	return s, s.resume, nil
}

// rejoin puts a session taken over from another node back into its room,
// where it may count already: on this node alone if the bus cannot.
func (h *Hub) rejoin(s *session, room string) {
	switch h.router.bus.Join(&Joining{Room: room, Peer: s.id, Resumed: true, r: h.router, s: s}) {
	case JoinLocal:
		h.router.completeJoin(s, room, "", nil, true, nil)
	case JoinFull:
		logx.Infow("signal: resumed session could not re-enter its full room", logx.Field("peer", s.id), logx.Field("room", room))
	}
}

// handOff gives the session of resume token tok to node, which a client
// resumed on: the session ends here without peer-left, its old socket (if
// any) is closed as replaced, and the signals queued for it travel along.
func (h *Hub) handOff(tok, node string) (*SessionRecord, [][]byte, bool) {
	h.mu.Lock()
	s := h.byResume[tok]
	if s == nil || s.ended || h.stopping {
		h.mu.Unlock()
		return nil, nil, false
	}
	s.ended = true
	delete(h.sessions, s.id)
	delete(h.byResume, tok)
	if s.timer != nil && s.timer.Stop() {
		h.wg.Done()
	}
	s.timer = nil
	old := s.conn
	s.conn = nil
	h.mu.Unlock()
	h.st.sessions.Add(-1)
	room, m := h.router.handOff(s, node)
	h.closeMedia(s)
	items := s.out.handOff()
	if old != nil {
		old.requestClose(proto.CloseReplaced, nil)
	}
	return &SessionRecord{Peer: s.id, User: s.user, Claims: s.claims, Name: m.Name, State: m.State, Room: room, Client: s.client,
		Host: m.Host, Since: m.Since, Held: h.router.held(s)}, items, true
}
