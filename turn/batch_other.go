//go:build !linux

package turn

import "net"

// batchReader is Linux-only (recvmmsg); elsewhere sockets are read one
// datagram per call.
type batchReader struct{}

func newBatchReader(*net.UDPConn, int, int) *batchReader { return nil }

func (*batchReader) ReadFrom([]byte) (int, net.Addr, error) { panic("unreachable") }

func (*batchReader) queued() int { return 0 }

func (*batchReader) next1() ([]byte, *net.UDPAddr, error) { panic("unreachable") }
