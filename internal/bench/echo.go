package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"

	"golang.org/x/net/ipv4"
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

// serve echoes what c reads, mmsgBatch datagrams per recvmmsg and
// sendmmsg, so the peer costs the generator little per datagram.
func (e *echoPeer) serve(c *net.UDPConn) {
	defer e.wg.Done()
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, mmsgBatch)
	bufs := make([][]byte, mmsgBatch)
	for i := range msgs {
		bufs[i] = make([]byte, 64<<10)
		msgs[i].Buffers = [][]byte{bufs[i]}
	}
	for {
		for i := range msgs {
			msgs[i].Buffers[0] = bufs[i]
		}
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP-induced ECONNREFUSED from an earlier write
		}
		for i := 0; i < n; i++ {
			msgs[i].Buffers[0] = bufs[i][:msgs[i].N]
		}
		for sent := 0; sent < n; {
			k, err := pc.WriteBatch(msgs[sent:n], 0)
			if err != nil {
				break // the rest is lost, as a busy relay's would be
			}
			sent += k
		}
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
