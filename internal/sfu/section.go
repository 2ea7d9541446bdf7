package sfu

import (
	"fmt"
	"net"

	"github.com/rtcd/rtcd/internal/defaults"
)

// Section is the `SFU` section of etc/rtcd.yaml: where the media server
// listens. One UDP port and one TCP port carry every participant's media,
// so a server behind a firewall opens two ports, not a range.
type Section struct {
	// UDP is the ICE UDP address every PeerConnection shares. Defaults to 0.0.0.0:7882.
	UDP string `json:",optional"`
	// TCP is the passive ICE-TCP address, for clients whose UDP is blocked.
	// Defaults to 0.0.0.0:7882; "off" disables it.
	TCP string `json:",optional"`
	// PublicIP is the address given in the server's host candidates when it
	// sits behind 1:1 NAT. Defaults to Turn.PublicIP (the daemon fills it),
	// which is also what lets rtcd's own relay reach the SFU: the relay may
	// always send to its own address.
	PublicIP string `json:",optional"`
	// Loopback gathers and accepts loopback candidates: for tests and a
	// laptop, never on a server.
	Loopback bool `json:",optional"`
	// LoudestAudio is how many participants' audio a room forwards at once,
	// the loudest: a room of 50 mostly carries silence. Defaults to 5; a
	// negative value forwards everyone's.
	LoudestAudio int `json:",optional"`
}

// WithDefaults returns s with every zero field set to its default.
func (s Section) WithDefaults() Section {
	defaults.Set(&s.UDP, "0.0.0.0:7882")
	defaults.Set(&s.TCP, "0.0.0.0:7882")
	defaults.Set(&s.LoudestAudio, 5)
	return s
}

// Validate names the first field that is not an address.
func (s Section) Validate() error {
	d := s.WithDefaults()
	if _, _, err := net.SplitHostPort(d.UDP); err != nil {
		return fmt.Errorf("SFU.UDP: %w", err)
	}
	if d.TCP != "off" {
		if _, _, err := net.SplitHostPort(d.TCP); err != nil {
			return fmt.Errorf("SFU.TCP: %w", err)
		}
	}
	if s.PublicIP != "" && net.ParseIP(s.PublicIP) == nil {
		return fmt.Errorf("SFU.PublicIP: %q is not an IP address", s.PublicIP)
	}
	return nil
}

// ServerConfig is the configuration NewServer takes for this section.
func (s Section) ServerConfig() ServerConfig {
	d := s.WithDefaults()
	c := ServerConfig{UDP: d.UDP, TCP: d.TCP, PublicIP: d.PublicIP, Loopback: d.Loopback,
		LoudestAudio: max(d.LoudestAudio, 0)}
	if c.TCP == "off" {
		c.TCP = ""
	}
	return c
}
