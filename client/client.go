package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/rtcd/rtcd/signal/proto"
)

// Errors returned by Client methods.
var (
	ErrClosed      = errors.New("client: closed")
	ErrUnknownPeer = errors.New("client: unknown peer")
	ErrNoChannel   = errors.New("client: data channel not open")
)

const (
	resumeWindow   = 30 * time.Second // docs/protocol.md §7
	readTimeout    = 60 * time.Second // server pings every 20 s, drops after 45 s
	writeTimeout   = 10 * time.Second
	requestTimeout = 10 * time.Second
)

// Config configures a Client. The zero value plus URL is a working peer that
// accepts every ICE path, sends no video and still answers data channels.
type Config struct {
	// URL of the daemon: ws(s)://host:port/ws, or http(s)://host:port (then
	// the /ws path is used).
	URL string
	// Name is the display name sent in hello; empty lets the server pick.
	Name string
	// Token is the join token for servers in token mode.
	Token string
	// Origin, when set, is sent as the WebSocket Origin header. Go clients may
	// omit it; the probe sets it to check the server's origin policy.
	Origin string
	// RelayOnly sets ICETransportPolicy relay: every path goes through TURN.
	RelayOnly bool
	// TURNTransports keeps only TURN URLs with these client-to-relay
	// transports ("udp", "tcp", "tls"); empty keeps all.
	TURNTransports []string
	// Video adds a synthetic VP8 video track to every PeerConnection.
	Video bool
	// NoDataChannel leaves out the data channel (media only).
	NoDataChannel bool
	// TLSConfig, when set, is used for wss:// (e.g. RootCAs for a private
	// CA). pion's TURN-over-TLS connections always use the system roots
	// (SSL_CERT_FILE can point them elsewhere).
	TLSConfig *tls.Config
	// DialTimeout bounds the WebSocket handshake and the hello exchange.
	// Defaults to 10 seconds.
	DialTimeout time.Duration
	// SettingEngine, when set, adjusts pion's SettingEngine before the API is
	// built (e.g. to restrict ICE to loopback in tests).
	SettingEngine func(*webrtc.SettingEngine)
	// Logf, when set, receives the negotiation trace: every offer, answer,
	// collision, ICE restart, candidate and state change, one line each.
	// It is how a stalled call is debugged; `rtcd probe --trace` prints it.
	Logf func(format string, args ...any)
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventPeerJoined    EventKind = iota + 1 // a peer joined the room (or was there when we joined)
	EventPeerLeft                           // a peer left; its PeerConnection is closed
	EventPeerUpdated                        // a peer changed name or state
	EventConnected                          // the PeerConnection with Peer reached "connected"
	EventConnState                          // any other PeerConnection state change (State)
	EventDataOpen                           // the data channel with Peer is open
	EventData                               // Data arrived on the data channel from Peer
	EventTrack                              // a remote track from Peer started (Data = codec MIME type)
	EventSignalingLost                      // the WebSocket dropped (Err); a resume follows
	EventResumed                            // the session was resumed, or re-created (Data = "new")
	EventClosed                             // signaling ended for good (Err)
	EventError                              // an error message or local failure (Err)
)

var eventNames = map[EventKind]string{
	EventPeerJoined: "peer-joined", EventPeerLeft: "peer-left", EventPeerUpdated: "peer-updated",
	EventConnected: "connected", EventConnState: "conn-state", EventDataOpen: "data-open",
	EventData: "data", EventTrack: "track", EventSignalingLost: "signaling-lost",
	EventResumed: "resumed", EventClosed: "closed", EventError: "error",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing that happened; read them from Client.Events.
type Event struct {
	Kind  EventKind
	Peer  string
	Info  PeerInfo                   // for presence events
	State webrtc.PeerConnectionState // for EventConnected / EventConnState
	Data  []byte
	Err   error
	At    time.Time
}

// Client is one signaling session and its PeerConnections. Its methods are
// safe for concurrent use.
type Client struct {
	cfg    Config
	api    *webrtc.API
	video  *webrtc.TrackLocalStaticSample // nil without Config.Video
	events *fifo[Event]
	evOut  chan Event
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	writeMu sync.Mutex // serializes writes on ws; never held while taking mu

	mu         sync.Mutex // guards the following fields
	ws         *websocket.Conn
	closed     bool
	peerID     string
	resume     string
	iceServers []webrtc.ICEServer
	iceExpires time.Time
	limits     Limits
	room       string
	media      string // the room's media mode: proto.MediaMesh or proto.MediaSFU
	infos      map[string]PeerInfo
	peers      map[string]*peer
	waiters    map[string]chan frame
	nextID     int
	backlog    []proto.ClientMessage // sent while the socket was down, flushed on resume
	retryAfter time.Duration
}

// Dial connects to the daemon and completes the hello exchange.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	se := webrtc.SettingEngine{}
	if cfg.RelayOnly {
		// pion otherwise waits 2 s before nominating a relay pair, hoping for
		// a direct one; with relay-only there is nothing to wait for.
		se.SetRelayAcceptanceMinWait(0)
	}
	bn, err := newBoundedNet()
	if err != nil {
		return nil, err
	}
	se.SetNet(bn)
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	c := &Client{
		cfg:     cfg,
		api:     webrtc.NewAPI(webrtc.WithSettingEngine(se)),
		events:  newFIFO[Event](),
		evOut:   make(chan Event),
		done:    make(chan struct{}),
		infos:   map[string]PeerInfo{},
		peers:   map[string]*peer{},
		waiters: map[string]chan frame{},
	}
	if cfg.Video {
		track, err := webrtc.NewTrackLocalStaticSample(
			webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "rtcd-"+randomID())
		if err != nil {
			return nil, fmt.Errorf("client: video track: %w", err)
		}
		c.video = track
	}
	ws, reply, err := c.connect(ctx, "")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.ws = ws
	c.applyHello(reply)
	c.mu.Unlock()

	c.wg.Add(2)
	go c.pumpEvents()
	go c.readLoop()
	if c.video != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); sendVideo(c.video, c.done) }()
	}
	return c, nil
}

// WebSocketURL turns a daemon URL (http, https, ws or wss) into the /ws URL.
func WebSocketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("client: bad URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("client: bad URL %q: scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: bad URL %q: no host", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/ws"
	}
	return u.String(), nil
}

// connect dials the WebSocket and sends hello (with resume when set), and
// returns the socket and the server's hello reply.
func (c *Client) connect(ctx context.Context, resume string) (*websocket.Conn, *proto.Hello, error) {
	wsURL, err := WebSocketURL(c.cfg.URL)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	hdr := http.Header{}
	if c.cfg.Origin != "" {
		hdr.Set("Origin", c.cfg.Origin)
	}
	d := websocket.Dialer{HandshakeTimeout: c.cfg.DialTimeout, TLSClientConfig: c.cfg.TLSConfig}
	ws, resp, err := d.DialContext(ctx, wsURL, hdr)
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("client: websocket %s: %w (HTTP %d)", wsURL, err, resp.StatusCode)
		}
		return nil, nil, fmt.Errorf("client: websocket %s: %w", wsURL, err)
	}
	deadline, _ := ctx.Deadline()
	_ = ws.SetWriteDeadline(deadline)
	_ = ws.SetReadDeadline(deadline)
	hello := proto.ClientMessage{V: proto.V1, Type: proto.TypeHello, ID: "hello", Name: optional(c.cfg.Name), Token: c.cfg.Token, Resume: resume}
	if err := ws.WriteJSON(hello); err != nil {
		_ = ws.Close()
		return nil, nil, fmt.Errorf("client: send hello: %w", err)
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			_ = ws.Close()
			return nil, nil, fmt.Errorf("client: read hello reply: %w", err)
		}
		m, err := decodeFrame(data)
		if err != nil {
			_ = ws.Close()
			return nil, nil, fmt.Errorf("client: read hello reply: %w", err)
		}
		switch m.Type {
		case proto.TypeHello:
			_ = ws.SetWriteDeadline(time.Time{})
			_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
			return ws, m.hello, nil
		case proto.TypeError:
			_ = ws.Close()
			return nil, nil, fmt.Errorf("client: hello: %w", &ServerError{Code: m.Code, Message: m.Message})
		}
		// Anything else before the reply is unexpected; ignore it.
	}
}

// applyHello records a hello reply. Caller holds c.mu.
func (c *Client) applyHello(m *proto.Hello) {
	c.peerID = m.PeerID
	c.resume = m.Resume
	c.limits = m.Limits
	c.applyICE(m.IceServers, m.IceExpires)
}

// applyICE records fresh ICE servers. Caller holds c.mu.
func (c *Client) applyICE(servers []proto.ICEServer, expires int64) {
	if len(servers) == 0 {
		return
	}
	c.iceServers = iceConfig(servers)
	if expires > 0 {
		c.iceExpires = time.Unix(expires, 0)
	}
}

// pushICE applies the current ICE servers to every PeerConnection
// (docs/protocol.md §3.7: only new allocations need the new credentials).
func (c *Client) pushICE() {
	c.mu.Lock()
	cfg := c.rtcConfig()
	peers := make([]*peer, 0, len(c.peers))
	for _, p := range c.peers {
		peers = append(peers, p)
	}
	c.mu.Unlock()
	for _, p := range peers {
		p.setICEServers(cfg)
	}
}

// rtcConfig is the PeerConnection configuration. Caller holds c.mu.
func (c *Client) rtcConfig() webrtc.Configuration {
	cfg := webrtc.Configuration{ICEServers: FilterICEServers(c.iceServers, c.cfg.TURNTransports)}
	if c.cfg.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// PeerID is this session's id on the server.
func (c *Client) PeerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerID
}

// ICEServers are the STUN/TURN servers (with credentials) from the server,
// before the TURNTransports filter.
func (c *Client) ICEServers() []webrtc.ICEServer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]webrtc.ICEServer(nil), c.iceServers...)
}

// ICEExpires is when the current TURN credentials expire.
func (c *Client) ICEExpires() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.iceExpires
}

// Limits are the limits the server advertised in hello.
func (c *Client) Limits() Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// Events delivers what happens, in order. Nothing is dropped: the queue is
// unbounded, so read it (or stop reading only by closing the client).
// The channel is closed after Close.
func (c *Client) Events() <-chan Event { return c.evOut }

func (c *Client) emit(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	c.events.push(e)
}

func (c *Client) pumpEvents() {
	defer c.wg.Done()
	defer close(c.evOut)
	for {
		e, ok := c.events.pop(c.done)
		if !ok {
			return
		}
		select {
		case c.evOut <- e:
		case <-c.done:
			return
		}
	}
}

// ErrWaiting is Join's answer in a locked room (docs/protocol.md §3.11):
// the client waits in the room's lobby, and once a host admits it, its
// peers arrive as EventPeerJoined events as if Join had returned them.
var ErrWaiting = errors.New("client: waiting in the lobby of a locked room for a host to admit us")

// Join joins a room and returns the peers already in it. The client then
// opens a PeerConnection to each of them and sends the offers; peers that
// join later call us (docs/protocol.md §3.4). In a locked room it returns
// ErrWaiting.
func (c *Client) Join(ctx context.Context, room string) ([]PeerInfo, error) {
	c.mu.Lock()
	c.room = room
	c.mu.Unlock()
	reply, err := c.request(ctx, proto.ClientMessage{Type: proto.TypeJoin, Room: room})
	if err != nil {
		c.mu.Lock()
		c.room = ""
		c.mu.Unlock()
		return nil, fmt.Errorf("client: join %q: %w", room, err)
	}
	if reply.Type == proto.TypeWaiting {
		return nil, ErrWaiting
	}
	return reply.Peers, nil
}

// Leave leaves the room and closes every PeerConnection.
func (c *Client) Leave(ctx context.Context) error {
	if _, err := c.request(ctx, proto.ClientMessage{Type: proto.TypeLeave}); err != nil {
		return fmt.Errorf("client: leave: %w", err)
	}
	c.mu.Lock()
	c.room = ""
	peers := c.peers
	c.peers = map[string]*peer{}
	c.infos = map[string]PeerInfo{}
	c.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	return nil
}

// Update changes this peer's name and/or media state for the others.
// An empty name keeps the name, and a nil state the state.
func (c *Client) Update(name string, state *proto.StateUpdate) error {
	return c.send(proto.ClientMessage{Type: proto.TypeUpdate, Name: optional(name), State: state})
}

// optional is s as an optional field: nil when empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RefreshICE asks the server for fresh TURN credentials and applies them.
func (c *Client) RefreshICE(ctx context.Context) error {
	_, err := c.request(ctx, proto.ClientMessage{Type: proto.TypeICE})
	return err
}

// Ping does a signaling round trip and returns its duration.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := c.request(ctx, proto.ClientMessage{Type: proto.TypePing}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Send sends a binary message on the data channel to one peer.
func (c *Client) Send(peerID string, data []byte) error {
	p := c.peer(peerID)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, peerID)
	}
	return p.send(data, false)
}

// SendChat sends a chat line the way the web app does: a JSON text message
// proto.DataMessage{T: "chat"} on the data channel.
func (c *Client) SendChat(peerID, text string) error {
	p := c.peer(peerID)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, peerID)
	}
	return p.send(proto.Marshal(proto.DataMessage{T: proto.DataChat, Text: text}), true)
}

// Peers lists the remote peers that have a PeerConnection.
func (c *Client) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.peers))
	for id := range c.peers {
		ids = append(ids, id)
	}
	return ids
}

// Path reports the selected ICE candidate pair with a peer.
func (c *Client) Path(peerID string) (PathInfo, error) {
	p := c.peer(peerID)
	if p == nil {
		return PathInfo{}, fmt.Errorf("%w: %s", ErrUnknownPeer, peerID)
	}
	return p.path()
}

// Media reports the RTP received from a peer.
func (c *Client) Media(peerID string) (MediaStats, error) {
	p := c.peer(peerID)
	if p == nil {
		return MediaStats{}, fmt.Errorf("%w: %s", ErrUnknownPeer, peerID)
	}
	return p.media(), nil
}

// RestartICE runs an ICE restart with a peer (new offer with new ICE
// credentials), e.g. after the network changed.
func (c *Client) RestartICE(peerID string) error {
	p := c.peer(peerID)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnknownPeer, peerID)
	}
	p.restartICE()
	return nil
}

func (c *Client) peer(id string) *peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[id]
}

// Close leaves, closes every PeerConnection and the WebSocket, and waits for
// the client's goroutines. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ws := c.ws
	peers := c.peers
	c.peers = map[string]*peer{}
	for id, w := range c.waiters {
		close(w)
		delete(c.waiters, id)
	}
	c.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	if ws != nil {
		c.writeMu.Lock()
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
		c.writeMu.Unlock()
		_ = ws.Close()
	}
	close(c.done)
	c.events.close()
	c.wg.Wait()
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// send writes one message, or queues it while the socket is down.
func (c *Client) send(m proto.ClientMessage) error {
	m.V = proto.V1
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	ws := c.ws
	if ws == nil {
		c.backlog = append(c.backlog, m)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := ws.WriteJSON(m); err != nil {
		// The reader sees the same broken socket and resumes; resend then.
		c.mu.Lock()
		c.backlog = append(c.backlog, m)
		c.mu.Unlock()
		return nil
	}
	return nil
}

// request sends m with a fresh id and waits for the reply carrying that id.
func (c *Client) request(ctx context.Context, m proto.ClientMessage) (frame, error) {
	ch := make(chan frame, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return frame{}, ErrClosed
	}
	c.nextID++
	m.ID = "r" + strconv.Itoa(c.nextID)
	c.waiters[m.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, m.ID)
		c.mu.Unlock()
	}()
	if err := c.send(m); err != nil {
		return frame{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	select {
	case r, ok := <-ch:
		if !ok {
			return frame{}, ErrClosed
		}
		if r.Type == proto.TypeError {
			return r, &ServerError{Code: r.Code, Message: r.Message}
		}
		return r, nil
	case <-ctx.Done():
		return frame{}, fmt.Errorf("client: %s: no reply: %w", m.Type, ctx.Err())
	}
}

// readLoop reads messages until Close, resuming the session when the socket
// drops.
func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		err := c.readFrom(ws)
		_ = ws.Close()
		if c.isClosed() {
			return
		}
		c.mu.Lock()
		c.ws = nil
		c.mu.Unlock()
		c.emit(Event{Kind: EventSignalingLost, Err: err})
		if err := c.reconnect(); err != nil {
			if !c.isClosed() {
				c.emit(Event{Kind: EventClosed, Err: err})
			}
			return
		}
	}
}

func (c *Client) readFrom(ws *websocket.Conn) error {
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("client: read: %w", err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(readTimeout))
		m, err := decodeFrame(data)
		if err != nil {
			c.emit(Event{Kind: EventError, Err: fmt.Errorf("client: bad message from server: %w", err)})
			continue
		}
		c.handle(m)
	}
}

// handle processes one server message on the reader goroutine.
func (c *Client) handle(m frame) {
	switch m.Type {
	case proto.TypeJoined:
		c.mu.Lock()
		c.room, c.media = m.Room, m.Media
		for _, info := range m.Peers {
			c.infos[info.ID] = info
		}
		c.mu.Unlock()
		for _, info := range m.Peers {
			c.emit(Event{Kind: EventPeerJoined, Peer: info.ID, Info: info})
			if m.Media != proto.MediaSFU {
				c.getPeer(info.ID, true)
			}
		}
		if m.Media == proto.MediaSFU {
			c.getPeer(proto.SFUPeer, true)
		}
	case proto.TypeMedia:
		if m.Mode == proto.MediaSFU {
			c.toSFU()
		}
	case proto.TypePeerJoined:
		if m.Peer != nil {
			c.mu.Lock()
			c.infos[m.Peer.ID] = *m.Peer
			c.mu.Unlock()
			c.emit(Event{Kind: EventPeerJoined, Peer: m.Peer.ID, Info: *m.Peer})
		}
	case proto.TypePeerLeft:
		if m.Peer != nil {
			c.dropPeer(m.Peer.ID)
			c.emit(Event{Kind: EventPeerLeft, Peer: m.Peer.ID, Info: *m.Peer})
		}
	case proto.TypePeerUpdated:
		if m.Peer != nil {
			c.mu.Lock()
			info := c.infos[m.Peer.ID]
			info.ID = m.Peer.ID
			if m.Peer.Name != "" {
				info.Name = m.Peer.Name
			}
			if m.Peer.State != nil {
				info.State = m.Peer.State
			}
			c.infos[m.Peer.ID] = info
			c.mu.Unlock()
			c.emit(Event{Kind: EventPeerUpdated, Peer: m.Peer.ID, Info: info})
		}
	case proto.TypeSignal:
		if m.From == "" {
			return
		}
		if p := c.getPeer(m.From, false); p != nil {
			p.onSignal(m.Kind, m.Data)
		}
	case proto.TypeICE:
		c.mu.Lock()
		c.applyICE(m.ice.IceServers, m.ice.IceExpires)
		c.mu.Unlock()
		c.pushICE()
	case proto.TypeError:
		if m.ID == "" || !c.deliver(m) {
			c.emit(Event{Kind: EventError, Err: &ServerError{Code: m.Code, Message: m.Message}})
		}
		return
	case proto.TypeBye:
		c.mu.Lock()
		if m.Reconnect != nil && *m.Reconnect && m.RetryAfterMs > 0 {
			c.retryAfter = time.Duration(m.RetryAfterMs) * time.Millisecond
		}
		c.mu.Unlock()
	}
	if m.ID != "" {
		c.deliver(m)
	}
}

// deliver hands a reply to the request waiting for its id.
func (c *Client) deliver(m frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.waiters[m.ID]
	if !ok {
		return false
	}
	delete(c.waiters, m.ID)
	ch <- m
	return true
}

// getPeer returns the peer for id, creating its PeerConnection when needed.
// initiator is true when we start the connection (we joined after them).
func (c *Client) getPeer(id string, initiator bool) *peer {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if p, ok := c.peers[id]; ok {
		c.mu.Unlock()
		return p
	}
	info, known := c.infos[id]
	if id == proto.SFUPeer {
		// The media server is the impolite side (docs/protocol.md §3.10).
		polite := true
		info, known = PeerInfo{ID: id, Polite: &polite}, true
	}
	if !known {
		// A signal from a peer we were not told about; the server only
		// routes within the room, so treat it as a member. Be the polite
		// side by default so that glare resolves in its favour.
		polite := true
		info = PeerInfo{ID: id, Polite: &polite}
	}
	p, err := newPeer(c, info, c.rtcConfig(), initiator)
	if err != nil {
		c.mu.Unlock()
		c.emit(Event{Kind: EventError, Peer: id, Err: err})
		return nil
	}
	c.peers[id] = p
	c.mu.Unlock()
	p.start()
	return p
}

// toSFU moves the call to the media server when the room does: the
// connections to the other members close and one to the server opens.
func (c *Client) toSFU() {
	c.mu.Lock()
	if c.media == proto.MediaSFU {
		c.mu.Unlock()
		return
	}
	c.media = proto.MediaSFU
	var mesh []*peer
	for id, p := range c.peers {
		if id != proto.SFUPeer {
			mesh = append(mesh, p)
			delete(c.peers, id)
		}
	}
	c.mu.Unlock()
	for _, p := range mesh {
		p.close()
	}
	c.getPeer(proto.SFUPeer, true)
}

// MediaMode is the media mode of the room joined: proto.MediaSFU when the
// call goes through the media server, whose connection is the peer
// proto.SFUPeer ("sfu") for Path and Media; proto.MediaMesh otherwise.
func (c *Client) MediaMode() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.media == "" {
		return proto.MediaMesh
	}
	return c.media
}

func (c *Client) dropPeer(id string) {
	c.mu.Lock()
	p := c.peers[id]
	delete(c.peers, id)
	delete(c.infos, id)
	c.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// reconnect takes the session back with hello{resume} within the resume
// window; if the server forgot it, it starts a new session and rejoins.
func (c *Client) reconnect() error {
	deadline := time.Now().Add(resumeWindow)
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		wait := backoff
		if c.retryAfter > 0 {
			wait, c.retryAfter = c.retryAfter, 0
		}
		resume := c.resume
		c.mu.Unlock()
		if attempt > 0 || wait != backoff {
			select {
			case <-time.After(wait):
			case <-c.done:
				return ErrClosed
			}
		}
		if time.Now().After(deadline) {
			return errors.New("client: could not resume within the resume window")
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		ws, reply, err := c.connect(ctx, resume)
		cancel()
		var se *ServerError
		if errors.As(err, &se) && se.Code == proto.CodeNoSuchSession {
			return c.newSession()
		}
		if err != nil {
			c.emit(Event{Kind: EventError, Err: fmt.Errorf("client: resume: %w", err)})
			if backoff < 2*time.Second {
				backoff *= 2
			}
			continue
		}
		if !c.lockAndAdopt(ws, reply) {
			return ErrClosed
		}
		present := map[string]bool{}
		for _, info := range reply.Peers {
			present[info.ID] = true
			c.infos[info.ID] = info
		}
		var gone []string
		for id := range c.peers {
			if !present[id] {
				gone = append(gone, id)
			}
		}
		backlog := c.backlog
		c.backlog = nil
		c.mu.Unlock()
		for _, id := range gone {
			c.dropPeer(id)
			c.emit(Event{Kind: EventPeerLeft, Peer: id})
		}
		c.pushICE()
		c.emit(Event{Kind: EventResumed})
		for _, m := range backlog {
			_ = c.send(m)
		}
		return nil
	}
}

// lockAndAdopt takes c.mu and makes ws, with its hello reply, the client's
// socket; unless the client was closed meanwhile: then it closes ws, unlocks
// and reports false. On true, c.mu stays held.
func (c *Client) lockAndAdopt(ws *websocket.Conn, reply *proto.Hello) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = ws.Close()
		return false
	}
	c.ws = ws
	c.applyHello(reply)
	return true
}

// newSession replaces a session the server no longer knows: fresh hello,
// every PeerConnection closed, and the room joined again.
func (c *Client) newSession() error {
	ws, reply, err := c.connect(context.Background(), "")
	if err != nil {
		return err
	}
	if !c.lockAndAdopt(ws, reply) {
		return ErrClosed
	}
	peers := c.peers
	c.peers = map[string]*peer{}
	c.infos = map[string]PeerInfo{}
	c.backlog = nil
	room := c.room
	c.mu.Unlock()
	for id, p := range peers {
		p.close()
		c.emit(Event{Kind: EventPeerLeft, Peer: id})
	}
	c.emit(Event{Kind: EventResumed, Data: []byte("new")})
	if room != "" {
		// The joined reply is handled by the reader like any other.
		_ = c.send(proto.ClientMessage{Type: proto.TypeJoin, Room: room, ID: "rejoin"})
	}
	return nil
}

// randomID is 8 random hex digits.
func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
