package turn

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestBatchReader sends datagrams from two sources and reads them through
// a listen socket's batched ReadFrom: every datagram arrives once, in order
// per source, with its source address; a datagram longer than the read
// buffer is truncated to it.
func TestBatchReader(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	lc := &listenerConn{PacketConn: pc, member: member{g: newGroup()}, s: &Server{tune: defaultTuning(Config{})}}
	lc.g.add()
	defer pc.Close()
	var srcs []*net.UDPConn
	for i := 0; i < 2; i++ {
		c, err := net.DialUDP("udp4", nil, pc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		srcs = append(srcs, c)
	}
	const per = 40
	for i := 0; i < per; i++ {
		for s, c := range srcs {
			if _, err := c.Write(bytes.Repeat([]byte{byte(s), byte(i)}, 300)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := srcs[0].Write(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1600)
	next := make([]int, len(srcs))
	for got := 0; got < per*len(srcs); got++ {
		n, a, err := lc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %d: %v", got, err)
		}
		s := -1
		for i, c := range srcs {
			if a.(*net.UDPAddr).AddrPort() == c.LocalAddr().(*net.UDPAddr).AddrPort() {
				s = i
			}
		}
		if s < 0 || n != 600 || buf[0] != byte(s) || int(buf[1]) != next[s] {
			t.Fatalf("read %d: %d bytes from %v (source %d) starting %v, want source's datagram %d", got, n, a, s, buf[:2], next[s])
		}
		next[s]++
	}
	if n, _, err := lc.ReadFrom(buf); err != nil || n != len(buf) {
		t.Fatalf("long datagram: n=%d err=%v, want %d (truncated)", n, err, len(buf))
	}
	if lc.batch == nil && lc.s.tune.listenBatch > 1 {
		t.Log("no batch reader on this platform")
	}
	// One datagram per read (a low rate): no allocation per system call.
	one := []byte("one")
	if a := testing.AllocsPerRun(20, func() {
		_, _ = srcs[0].Write(one)
		_, _, _ = lc.ReadFrom(buf)
	}); a > 0 && lc.batch != nil {
		t.Errorf("%v allocations per read", a)
	}
	_ = pc.Close()
	if _, _, err := lc.ReadFrom(buf); err == nil {
		t.Fatal("read after close succeeded")
	}
}

func TestAddrCache(t *testing.T) {
	var c addrCache
	a := netip.MustParseAddrPort("127.0.0.1:5000")
	b := netip.MustParseAddrPort("127.0.0.1:5001")
	m := netip.MustParseAddrPort("[::ffff:127.0.0.1]:5000")
	pa, pb, pm := c.get(a), c.get(b), c.get(m)
	if pa.AddrPort() != a || pb.AddrPort() != b || pm.AddrPort() != m {
		t.Fatalf("got %v %v %v", pa, pb, pm)
	}
	if c.get(a) != pa && c.get(a).AddrPort() != a {
		t.Fatal("cached address changed")
	}
	if allocs := testing.AllocsPerRun(100, func() { c.get(a) }); allocs != 0 && c.get(a) == pa {
		t.Fatalf("%v allocations per cached lookup", allocs)
	}
	// Sixteen clients of one listen socket, datagrams interleaved: after the
	// first round every lookup hits.
	var many addrCache
	round := func() {
		for p := 40000; p < 40016; p++ {
			many.get(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(p)))
		}
	}
	round()
	if allocs := testing.AllocsPerRun(20, round); allocs != 0 {
		t.Fatalf("%v allocations per round of 16 sources", allocs)
	}
}

// TestRelayTurnsBatched echoes through one allocation past relayBusyAfter,
// so the relay socket switches to batched reads mid-stream, over UDP and TCP.
func TestRelayTurnsBatched(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		name := "udp"
		if tcp {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			s, _, _, relay, peer := loopbackAllocation(t, tcp)
			echoRoundTrip(t, relay, peer, s.tune.relayBusyAfter+50)
			s.mu.Lock()
			batched := 0
			for r := range s.relays {
				if r.batching.Load() {
					batched++
				}
			}
			s.mu.Unlock()
			if batched != 1 && s.tune.relayBatch > 1 && newBatchReader(peerConn(t), 1, 64) != nil {
				t.Fatalf("%d relays read in batches, want 1", batched)
			}
		})
	}
}

func peerConn(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRawSender sends through a listen socket's rawSender from an IPv4 and
// a dual-stack socket, and checks the datagram, its source port and that a
// send does not allocate.
func TestRawSender(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			dst := peerConn(t)
			pc, err := net.ListenPacket(network, ":0")
			if network == "udp4" {
				pc, err = net.ListenPacket(network, "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			lc := &listenerConn{PacketConn: pc, raw: newRawSender(pc.(*net.UDPConn))}
			if lc.raw == nil {
				t.Skip("no raw sender on this platform")
			}
			to := dst.LocalAddr().(*net.UDPAddr)
			if n, err := lc.WriteTo([]byte("hello"), to); n != 5 || err != nil {
				t.Fatalf("WriteTo: %d %v", n, err)
			}
			_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := dst.ReadFromUDP(buf)
			if err != nil || string(buf[:n]) != "hello" || from.Port != pc.LocalAddr().(*net.UDPAddr).Port {
				t.Fatalf("got %q from %v (%v), want hello from port %d", buf[:n], from, err, pc.LocalAddr().(*net.UDPAddr).Port)
			}
			x := []byte("x")
			if a := testing.AllocsPerRun(50, func() { _, _ = lc.WriteTo(x, to) }); a > 0 && !raceEnabled {
				t.Errorf("%v allocations per send", a) // sync.Pool drops items under -race
			}
		})
	}
}
