//go:build !linux

package turn

import "net"

// rawSender is Linux-only; elsewhere listen sockets use net.UDPConn.WriteTo.
type rawSender struct{}

func newRawSender(*net.UDPConn) *rawSender { return nil }

func (*rawSender) send([]byte, *net.UDPAddr) (int, bool) { return 0, false }

func (*rawSender) sendMany([][]byte, *net.UDPAddr) int { return 0 }
