package signal

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/rtcd/rtcd/internal/defaults"
)

// Modes of Config.Mode.
const (
	ModeOpen  = "open"  // anyone who reaches the server may join any room
	ModeToken = "token" // hello must carry an HS256 join token (protocol.md §6)
)

// Media modes of Config.Media: how rooms carry audio and video.
const (
	MediaAuto = "auto" // peer to peer for two, the media server from the third
	MediaMesh = "mesh" // always peer to peer
	MediaSFU  = "sfu"  // always through the media server
)

// Config is the `Signal` section of etc/rtcd.yaml. Zero values mean the
// documented defaults (protocol.md §5), so a Config built in code needs only
// the fields it changes.
type Config struct {
	// Disabled turns signaling and the web app off: TURN-only mode, just the
	// relay, health and metrics, for platforms that mint TURN REST
	// credentials themselves (docs/turn-only.md).
	Disabled bool `json:",optional"`
	// Mode is "open" (default) or "token".
	Mode string `json:",optional,options=open|token"`
	// AllowOrigins lists extra page origins ("https://app.example.com") that
	// may open /ws and call /api/v1, besides the daemon's own host. A page
	// from any other origin must not be able to collect TURN credentials.
	AllowOrigins []string `json:",optional"`
	// AllowedHosts lists the host names (no scheme or port; "*.example.com"
	// for one label; "*" for any) that /ws and /api/v1 answer to in the Host
	// header. Requests for another name get 421, which stops DNS rebinding:
	// a name the attacker controls, pointed at the daemon, would otherwise
	// look like the daemon's own origin. IP addresses, localhost and the
	// hosts of AllowOrigins are always allowed; the daemon adds
	// Turn.PublicHost, TLS.ACMEDomains and the certificate's names.
	AllowedHosts []string `json:",optional"`
	// MaxConnsPerIP caps open sockets per client IP (IPv6: per /64). Defaults to 20.
	MaxConnsPerIP int `json:",optional"`
	// RoomSize caps peers per mesh room; a mesh beyond ~6 overloads uplinks. Defaults to 6.
	RoomSize int `json:",optional"`
	// Media is how rooms carry media: "auto" (default: two people peer to
	// peer, the media server from the third, as Jitsi does), "mesh" (always
	// peer to peer) or "sfu". Without a media server (Hub.SetMedia) every
	// room is a mesh room.
	Media string `json:",optional,options=auto|mesh|sfu"`
	// SFURoomSize caps peers per room in sfu and auto mode, where the media
	// server carries rooms beyond two. Defaults to 50.
	SFURoomSize int `json:",optional"`
	// MessagesPerSecond is the per-connection rate (burst twice that). Defaults to 50.
	MessagesPerSecond int `json:",optional"`
	// HelloTimeout is how long a new socket may stay silent before hello. Defaults to 5s.
	HelloTimeout time.Duration `json:",optional"`
	// PingInterval is the WebSocket ping period. Defaults to 5s: with
	// IdleTimeout it decides how soon a dead browser or network is noticed
	// and its room told the peer is away.
	PingInterval time.Duration `json:",optional"`
	// IdleTimeout closes a socket from which nothing (message or pong) arrived. Defaults to 12s.
	IdleTimeout time.Duration `json:",optional"`
	// ResumeWindow is how long a dropped session is kept for hello{resume}. Defaults to 30s.
	ResumeWindow time.Duration `json:",optional"`
	// WriteTimeout bounds one write to a client; a client that cannot take a
	// message in that time is disconnected. Defaults to 10s.
	WriteTimeout time.Duration `json:",optional"`
	// QueueSize is the per-session outbox length; overflow ends the session. Defaults to 256.
	QueueSize int `json:",optional"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed when
	// computing the client IP for limits and throttling.
	TrustedProxies []string `json:",optional"`
}

// WithDefaults returns c with every zero field set to its default
// (protocol.md §5): the one place the hub's defaults are applied, whether c
// came from a file or code.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.Mode, ModeOpen)
	defaults.Set(&c.MaxConnsPerIP, 20)
	defaults.Set(&c.RoomSize, 6)
	defaults.Set(&c.Media, MediaAuto)
	defaults.Set(&c.SFURoomSize, 50)
	defaults.Set(&c.MessagesPerSecond, 50)
	defaults.Set(&c.QueueSize, 256)
	defaults.Set(&c.HelloTimeout, 5*time.Second)
	defaults.Set(&c.PingInterval, 5*time.Second)
	defaults.Set(&c.IdleTimeout, 12*time.Second)
	defaults.Set(&c.ResumeWindow, 30*time.Second)
	defaults.Set(&c.WriteTimeout, 10*time.Second)
	return c
}

// Validate reports the first invalid field by name, so a bad config fails at
// start. Zero values are valid and mean the defaults.
func (c Config) Validate() error {
	d := c.WithDefaults()
	if d.Mode != ModeOpen && d.Mode != ModeToken {
		return fmt.Errorf("Signal.Mode: %q is not open or token", c.Mode)
	}
	if d.Media != MediaAuto && d.Media != MediaMesh && d.Media != MediaSFU {
		return fmt.Errorf("Signal.Media: %q is not auto, mesh or sfu", c.Media)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxConnsPerIP", d.MaxConnsPerIP}, {"RoomSize", d.RoomSize}, {"SFURoomSize", d.SFURoomSize}, {"MessagesPerSecond", d.MessagesPerSecond}, {"QueueSize", d.QueueSize}} {
		if f.v < 1 {
			return fmt.Errorf("Signal.%s: %d must be at least 1", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"HelloTimeout", d.HelloTimeout}, {"PingInterval", d.PingInterval}, {"IdleTimeout", d.IdleTimeout}, {"ResumeWindow", d.ResumeWindow}, {"WriteTimeout", d.WriteTimeout}} {
		if f.v <= 0 {
			return fmt.Errorf("Signal.%s: %v must be positive", f.name, f.v)
		}
	}
	if d.IdleTimeout <= d.PingInterval {
		return fmt.Errorf("Signal.IdleTimeout: %v must exceed PingInterval %v, or live clients are dropped", d.IdleTimeout, d.PingInterval)
	}
	for i, o := range c.AllowOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			return fmt.Errorf("Signal.AllowOrigins[%d]: %w", i, err)
		}
	}
	for i, e := range c.AllowedHosts {
		if err := validHostEntry(e); err != nil {
			return fmt.Errorf("Signal.AllowedHosts[%d]: %w", i, err)
		}
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		return err
	}
	return nil
}

// normalizeOrigin turns "https://Example.com/" into "https://example.com".
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", o, err)
	}
	if u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", errors.New("origin " + o + " is not scheme://host[:port]")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func parsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil {
				return nil, fmt.Errorf("Signal.TrustedProxies[%d]: %w", i, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
