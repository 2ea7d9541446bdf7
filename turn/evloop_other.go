//go:build !linux

package turn

import "net"

// Event loops are Linux-only (epoll); elsewhere every socket stays with Go's
// poller.
type eventLoop struct{}

// loopSock is never set where loops are unsupported.
type loopSock struct{ q *pktQueue }

func (*loopSock) close() error { return nil }

func (s *Server) startLoops([]*listenerConn) {}

func (s *Server) stopLoops() {}

func (c *relayConn) toLoop(*listenerConn) {}

func (*rawSender) sendWait([]byte, *net.UDPAddr) (int, error) { panic("unreachable") }

// eventLoopsSupported: this platform has no event loops.
const eventLoopsSupported = false
