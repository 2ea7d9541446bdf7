package turn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v4"
	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/internal/callback"
	"github.com/zeromicro/go-zero/core/logx"
)

// stopTimeout bounds how long Stop waits for pion's goroutines; it fits in
// go-zero's 5.5 s shutdown window together with the HTTP drain.
const stopTimeout = 3 * time.Second

// socketBuffer is the receive/send buffer asked for on listen sockets; the
// kernel caps it at net.core.rmem_max/wmem_max.
const socketBuffer = 4 << 20

// Stats are monotonic counters (except AllocationsActive) for metrics and
// tests. Denials are counted here rather than logged above debug level,
// because browsers cause them constantly.
type Stats struct {
	AllocationsActive  int64  // live allocations
	AllocationsCreated uint64 // allocations ever created
	PermissionDenials  uint64 // CreatePermission/ChannelBind peers refused by peerPolicy
	OwnPortDrops       uint64 // relayed datagrams to the own relay IP at a port without a live allocation
	QuotaRefusals      uint64 // Allocate refused with 486
	// AddressQuotaRefusals counts, of QuotaRefusals, those at MaxAllocationsPerAddress.
	AddressQuotaRefusals uint64
	TCPRefused           uint64 // TCP/TLS connections closed on accept (MaxTCPConnections or per address)
	TCPTimeouts          uint64 // TCP/TLS connections closed for no first message, or idle
	BindingRateLimited   uint64 // STUN Binding requests dropped by the per-address rate limit
	AuthFailures         uint64 // malformed, expired, forged or wrong-realm credentials
	ExpiredAccepted      uint64 // requests on a live allocation whose credential had expired
	PacketsFromPeers     uint64 // datagrams relayed from peers to clients
	BytesFromPeers       uint64
	PacketsToPeers       uint64 // datagrams relayed from clients to peers
	BytesToPeers         uint64
	FastFromPeers        uint64 // of PacketsFromPeers, those rtcd's ChannelData fast path relayed
	FastToPeers          uint64 // of PacketsToPeers, likewise
	// KernelFromPeers and KernelToPeers count, of PacketsFromPeers and
	// PacketsToPeers, those the kernel fast path relayed (never seen by
	// rtcd's sockets; read from the program's per-CPU counters).
	KernelFromPeers uint64
	KernelToPeers   uint64
	// KernelMisses counts channel bindings the kernel fast path could not
	// take (map full, no route, IPv6, TCP, own relay address): relayed in
	// user space instead.
	KernelMisses uint64
	// KernelFastPath reports whether the kernel fast path is attached.
	KernelFastPath bool
	LoopQueueDrops uint64 // datagrams an event loop dropped because pion's reader fell behind
	// FastPathMisses counts allocations and channels pion reported with
	// addresses the fast path could not match to rtcd's sockets: they are
	// relayed by pion alone. Always 0 unless pion stops handing back the
	// net.Addr values rtcd's conns returned (see tuning).
	FastPathMisses uint64
}

type counters struct {
	allocationsActive  atomic.Int64
	allocationsCreated atomic.Uint64
	permissionDenials  atomic.Uint64
	ownPortDrops       atomic.Uint64
	quotaRefusals      atomic.Uint64
	addrQuotaRefusals  atomic.Uint64
	tcpRefused         atomic.Uint64
	tcpTimeouts        atomic.Uint64
	bindingLimited     atomic.Uint64
	authFailures       atomic.Uint64
	expiredAccepted    atomic.Uint64
	loopQueueDrops     atomic.Uint64
	fastPathMisses     atomic.Uint64
	kernelMisses       atomic.Uint64
}

// Server is rtcd's STUN/TURN relay: pion/turn with rtcd's credentials
// (auth.Issuer, coturn expiry semantics), peer filtering, quotas, SO_REUSEPORT
// UDP sockets and a TCP listener, and a Stop that waits for its goroutines.
type Server struct {
	cfg Config
	// events admits pion's allocation events until Stop shuts it.
	events   callback.Gate
	issuer   *auth.Issuer
	policy   *peerPolicy
	publicIP netip.Addr // advertised relay IPv4
	own4     [4]byte    // publicIP as bytes, for the per-packet check
	ownPorts bool       // restrict own4 to live relay ports (false when AllowPeers lists it)
	// servicePorts are own4's ports open besides live relays (OpenOwnPort).
	servicePorts portSet
	bindIP       netip.Addr    // relay sockets bind here
	detected     bool          // publicIP was detected, not configured
	tcpIdle      time.Duration // the TCP deadlines (tcpconn.go); tests shorten them
	tcpFirst     time.Duration
	tcpNoAlloc   time.Duration
	chanTTL      time.Duration // pion's channel binding lifetime; 0: pion's default (tests shorten it)
	now          func() time.Time

	allocs    *allocTable
	bindings  *bindingLimiter // Binding requests over UDP, per client address
	livePorts portSet         // ports of live relay sockets, for ownPortOK
	readers   *group
	stats     counters
	stopping  atomic.Bool
	stuck     atomic.Bool // Stop timed out waiting for goroutines (tests assert it stays false)

	// The ChannelData fast path (fastpath.go): relays by the address pion
	// was given for them, client sides (listen sockets, TCP conns) by the
	// address pion's 5-tuples hold for them.
	tune        tuning
	relayByAddr sync.Map // net.Addr → *relayConn
	sides       sync.Map // net.Addr → clientSide
	// kf is the kernel fast path (kfast.go), nil when off; set in Start
	// before pion runs, closed in Stop after every relay.
	kf *kernelFast

	mu         sync.Mutex // guards the following fields
	started    bool
	stopped    bool
	pion       *pionturn.Server
	udp        []*listenerConn
	tcp        *trackedListener
	extra      []net.Listener // AddListener, before Start
	tcpConns   map[*tcpConn]struct{}
	tcpPerAddr map[netip.Addr]int // tcpConns by tcpConn.addr
	relays     map[*relayConn]struct{}
	loops      []*eventLoop // evloop_linux.go; none where unsupported or off
	// closedTraffic accumulates the counters of relays that have closed.
	closedTraffic relayTraffic
}

// New validates c and prepares a Server; it does not listen (see Start).
func New(c Config, issuer *auth.Issuer) (*Server, error) {
	return newServer(c, issuer, defaultTuning(c))
}

// newServer is New with the datagram paths set by tune.
func newServer(c Config, issuer *auth.Issuer, tune tuning) (*Server, error) {
	if issuer == nil {
		return nil, errors.New("turn: nil auth.Issuer")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	if c.UDPSockets == 0 {
		c.UDPSockets = runtime.NumCPU()
	}
	s := &Server{
		cfg:        c,
		tune:       tune,
		issuer:     issuer,
		tcpIdle:    tcpIdleTimeout,
		tcpFirst:   tcpFirstTimeout,
		tcpNoAlloc: tcpNoAllocTimeout,
		tcpPerAddr: make(map[netip.Addr]int),
		now:        time.Now,
		allocs:     newAllocTable(),
		readers:    newGroup(),
		tcpConns:   make(map[*tcpConn]struct{}),
		relays:     make(map[*relayConn]struct{}),
	}
	s.bindings = newBindingLimiter(c.BindingRate, c.BindingBurst, s.now)
	local := localIPv4s()
	if c.PublicIP != "" {
		s.publicIP, _ = parseIPv4("Turn.PublicIP", c.PublicIP)
	} else {
		s.publicIP = detectPublicIP(local)
		s.detected = true
	}
	s.own4 = s.publicIP.As4()
	switch {
	case c.RelayIP != "":
		s.bindIP, _ = parseRelayIP(c.RelayIP)
	case containsAddr(local, s.publicIP):
		s.bindIP = s.publicIP
	default:
		s.bindIP = netip.IPv4Unspecified()
	}
	p, err := newPeerPolicy(c.AllowPeers, c.DenyPeers, s.publicIP)
	if err != nil {
		return nil, err
	}
	s.policy = p
	// An operator who lists the own address in AllowPeers opened it fully.
	s.ownPorts = !matchAny(p.allow, s.publicIP, s.publicIP)
	return s, nil
}

// localIPv4s lists the unicast IPv4 addresses of the host's interfaces.
func localIPv4s() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Unmap().Is4() {
			out = append(out, pfx.Addr().Unmap())
		}
	}
	return out
}

// detectPublicIP picks the first global unicast, non-loopback IPv4 address,
// preferring a non-private one; else 127.0.0.1.
func detectPublicIP(local []netip.Addr) netip.Addr {
	var private netip.Addr
	for _, a := range local {
		if !a.IsGlobalUnicast() || a.IsLoopback() {
			continue
		}
		if !a.IsPrivate() && !netip.MustParsePrefix("100.64.0.0/10").Contains(a) {
			return a
		}
		if !private.IsValid() {
			private = a
		}
	}
	if private.IsValid() {
		return private
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, b := range list {
		if b == a {
			return true
		}
	}
	return false
}

// Start binds the UDP sockets and the TCP listener and starts serving. It
// returns once everything is bound; an address in use is an error naming it.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("turn: Start called twice or after Stop")
	}
	s.started = true
	udp, tcp, err := s.listen()
	if err != nil {
		for _, ln := range s.extra {
			_ = ln.Close()
		}
		s.stopped = true
		s.readers.close()
		return err
	}
	if err := s.startKernel(); err != nil {
		for _, pc := range udp {
			_ = pc.Close()
			pc.exited()
		}
		_ = tcp.Close()
		tcp.exited()
		for _, ln := range s.extra {
			_ = ln.Close()
		}
		s.stopped = true
		s.readers.close()
		return err
	}
	s.startLoops(udp)
	pcs := make([]pionturn.PacketConnConfig, len(udp))
	for i, pc := range udp {
		pcs[i] = pionturn.PacketConnConfig{
			PacketConn:            pc,
			RelayAddressGenerator: relayGen{s},
			PermissionHandler:     s.permissionHandler,
		}
	}
	lcs := []pionturn.ListenerConfig{{
		Listener:              tcp,
		RelayAddressGenerator: relayGen{s},
		PermissionHandler:     s.permissionHandler,
	}}
	var extra []*trackedListener
	for _, ln := range s.extra {
		if !s.readers.add() {
			break
		}
		tl := &trackedListener{Listener: ln, member: member{g: s.readers}, s: s}
		extra = append(extra, tl)
		lcs = append(lcs, pionturn.ListenerConfig{
			Listener:              tl,
			RelayAddressGenerator: relayGen{s},
			PermissionHandler:     s.permissionHandler,
		})
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		LoggerFactory:     logFactory{},
		Realm:             s.cfg.Realm,
		AuthHandler:       s.authHandler,
		QuotaHandler:      s.quotaHandler,
		EventHandler:      gatedEvents(&s.events, s.eventHandler()),
		// pion's default when 0 (10 minutes, RFC 8656 §12).
		ChannelBindTimeout: s.chanTTL,
	})
	if err != nil {
		for _, pc := range udp {
			_ = pc.Close()
			pc.exited()
		}
		_ = tcp.Close()
		tcp.exited()
		for _, tl := range extra {
			_ = tl.Close()
			tl.exited()
		}
		s.stopLoops()
		s.stopKernel()
		s.stopped = true
		s.readers.close()
		return fmt.Errorf("turn: start: %w", err)
	}
	s.pion, s.udp, s.tcp = srv, udp, tcp
	s.logStart()
	return nil
}

func (s *Server) logStart() {
	src := "configured"
	if s.detected {
		src = "detected"
	}
	logx.Infow("turn: relay listening",
		logx.Field("udp", s.udp[0].LocalAddr().String()),
		logx.Field("udpSockets", len(s.udp)),
		logx.Field("eventLoops", len(s.loops)),
		logx.Field("tcp", s.tcp.Addr().String()),
		logx.Field("realm", s.cfg.Realm),
		logx.Field("publicIP", s.publicIP.String()),
		logx.Field("publicIPSource", src),
		logx.Field("relayBind", s.bindIP.String()),
		logx.Field("relayPorts", strconv.Itoa(s.cfg.MinPort)+"-"+strconv.Itoa(s.cfg.MaxPort)))
}

// listen binds UDPSockets UDP sockets (SO_REUSEPORT) and one TCP listener on
// the same port. With port 0 the first UDP socket picks the port.
func (s *Server) listen() ([]*listenerConn, *trackedListener, error) {
	host, port, _ := net.SplitHostPort(s.cfg.Listen)
	tries := 1
	if port == "0" {
		tries = 8 // the TCP port may be taken when UDP picked it
	}
	var err error
	for i := 0; i < tries; i++ {
		var udp []*listenerConn
		var tcp *trackedListener
		udp, tcp, err = s.listenOnce(host, port)
		if err == nil {
			return udp, tcp, nil
		}
	}
	return nil, nil, err
}

func (s *Server) listenOnce(host, port string) ([]*listenerConn, *trackedListener, error) {
	ctx := context.Background()
	addr := net.JoinHostPort(host, port)
	// Probe without SO_REUSEPORT first: with it, a second rtcd (same user)
	// would silently share the port instead of failing with "in use".
	probe, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("Turn.Listen: listen udp %s: %w", addr, err)
	}
	addr = net.JoinHostPort(host, strconv.Itoa(probe.LocalAddr().(*net.UDPAddr).Port))
	_ = probe.Close()

	var udp []*listenerConn
	cleanup := func() {
		for _, pc := range udp {
			_ = pc.PacketConn.Close()
			pc.exited()
		}
	}
	lc := net.ListenConfig{}
	if s.cfg.UDPSockets > 1 {
		lc.Control = reusePort
	}
	for i := 0; i < s.cfg.UDPSockets; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("Turn.Listen: listen udp %s: %w", addr, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(socketBuffer)
			_ = uc.SetWriteBuffer(socketBuffer)
		}
		if !s.readers.add() {
			_ = pc.Close()
			cleanup()
			return nil, nil, errStopped
		}
		lc := &listenerConn{PacketConn: pc, member: member{g: s.readers}, fast: s.tune.fastPath, s: s}
		if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
			lc.local = &net.UDPAddr{IP: ua.IP, Port: ua.Port, Zone: ua.Zone} // a value of our own
		} else {
			lc.local, lc.fast = pc.LocalAddr(), false
		}
		if lc.fast {
			s.sides.Store(lc.local, clientSide(lc))
		}
		if uc, ok := pc.(*net.UDPConn); ok && s.tune.rawSend {
			lc.raw = newRawSender(uc)
		}
		udp = append(udp, lc)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("Turn.Listen: listen tcp %s: %w", addr, err)
	}
	if !s.readers.add() {
		_ = ln.Close()
		cleanup()
		return nil, nil, errStopped
	}
	return udp, &trackedListener{Listener: ln, member: member{g: s.readers}, s: s}, nil
}

// AddListener makes the relay also accept TURN connections from ln, such
// as TURN over TLS on 5349 or portmux's TURN side of port 443, with the same
// credentials, peer policy, quotas and connection cap as the TCP listener.
// It must be called before Start; Stop closes ln.
func (s *Server) AddListener(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("turn: AddListener after Start")
	}
	s.extra = append(s.extra, ln)
	return nil
}

// Stop closes the listeners, every TCP connection and every relay socket and
// waits for pion's goroutines to return. It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.stopped = true
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.stopping.Store(true)
	srv := s.pion
	s.mu.Unlock()

	s.readers.close() // no new relays or TCP conns from here on
	if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		logx.Debugw("turn: close", logx.Field("err", err.Error()))
	}
	s.mu.Lock()
	conns := make([]*tcpConn, 0, len(s.tcpConns))
	for c := range s.tcpConns {
		conns = append(conns, c)
	}
	relays := make([]*relayConn, 0, len(s.relays))
	for r := range s.relays {
		relays = append(relays, r)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close() // pion's goroutine then closes the wrapper and exits
	}
	for _, r := range relays {
		_ = r.Close()
	}
	if !s.readers.wait(stopTimeout) {
		s.stuck.Store(true)
		logx.Errorw("turn: stop: relay goroutines did not exit in time", logx.Field("timeout", stopTimeout.String()))
	}
	s.stopLoops()
	s.stopKernel()
	s.events.Shut()
	logx.Infow("turn: relay stopped")
}

func (s *Server) trackRelay(r *relayConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.relays[r] = struct{}{}
	s.livePorts.add(r.adv.Port)
	if s.tune.fastPath {
		s.relayByAddr.Store(r.adv, r)
	}
	return true
}

func (s *Server) forgetRelay(r *relayConn) {
	s.relayByAddr.Delete(r.adv)
	s.mu.Lock()
	if _, ok := s.relays[r]; ok {
		s.livePorts.remove(r.adv.Port)
	}
	delete(s.relays, r)
	r.traffic.addTo(&s.closedTraffic)
	s.mu.Unlock()
}

// trackConn wraps an accepted TCP conn, or refuses it when stopping, at
// MaxTCPConnections or at MaxTCPConnectionsPerAddress.
func (s *Server) trackConn(c net.Conn) (net.Conn, bool) {
	addr := addrOf(keyOf(c.RemoteAddr()))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, false
	}
	if len(s.tcpConns) >= s.cfg.MaxTCPConnections || s.tcpPerAddr[addr] >= s.cfg.MaxTCPConnectionsPerAddress {
		s.stats.tcpRefused.Add(1)
		return nil, false
	}
	if !s.readers.add() {
		return nil, false
	}
	tc := &tcpConn{Conn: c, member: member{g: s.readers}, s: s, raddr: c.RemoteAddr(), addr: addr, acceptedAt: time.Now()}
	if ta, ok := tc.raddr.(*net.TCPAddr); ok && s.tune.fastPath {
		tc.raddr = &net.TCPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone} // a value of our own
		tc.rap = canonical(ta.AddrPort())
		tc.fr = &frameReader{buf: make([]byte, tcpFrameStart)}
		tc.raw = newTCPRaw(c)
		s.sides.Store(tc.raddr, clientSide(tc))
	}
	s.tcpConns[tc] = struct{}{}
	s.tcpPerAddr[addr]++
	return tc, true
}

func (s *Server) forgetConn(c *tcpConn) {
	s.mu.Lock()
	if _, ok := s.tcpConns[c]; ok {
		if s.tcpPerAddr[c.addr]--; s.tcpPerAddr[c.addr] <= 0 {
			delete(s.tcpPerAddr, c.addr)
		}
	}
	delete(s.tcpConns, c)
	s.mu.Unlock()
}

// UDPAddr is the bound UDP address (useful with port 0), nil before Start.
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.udp) == 0 {
		return nil
	}
	return s.udp[0].LocalAddr()
}

// TCPAddr is the bound TCP address, nil before Start.
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// PublicIP is the relay address advertised to clients.
func (s *Server) PublicIP() net.IP { return s.publicIP.AsSlice() }

// PublicIPDetected reports whether PublicIP was detected rather than configured.
func (s *Server) PublicIPDetected() bool { return s.detected }

// Realm is the configured realm (with the default applied).
func (s *Server) Realm() string { return s.cfg.Realm }

// AllocationCount is the number of live allocations, for draining.
func (s *Server) AllocationCount() int { return int(s.stats.allocationsActive.Load()) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	var t relayTraffic
	s.mu.Lock()
	s.closedTraffic.addTo(&t)
	for r := range s.relays {
		r.traffic.addTo(&t)
		r.fast.kernelTraffic(s, &t)
	}
	kernel := s.kf != nil
	s.mu.Unlock()
	return Stats{
		PacketsFromPeers:     t.packetsIn.Load(),
		BytesFromPeers:       t.bytesIn.Load(),
		PacketsToPeers:       t.packetsOut.Load(),
		BytesToPeers:         t.bytesOut.Load(),
		FastFromPeers:        t.fastIn.Load(),
		FastToPeers:          t.fastOut.Load(),
		KernelFromPeers:      t.kernIn.Load(),
		KernelToPeers:        t.kernOut.Load(),
		KernelMisses:         s.stats.kernelMisses.Load(),
		KernelFastPath:       kernel,
		AllocationsActive:    s.stats.allocationsActive.Load(),
		AllocationsCreated:   s.stats.allocationsCreated.Load(),
		PermissionDenials:    s.stats.permissionDenials.Load(),
		OwnPortDrops:         s.stats.ownPortDrops.Load(),
		QuotaRefusals:        s.stats.quotaRefusals.Load(),
		AddressQuotaRefusals: s.stats.addrQuotaRefusals.Load(),
		TCPRefused:           s.stats.tcpRefused.Load(),
		TCPTimeouts:          s.stats.tcpTimeouts.Load(),
		BindingRateLimited:   s.stats.bindingLimited.Load(),
		AuthFailures:         s.stats.authFailures.Load(),
		ExpiredAccepted:      s.stats.expiredAccepted.Load(),
		LoopQueueDrops:       s.stats.loopQueueDrops.Load(),
		FastPathMisses:       s.stats.fastPathMisses.Load(),
	}
}
