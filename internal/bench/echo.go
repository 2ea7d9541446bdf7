package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
)

// sockBuf is the socket buffer size requested for every bench socket, so that a
// closed-loop burst is not dropped by the sender's or echo peer's own queue.
const sockBuf = 4 << 20

// echoPeer is the UDP peer the relayed flows talk to: it returns every datagram to
// its sender. It binds loopback only, and replies only to whoever sent to it.
type echoPeer struct {
	addr  *net.UDPAddr
	conns []*net.UDPConn
	wg    sync.WaitGroup
}

// startEchoPeer listens on ip:0 with n sockets sharing the port (n is clamped to
// 1 where SO_REUSEPORT is unavailable) and one goroutine per socket.
func startEchoPeer(ip string, n int) (*echoPeer, error) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	if !haveReusePort {
		n = 1
	}
	lc := net.ListenConfig{Control: reusePort}
	e := &echoPeer{}
	addr := net.JoinHostPort(ip, "0")
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("bench: echo peer listen %s: %w", addr, err)
		}
		c := pc.(*net.UDPConn)
		_ = c.SetReadBuffer(sockBuf)
		_ = c.SetWriteBuffer(sockBuf)
		e.conns = append(e.conns, c)
		if i == 0 {
			e.addr = c.LocalAddr().(*net.UDPAddr)
			addr = e.addr.String()
		}
	}
	for _, c := range e.conns {
		e.wg.Add(1)
		go e.serve(c)
	}
	return e, nil
}

func (e *echoPeer) serve(c *net.UDPConn) {
	defer e.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP-induced ECONNREFUSED from an earlier write
		}
		_, _ = c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// Addr is the address flows should send to.
func (e *echoPeer) Addr() *net.UDPAddr { return e.addr }

// Close stops the peer and waits for its goroutines.
func (e *echoPeer) Close() {
	for _, c := range e.conns {
		_ = c.Close()
	}
	e.wg.Wait()
}
