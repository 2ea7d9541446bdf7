package turn

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/rtcd/rtcd/internal/defaults"
)

// Config is the `Turn` section of etc/rtcd.yaml. Zero values mean the
// documented default, so a Config built in Go behaves like one loaded by go-zero.
type Config struct {
	// Listen is the UDP and TCP listen address for STUN/TURN. Defaults to "0.0.0.0:3478" (IPv4; "[::]:3478" for IPv6 too).
	Listen string `json:",optional"`
	// Realm is the long-term credential realm (RFC 8489 §9.2). Defaults to "rtcd".
	Realm string `json:",optional"`
	// PublicIP is the IPv4 relay address advertised to clients. Empty means
	// detected from the interfaces (first global unicast, preferring non-private;
	// else 127.0.0.1). A VPS behind 1:1 NAT (AWS, GCP) must set it.
	PublicIP string `json:",optional"`
	// RelayIP is the local IPv4 address relay sockets bind to. Empty means
	// PublicIP when it is a local address, else 0.0.0.0.
	RelayIP string `json:",optional"`
	// MinPort and MaxPort bound the relay port range (inclusive).
	// Default 49152-65535, as coturn.
	MinPort int `json:",optional"`
	MaxPort int `json:",optional"`
	// AllowPeers are CIDRs (or bare IPs) the relay may reach although the
	// built-in table denies them, e.g. a LAN. DenyPeers wins over AllowPeers.
	AllowPeers []string `json:",optional"`
	// DenyPeers are extra CIDRs (or bare IPs) the relay must never reach.
	DenyPeers []string `json:",optional"`
	// MaxAllocationsPerUser caps live allocations per user part of the
	// username (486 past it). Defaults to 10.
	MaxAllocationsPerUser int `json:",optional"`
	// MaxAllocationsPerAddress caps live allocations per client address
	// (IPv4, or IPv6 /64), whatever usernames they use (486 past it), so
	// minting many REST usernames does not multiply a client's quota.
	// Defaults to 128: room for an office behind one NAT, where a browser in
	// a full mesh holds up to 15.
	MaxAllocationsPerAddress int `json:",optional"`
	// MaxAllocations caps live allocations in total (486 past it). Defaults to 10000.
	MaxAllocations int `json:",optional"`
	// UDPSockets is the number of SO_REUSEPORT UDP sockets (one read goroutine
	// each). 0 means runtime.NumCPU().
	UDPSockets int `json:",optional"`
	// MaxTCPConnections caps concurrent TURN-over-TCP connections; more are
	// closed on accept. Defaults to 4096.
	MaxTCPConnections int `json:",optional"`
	// MaxTCPConnectionsPerAddress caps concurrent TURN-over-TCP and TLS
	// connections from one client address (IPv4, or IPv6 /64); more are
	// closed on accept. Defaults to 128.
	MaxTCPConnectionsPerAddress int `json:",optional"`
	// BindingRate is the sustained rate, per second and client address, of
	// unauthenticated STUN Binding requests over UDP that get an answer;
	// BindingBurst is how many may come at once. Past them requests are
	// dropped, so the relay cannot be used as a reflector. ICE sends a few
	// per candidate gathering. Defaults 20 and 40.
	BindingRate  int `json:",optional"`
	BindingBurst int `json:",optional"`

	// TLSListen is the TURN-over-TLS (turns:) listen address, e.g.
	// ":5349". Empty means off. Needs the TLS section.
	TLSListen string `json:",optional"`
	// OnePort also serves TURN over TLS on the main HTTPS port (443), split
	// from HTTPS per connection. Needs the TLS section.
	OnePort bool `json:",optional"`
	// PublicHost is the DNS name in turns: URLs; it must match the
	// certificate. Empty means the certificate's first DNS name.
	PublicHost string `json:",optional"`

	// DisableFastPath relays ChannelData through pion/turn's own per-packet
	// path instead of rtcd's fast path (docs/performance.md). Only for
	// measuring the difference and for ruling the fast path out when
	// debugging; the fast path follows the same bindings, permissions and
	// peer policy.
	DisableFastPath bool `json:",optional"`
	// DisableEventLoops keeps every socket with Go's poller (a goroutine per
	// socket) instead of the fast path's epoll event loops for UDP clients
	// (Linux). Like DisableFastPath, for measuring and debugging.
	DisableEventLoops bool `json:",optional"`

	// FastPath is the kernel fast path (docs/performance.md): a tc eBPF
	// program relays ChannelData of bound channels between UDP clients and
	// IPv4 peers without the datagrams reaching rtcd, while rtcd still
	// decides every allocation, permission and binding. "auto" (default)
	// uses it when the kernel (6.6+, TCX) and privileges (CAP_BPF,
	// CAP_NET_ADMIN) allow and logs once why not otherwise; "off" never;
	// "on" fails start without it.
	FastPath string `json:",optional"`
	// FastPathInterfaces are the interfaces the kernel fast path attaches
	// to (tc ingress). Empty means every up Ethernet and loopback
	// interface; clients and peers reaching the relay elsewhere stay in
	// user space.
	FastPathInterfaces []string `json:",optional"`
}

// Defaults for zero Config fields.
const (
	DefaultListen                = "0.0.0.0:3478"
	DefaultRealm                 = "rtcd"
	DefaultMinPort               = 49152
	DefaultMaxPort               = 65535
	DefaultMaxAllocationsPerUser = 10
	DefaultMaxAllocations        = 10000
	DefaultMaxAllocationsPerAddr = 128
	DefaultMaxTCPConnections     = 4096
	DefaultMaxTCPConnsPerAddr    = 128
	DefaultBindingRate           = 20
	DefaultBindingBurst          = 40
	maxUDPSockets                = 256
)

// WithDefaults returns c with every zero field set to its default: the one
// place the relay's defaults are applied, whether c came from a file or code.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.Listen, DefaultListen)
	defaults.Set(&c.Realm, DefaultRealm)
	defaults.Set(&c.MinPort, DefaultMinPort)
	defaults.Set(&c.MaxPort, DefaultMaxPort)
	defaults.Set(&c.MaxAllocationsPerUser, DefaultMaxAllocationsPerUser)
	defaults.Set(&c.MaxAllocationsPerAddress, DefaultMaxAllocationsPerAddr)
	defaults.Set(&c.MaxAllocations, DefaultMaxAllocations)
	defaults.Set(&c.MaxTCPConnections, DefaultMaxTCPConnections)
	defaults.Set(&c.MaxTCPConnectionsPerAddress, DefaultMaxTCPConnsPerAddr)
	defaults.Set(&c.BindingRate, DefaultBindingRate)
	defaults.Set(&c.BindingBurst, DefaultBindingBurst)
	defaults.Set(&c.FastPath, FastPathAuto)
	return c
}

// Validate reports the first configuration error, naming the field, so a bad
// config fails at start before anything listens.
func (c Config) Validate() error {
	c = c.WithDefaults()
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("Turn.Listen: bad address %q: %w", c.Listen, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("Turn.Listen: bad host %q: want an IP address or empty", host)
		}
	}
	lport, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("Turn.Listen: bad port %q", port)
	}
	if c.PublicIP != "" {
		if _, err := parseIPv4("Turn.PublicIP", c.PublicIP); err != nil {
			return err
		}
	}
	if c.RelayIP != "" {
		if _, err := parseRelayIP(c.RelayIP); err != nil {
			return err
		}
	}
	switch {
	case c.MinPort < 1 || c.MinPort > 65535:
		return fmt.Errorf("Turn.MinPort: %d out of range 1-65535", c.MinPort)
	case c.MaxPort < 1 || c.MaxPort > 65535:
		return fmt.Errorf("Turn.MaxPort: %d out of range 1-65535", c.MaxPort)
	case c.MinPort > c.MaxPort:
		return fmt.Errorf("Turn.MinPort: %d is greater than Turn.MaxPort %d", c.MinPort, c.MaxPort)
	case lport != 0 && int(lport) >= c.MinPort && int(lport) <= c.MaxPort:
		return fmt.Errorf("Turn.Listen: port %d is inside the relay range Turn.MinPort-Turn.MaxPort (%d-%d)", lport, c.MinPort, c.MaxPort)
	case c.MaxAllocationsPerUser < 0:
		return fmt.Errorf("Turn.MaxAllocationsPerUser: %d is negative", c.MaxAllocationsPerUser)
	case c.MaxAllocations < 0:
		return fmt.Errorf("Turn.MaxAllocations: %d is negative", c.MaxAllocations)
	case c.UDPSockets < 0 || c.UDPSockets > maxUDPSockets:
		return fmt.Errorf("Turn.UDPSockets: %d out of range 0-%d", c.UDPSockets, maxUDPSockets)
	case c.MaxTCPConnections < 0:
		return fmt.Errorf("Turn.MaxTCPConnections: %d is negative", c.MaxTCPConnections)
	case c.MaxAllocationsPerAddress < 0:
		return fmt.Errorf("Turn.MaxAllocationsPerAddress: %d is negative", c.MaxAllocationsPerAddress)
	case c.MaxTCPConnectionsPerAddress < 0:
		return fmt.Errorf("Turn.MaxTCPConnectionsPerAddress: %d is negative", c.MaxTCPConnectionsPerAddress)
	case c.BindingRate < 0:
		return fmt.Errorf("Turn.BindingRate: %d is negative", c.BindingRate)
	case c.BindingBurst < 0:
		return fmt.Errorf("Turn.BindingBurst: %d is negative", c.BindingBurst)
	}
	if c.TLSListen != "" {
		if _, p, err := net.SplitHostPort(c.TLSListen); err != nil {
			return fmt.Errorf("Turn.TLSListen: bad address %q: %w", c.TLSListen, err)
		} else if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("Turn.TLSListen: bad port %q", p)
		}
	}
	if err := validFastPath(c.FastPath); err != nil {
		return err
	}
	if _, err := newPeerPolicy(c.AllowPeers, c.DenyPeers, netip.Addr{}); err != nil {
		return err
	}
	return nil
}

// parseIPv4 accepts an IPv4 address (or its IPv4-mapped form): pion/turn v4
// relays are udp4 only.
func parseIPv4(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: bad IP %q", field, s)
	}
	a = a.Unmap()
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s: %q is not IPv4 (relays are IPv4 only)", field, s)
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%s: %q is not a unicast address", field, s)
	}
	return a, nil
}

// parseRelayIP accepts an IPv4 unicast address or 0.0.0.0 (all interfaces).
func parseRelayIP(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == netip.IPv4Unspecified() {
		return netip.IPv4Unspecified(), nil
	}
	return parseIPv4("Turn.RelayIP", s)
}
