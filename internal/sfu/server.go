package sfu

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// tcpReadBuffer is the ICE-TCP mux's read buffer per connection: one framed
// packet of the largest size RFC 4571 allows.
const tcpReadBuffer = 64 << 10

// ServerConfig configures a Server; the zero value gathers on pion's
// ephemeral UDP ports, without ICE-TCP, STUN or TURN.
type ServerConfig struct {
	// ICEServers are given to every PeerConnection, so the server can reach
	// clients behind NATs through the relay.
	ICEServers []webrtc.ICEServer
	// UDP is the "host:port" of the one UDP socket every PeerConnection
	// shares (pion's ICE UDP mux), so a firewall needs one port open; ""
	// lets pion use an ephemeral port per PeerConnection.
	UDP string
	// TCP is the "host:port" of the passive ICE-TCP listener, for clients
	// whose networks block UDP; "" gathers no TCP candidates.
	TCP string
	// PublicIP replaces the address of the host candidates (NAT 1:1), for a
	// server behind a static NAT such as a cloud instance's public address.
	PublicIP string
	// Loopback gathers loopback candidates and accepts a client's; tests on
	// one machine need it, a public server must not aim checks at itself.
	Loopback bool
	// LoudestAudio is how many publishers' audio a room forwards at once,
	// the loudest (loudest.go); 0 forwards everyone's.
	LoudestAudio int
	// SettingEngine, when set, adjusts pion's SettingEngine after the
	// server's own settings (tests restrict interfaces and network types).
	SettingEngine func(*webrtc.SettingEngine)
}

// Server is the selective forwarding unit of one daemon: rooms by name,
// each created on its first Join and closed when its last participant
// leaves, sharing the server's sockets. Its methods are safe for concurrent
// use.
type Server struct {
	api      *webrtc.API
	pcConfig webrtc.Configuration
	loopback bool
	loudest  int // ServerConfig.LoudestAudio
	udp      net.Addr
	udpMux   ice.UDPMux
	tcpMux   ice.TCPMux
	now      func() time.Time // the rate limiters' clock; tests set it

	mu     sync.Mutex // guards the fields below; taken before a room's mu
	closed bool
	rooms  map[string]*room
}

// NewServer opens the sockets cfg names and builds the pion API every
// PeerConnection of the server uses.
func NewServer(cfg ServerConfig) (*Server, error) {
	s := &Server{
		pcConfig: webrtc.Configuration{ICEServers: cfg.ICEServers},
		loopback: cfg.Loopback, loudest: cfg.LoudestAudio,
		now:   time.Now,
		rooms: map[string]*room{},
	}
	var publicIP net.IP
	if cfg.PublicIP != "" {
		if publicIP = net.ParseIP(cfg.PublicIP); publicIP == nil {
			return nil, fmt.Errorf("sfu: PublicIP: %q is not an IP address", cfg.PublicIP)
		}
	}
	se := webrtc.SettingEngine{}
	// A client's mDNS names resolve only on its own LAN, and answering them
	// would have the server send multicast: its srflx and relay candidates
	// are the ones that work.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	se.SetRemoteIPFilter(func(ip net.IP) bool { return remoteIPAllowed(ip, cfg.Loopback) })
	// The server never dials out over TCP: clients connect to its listener.
	se.DisableActiveTCP(true)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.UDP != "" {
		conn, err := net.ListenPacket("udp", cfg.UDP)
		if err != nil {
			return nil, fmt.Errorf("sfu: UDP: %w", err)
		}
		s.udp = conn.LocalAddr()
		s.udpMux = webrtc.NewICEUDPMux(nil, conn)
		se.SetICEUDPMux(s.udpMux)
	}
	if cfg.TCP != "" {
		ln, err := net.Listen("tcp", cfg.TCP)
		if err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("sfu: TCP: %w", err)
		}
		s.tcpMux = webrtc.NewICETCPMux(nil, ln, tcpReadBuffer)
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if publicIP != nil {
		// The rewrite rule is SetNAT1To1IPs with host candidates replaced,
		// in the form pion keeps.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{publicIP.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			s.closeSockets()
			return nil, fmt.Errorf("sfu: PublicIP: %w", err)
		}
	}
	if cfg.SettingEngine != nil {
		cfg.SettingEngine(&se)
	}
	api, err := newAPI(&se)
	if err != nil {
		s.closeSockets()
		return nil, err
	}
	s.api = api
	return s, nil
}

// UDPAddr returns the address the ICE UDP mux is bound to (with the port
// chosen when ServerConfig.UDP asked for port 0), or nil without one.
func (s *Server) UDPAddr() net.Addr { return s.udp }

// Join adds peer to room, creating the room on its first participant. send
// carries every signal for the peer's client; it is called with the
// participant's lock held, must neither block nor call into the server, and
// is never called after the participant's Close has returned.
func (s *Server) Join(room, peer string, send func(Signal)) (*Participant, error) {
	switch {
	case room == "":
		return nil, errors.New("sfu: join: empty room name")
	case peer == "":
		return nil, errors.New("sfu: join: empty participant id")
	case send == nil:
		return nil, errors.New("sfu: join: nil send")
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		r := s.rooms[room]
		if r == nil {
			r = newRoom(s, room)
			s.rooms[room] = r
		}
		s.mu.Unlock()
		p, err := r.join(peer, send)
		if err == nil {
			return p, nil
		}
		// A room the failed join created, or one that emptied between the
		// lookup and the join, has closed: a new one takes its name.
		s.dropRoom(r)
		if !errors.Is(err, ErrClosed) {
			return nil, err
		}
	}
}

// dropRoom forgets r if it has closed because it emptied.
func (s *Server) dropRoom(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed && s.rooms[r.name] == r {
		delete(s.rooms, r.name)
	}
}

// Stats returns the counters of every open room, for /metrics.
func (s *Server) Stats() []RoomStats {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]RoomStats, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.stats())
	}
	return out
}

// Close closes every room, then the sockets. When it returns no callback of
// any participant runs and no send is called any more.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	clear(s.rooms)
	s.mu.Unlock()
	var errs []error
	for _, r := range rooms {
		errs = append(errs, r.close())
	}
	errs = append(errs, s.closeSockets())
	return errors.Join(errs...)
}

func (s *Server) closeSockets() error {
	var errs []error
	if s.udpMux != nil {
		if err := s.udpMux.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sfu: close UDP: %w", err))
		}
	}
	if s.tcpMux != nil {
		if err := s.tcpMux.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("sfu: close TCP: %w", err))
		}
	}
	return errors.Join(errs...)
}
