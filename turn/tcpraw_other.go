//go:build !linux

package turn

import "net"

// tcpRaw is Linux-only; elsewhere TCP conns use their own Read and Write.
type tcpRaw struct{}

func newTCPRaw(net.Conn) *tcpRaw { return nil }

func (*tcpRaw) Read([]byte) (int, error)  { panic("unreachable") }
func (*tcpRaw) Write([]byte) (int, error) { panic("unreachable") }
