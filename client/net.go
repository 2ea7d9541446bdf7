package client

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// turnDialTimeout bounds pion's TCP dials to TURN servers.
const turnDialTimeout = 5 * time.Second

// boundedNet is pion's standard network with a bounded TCP dial. pion/ice
// dials TURN over TCP and TLS without a timeout; behind a firewall that
// silently drops the SYN (a network that lets only 443 out) that dial hangs
// for the kernel's two minutes, and closing the PeerConnection waits for it.
type boundedNet struct {
	*stdnet.Net
}

func newBoundedNet() (*boundedNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("client: network: %w", err)
	}
	return &boundedNet{Net: n}, nil
}

// DialTCP dials like net.DialTCP, giving up after turnDialTimeout.
func (n *boundedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	d := net.Dialer{Timeout: turnDialTimeout}
	if laddr != nil {
		d.LocalAddr = laddr
	}
	c, err := d.Dial(network, raddr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
