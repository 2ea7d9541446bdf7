package turn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// fastServer starts a server that allows the loopback echo peer (unless
// strict), with channel bindings living chanTTL (0: pion's default), and a
// raw client of it over TCP or UDP.
func fastServer(t *testing.T, tcp, strict bool, chanTTL time.Duration, mod func(*Config)) (*Server, *rawClient) {
	t.Helper()
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	if !strict {
		c.AllowPeers = []string{"127.0.0.1/32"}
	}
	if path.Base(t.Name()) == noLoopVariant {
		c.DisableEventLoops = true
	}
	if mod != nil {
		mod(&c)
	}
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	s.chanTTL = chanTTL
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if s.stuck.Load() {
			t.Error("Stop timed out waiting for relay goroutines")
		}
	})
	cred := iss.Issue("alice")
	return s, newRawClient(t, s, tcp, cred.Username, cred.Password)
}

// noLoopVariant is the subtest of transports whose fastServer keeps every
// socket on Go's poller (Config.DisableEventLoops).
const noLoopVariant = "udp-noloop"

// transports runs f over UDP (with event loops where the platform has
// them), over UDP with every socket on Go's poller, and over TCP.
func transports(t *testing.T, f func(t *testing.T, tcp bool)) {
	for _, v := range []struct {
		name string
		tcp  bool
	}{{"udp", false}, {noLoopVariant, false}, {"tcp", true}} {
		t.Run(v.name, func(t *testing.T) { f(t, v.tcp) })
	}
}

// channelFrame is a ChannelData message, padded to 4 bytes when pad.
func channelFrame(num uint16, payload []byte, pad bool) []byte {
	n := chanHeader + len(payload)
	if pad {
		n = padded(n)
	}
	b := make([]byte, n)
	putChannelHeader(b, num, len(payload))
	copy(b[chanHeader:], payload)
	return b
}

func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteTo(b, c.server); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recvFrame returns the next datagram or TCP frame, nil after timeout.
func (c *rawClient) recvFrame(timeout time.Duration) []byte {
	c.t.Helper()
	buf := make([]byte, 2048)
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.conn.ReadFrom(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		c.t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// echoChannel sends payload on channel num and expects it back on num; over
// TCP the frame must be padded. It reports whether the echo came.
func (c *rawClient) echoChannel(num uint16, payload []byte, tcp bool) bool {
	c.t.Helper()
	c.sendRaw(channelFrame(num, payload, tcp))
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		f := c.recvFrame(time.Until(deadline))
		if f == nil {
			return false
		}
		gotNum, got, ok := parseChannelData(f)
		if !ok {
			continue // a STUN message (e.g. a Data indication)
		}
		if gotNum != num || !bytes.Equal(got, payload) {
			c.t.Fatalf("echo on channel %#x with %d bytes, want %#x with %d", gotNum, len(got), num, len(payload))
		}
		if tcp && len(f)%4 != 0 {
			c.t.Fatalf("TCP ChannelData frame of %d bytes is not padded", len(f))
		}
		return true
	}
	return false
}

// waitStats polls until ok(s.Stats()) (sends are counted after the system
// call returns, so an echo can be back before its send is counted).
func waitStats(t *testing.T, s *Server, ok func(Stats) bool) Stats {
	t.Helper()
	st := s.Stats()
	for deadline := time.Now().Add(2 * time.Second); !ok(st) && time.Now().Before(deadline); st = s.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	if !ok(st) {
		t.Fatalf("stats %+v", st)
	}
	return st
}

func bindEcho(t *testing.T, c *rawClient, num uint16) *net.UDPAddr {
	t.Helper()
	if code, _ := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	peer := echoPeer(t)
	if code := c.channelBind(num, peer.IP, peer.Port); code != 0 {
		t.Fatalf("channel bind: %d", code)
	}
	return peer
}

// onlyRelay is the server's single relay socket.
func onlyRelay(t *testing.T, s *Server) *relayConn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.relays) != 1 {
		t.Fatalf("%d relays, want 1", len(s.relays))
	}
	for r := range s.relays {
		return r
	}
	return nil
}

// TestFastPathRelaysBothWays: ChannelData of a bound channel is relayed by
// the fast path in both directions, with payloads of every length modulo 4,
// padded over TCP, and counted in the traffic counters.
func TestFastPathRelaysBothWays(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		bindEcho(t, c, 0x4001)
		const n = 40
		var bytesSent uint64
		for i := 0; i < n; i++ {
			// 5 .. 1136 bytes: pion's STUNConn (the test client's TCP
			// framing) waits for 9 bytes, so an 8-byte frame would sit there.
			p := bytes.Repeat([]byte{byte(i)}, 5+i*29)
			bytesSent += uint64(len(p))
			if !c.echoChannel(0x4001, p, tcp) {
				t.Fatalf("echo %d lost", i)
			}
		}
		waitStats(t, s, func(st Stats) bool {
			return st.FastToPeers == n && st.FastFromPeers == n && st.PacketsToPeers == n &&
				st.PacketsFromPeers == n && st.BytesToPeers == bytesSent && st.BytesFromPeers == bytesSent
		})
		// Other traffic still reaches pion.
		if a := c.binding(); a == nil {
			t.Fatal("no binding response")
		}
	})
}

// TestFastPathDisabled: with DisableFastPath pion relays, and the fast path
// counts nothing.
func TestFastPathDisabled(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, func(c *Config) { c.DisableFastPath = true })
		bindEcho(t, c, 0x4001)
		for i := 0; i < 10; i++ {
			if !c.echoChannel(0x4001, []byte(fmt.Sprintf("hello %d", i)), tcp) {
				t.Fatalf("echo %d lost", i)
			}
		}
		st := waitStats(t, s, func(st Stats) bool { return st.PacketsToPeers == 10 && st.PacketsFromPeers == 10 })
		if st.FastToPeers != 0 || st.FastFromPeers != 0 {
			t.Fatalf("fast path used while disabled: %+v", st)
		}
	})
}

// TestFastPathFollowsPermissions: when pion drops the permission of a bound
// peer the fast path stops and pion's own rules decide (pion still relays a
// bound channel); when pion grants it again the fast path resumes. pion's
// permission lifetime is a fixed 5 minutes, so its events are replayed here.
func TestFastPathFollowsPermissions(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		peer := bindEcho(t, c, 0x4002)
		r := onlyRelay(t, s)
		if !c.echoChannel(0x4002, []byte("fast path"), tcp) {
			t.Fatal("echo lost")
		}
		waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 1 && st.FastFromPeers == 1 })
		s.onPermission(r.adv, peer.IP, false) // what pion reports when the permission expires
		if !c.echoChannel(0x4002, []byte("pion's path"), tcp) {
			t.Fatal("pion did not relay the bound channel")
		}
		st := waitStats(t, s, func(st Stats) bool { return st.PacketsToPeers == 2 && st.PacketsFromPeers == 2 })
		if st.FastToPeers != 1 || st.FastFromPeers != 1 {
			t.Fatalf("fast path used without a permission: %+v", st)
		}
		s.onPermission(r.adv, peer.IP, true) // what pion reports when it grants it again
		if !c.echoChannel(0x4002, []byte("fast again"), tcp) {
			t.Fatal("echo lost")
		}
		waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 2 && st.FastFromPeers == 2 })
	})
}

// TestFastPathChannelExpiry: once pion expires a channel, its ChannelData is
// no longer relayed at all (pion drops it), and the peer's datagrams reach
// the client as pion's Data indications.
func TestFastPathChannelExpiry(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 300*time.Millisecond, nil)
		code, relayAddr := c.allocate()
		if code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		peer := peerConn(t)
		pa := peer.LocalAddr().(*net.UDPAddr)
		if code := c.channelBind(0x4003, pa.IP, pa.Port); code != 0 {
			t.Fatalf("channel bind: %d", code)
		}
		c.sendRaw(channelFrame(0x4003, []byte("bound"), tcp))
		buf := make([]byte, 2048)
		_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "bound" {
			t.Fatalf("peer got %q, %v", buf[:n], err)
		}
		waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 1 })
		time.Sleep(600 * time.Millisecond) // the channel expires; the permission (5 min) stays
		if tb := &onlyRelay(t, s).fast; tb.peers.Load() != nil {
			t.Fatal("expired channel still in the fast path")
		}
		c.sendRaw(channelFrame(0x4003, []byte("expired"), tcp))
		_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, _, err := peer.ReadFrom(buf); err == nil {
			t.Fatalf("ChannelData of an expired channel relayed: %q", buf[:n])
		}
		if _, err := peer.WriteTo([]byte("from peer"), relayAddr); err != nil {
			t.Fatal(err)
		}
		for {
			f := c.recvFrame(2 * time.Second)
			if f == nil {
				t.Fatal("no Data indication")
			}
			m := &stun.Message{Raw: f}
			if m.Decode() != nil || m.Type != stun.NewType(stun.MethodData, stun.ClassIndication) {
				if _, _, ok := parseChannelData(f); ok {
					t.Fatal("ChannelData on an expired channel")
				}
				continue
			}
			if d, err := m.Get(stun.AttrData); err != nil || string(d) != "from peer" {
				t.Fatalf("Data indication with %q, %v", d, err)
			}
			break
		}
		st := s.Stats()
		if st.FastToPeers != 1 || st.FastFromPeers != 0 {
			t.Fatalf("fast path after expiry: %+v", st)
		}
	})
}

// TestFastPathAllocationDeleted: after the client deletes its allocation
// nothing is relayed and no binding is left in any table.
func TestFastPathAllocationDeleted(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		bindEcho(t, c, 0x4004)
		if !c.echoChannel(0x4004, []byte("before"), tcp) {
			t.Fatal("echo lost")
		}
		if code := c.refresh(0); code != 0 {
			t.Fatalf("refresh 0: %d", code)
		}
		if c.echoChannel(0x4004, []byte("after"), tcp) {
			t.Fatal("relayed after the allocation was deleted")
		}
		n := 0
		s.relayByAddr.Range(func(any, any) bool { n++; return true })
		s.sides.Range(func(_, v any) bool {
			v.(clientSide).table().m.Range(func(any, any) bool { n++; return true })
			return true
		})
		if n != 0 {
			t.Fatalf("%d fast path entries left", n)
		}
	})
}

// TestFastPathPeerPolicy: a peer the policy refuses gets no channel, so no
// binding, and its ChannelData goes nowhere.
func TestFastPathPeerPolicy(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, true, 0, nil)
		if code, _ := c.allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		sk := newSinkOn(t, "127.0.0.2:0") // loopback, and not the own relay IP
		pa := sk.pc.LocalAddr().(*net.UDPAddr)
		if code := c.channelBind(0x4005, pa.IP, pa.Port); code == 0 {
			t.Fatal("channel to a loopback peer bound")
		}
		for i := 0; i < 10; i++ {
			c.sendRaw(channelFrame(0x4005, []byte("to loopback"), tcp))
		}
		time.Sleep(200 * time.Millisecond)
		st := s.Stats()
		if sk.count() != 0 || st.PacketsToPeers != 0 || st.FastToPeers != 0 || st.PermissionDenials == 0 {
			t.Fatalf("sink got %d; stats %+v", sk.count(), st)
		}
		if r := onlyRelay(t, s); r.fast.peers.Load() != nil {
			t.Fatal("binding for a refused peer")
		}
	})
}

// TestFastPathOwnPort: a channel to the server's own relay IP at a port
// without a live allocation (below the relay range, or inside it) never
// relays, on the fast path or pion's, and every datagram is counted.
func TestFastPathOwnPort(t *testing.T) {
	s, c := fastServer(t, false, true, 0, nil) // 127.0.0.1 is the own relay IP
	if code, _ := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	below := newSink(t) // ephemeral port below the relay range
	inside := sinkInRange(t, s)
	for i, sk := range []*sink{below, inside} {
		pa := sk.pc.LocalAddr().(*net.UDPAddr)
		num := uint16(0x4006 + i)
		if code := c.channelBind(num, pa.IP, pa.Port); code != 0 {
			t.Fatalf("channel bind: %d", code)
		}
		for j := 0; j < 5; j++ {
			c.sendRaw(channelFrame(num, []byte("own port"), false))
		}
	}
	waitStats(t, s, func(st Stats) bool { return st.OwnPortDrops == 10 })
	if below.count() != 0 || inside.count() != 0 || s.Stats().FastToPeers != 0 {
		t.Fatalf("sinks got %d and %d, stats %+v", below.count(), inside.count(), s.Stats())
	}
}

// TestFastPathOwnRelayEnds: a fast channel to another allocation on the
// same server relays while that allocation lives and stops the moment it
// ends, although the binding itself is still there.
func TestFastPathOwnRelayEnds(t *testing.T) {
	s, c := fastServer(t, false, true, 0, nil)
	if code, _ := c.allocate(); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	cred := s.issuer.Issue("bob")
	peer := newRawClient(t, s, false, cred.Username, cred.Password)
	code, relayed := peer.allocate()
	if code != 0 {
		t.Fatalf("peer allocate: %d", code)
	}
	if code := c.channelBind(0x4010, relayed.IP, relayed.Port); code != 0 {
		t.Fatalf("channel bind: %d", code)
	}
	c.sendRaw(channelFrame(0x4010, []byte("while live"), false))
	waitStats(t, s, func(st Stats) bool { return st.PacketsToPeers == 1 })
	if code := peer.refresh(0); code != 0 {
		t.Fatalf("peer delete: %d", code)
	}
	waitStats(t, s, func(st Stats) bool { return st.AllocationsActive == 1 })
	// Another socket takes the freed port (once the relay socket is closed,
	// which may trail the event by a loop iteration): it must get nothing.
	deadline := time.Now().Add(2 * time.Second)
	for {
		pc, err := net.ListenPacket("udp4", relayed.String())
		if err == nil {
			_ = pc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay port still bound after the allocation ended: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	sk := newSinkOn(t, relayed.String())
	for i := 0; i < 5; i++ {
		c.sendRaw(channelFrame(0x4010, []byte("after end"), false))
	}
	waitStats(t, s, func(st Stats) bool { return st.OwnPortDrops == 5 })
	if sk.count() != 0 {
		t.Fatalf("the freed relay port received %d datagrams", sk.count())
	}
}

// TestFastPathMalformed: short, oversized, mislabelled and overlong
// ChannelData on a client with a bound channel is dropped (or passed to pion,
// which drops it), nothing panics, and the channel keeps working; over TCP a
// frame split into single bytes and a STUN message larger than the frame
// buffer keep the framing, and a stream that is no TURN framing ends only
// its own conn.
func TestFastPathMalformed(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		bindEcho(t, c, 0x4007)
		big := bytes.Repeat([]byte{'x'}, maxFastFrame+100)
		if !tcp {
			bad := [][]byte{
				{0x40}, {0x40, 0x07}, {0x40, 0x07, 0x00},
				{0x40, 0x07, 0x00, 0x09, 1, 2, 3}, // length past the end
				{0x40, 0x07, 0xff, 0xff},
				channelFrame(0x4007, big, false), // pion drops it too
				channelFrame(0x4fff, []byte("unbound"), false),
				{0x80, 0x07, 0x00, 0x01, 1},
			}
			for _, b := range bad {
				c.sendRaw(b)
			}
		} else {
			// One frame a byte at a time.
			for _, b := range channelFrame(0x4007, []byte("split"), true) {
				c.sendRaw([]byte{b})
				time.Sleep(time.Millisecond)
			}
			if f := c.recvFrame(2 * time.Second); f == nil || string(f[chanHeader:chanHeader+5]) != "split" {
				t.Fatalf("split frame: %q", f)
			}
			// Oversized ChannelData and an unbound channel go to pion, which drops them.
			c.sendRaw(channelFrame(0x4007, big, true))
			c.sendRaw(channelFrame(0x4fff, []byte("unbound"), true))
			// A STUN indication larger than the frame buffer passes through whole.
			ind := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
				setterFunc(func(m *stun.Message) error {
					m.Add(stun.AttrData, bytes.Repeat([]byte{'y'}, 3*tcpFrameBuffer))
					return nil
				}))
			c.sendRaw(ind.Raw)
		}
		for i := 0; i < 5; i++ {
			if !c.echoChannel(0x4007, []byte(fmt.Sprintf("still %d", i)), tcp) {
				t.Fatalf("echo %d lost after malformed input", i)
			}
		}
		if !tcp {
			return
		}
		// A stream that wraps pion's 16-bit frame length ends that conn only.
		conn, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = conn.Write([]byte{0x40, 0x07, 0xff, 0xfe, 0, 0, 0, 0, 0})
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Read(make([]byte, 16)); err == nil {
			t.Fatal("conn with a wrapped frame length not closed")
		}
		if !c.echoChannel(0x4007, []byte("others unaffected"), tcp) {
			t.Fatal("echo lost")
		}
	})
}

// TestParseChannelData pins the validation rules.
func TestParseChannelData(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		num  uint16
		data string
		ok   bool
	}{
		{[]byte{0x40, 0x00, 0x00, 0x00}, 0x4000, "", true},
		{[]byte{0x7f, 0xff, 0x00, 0x02, 'h', 'i', 0, 0}, 0x7fff, "hi", true},
		{[]byte{0x40, 0x01, 0x00, 0x03, 'a', 'b'}, 0, "", false},
		{[]byte{0x3f, 0xff, 0x00, 0x00}, 0, "", false},
		{[]byte{0x80, 0x00, 0x00, 0x00}, 0, "", false},
		{[]byte{0x40, 0x00, 0x00}, 0, "", false},
		{channelFrame(0x4000, make([]byte, maxFastFrame-chanHeader-1), false), 0x4000, string(make([]byte, maxFastFrame-chanHeader-1)), true},
		{channelFrame(0x4000, make([]byte, maxFastFrame-chanHeader), false), 0, "", false},
	} {
		num, data, ok := parseChannelData(tc.in)
		if ok != tc.ok || (ok && (num != tc.num || string(data) != tc.data)) {
			t.Errorf("parseChannelData(% x): %#x %q %v", tc.in[:min(8, len(tc.in))], num, data, ok)
		}
	}
}

// FuzzParseChannelData: never panics, and what it accepts re-encodes to a
// prefix of the input.
func FuzzParseChannelData(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0x00, 0x01, 'x', 0, 0, 0})
	f.Add([]byte{0x40, 0x00, 0xff, 0xff})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		num, payload, ok := parseChannelData(b)
		if !ok {
			return
		}
		if !isChannelNumber(num) || len(b) >= maxFastFrame {
			t.Fatalf("accepted %#x / %d bytes", num, len(b))
		}
		if re := channelFrame(num, payload, false); !bytes.Equal(re, b[:len(re)]) {
			t.Fatalf("re-encoded % x, input % x", re, b)
		}
	})
}

// chunkConn serves a byte stream in reads of at most chunk bytes.
type chunkConn struct {
	net.Conn // nil; only Read and SetReadDeadline are called
	data     []byte
	chunk    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, errors.New("eof")
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

// FuzzFrameReader: with no channel bound, the frame reader hands pion the
// stream unchanged, frame by frame, whatever the read sizes, up to an
// error; it never panics or spins.
func FuzzFrameReader(f *testing.F) {
	stunMsg := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	f.Add(append(channelFrame(0x4001, []byte("abc"), true), stunMsg...), uint8(1), uint16(1600))
	f.Add(append(stunMsg, 0x40, 0x01, 0xff, 0xff), uint8(7), uint16(64))
	f.Add([]byte{0xff, 0, 0, 0}, uint8(3), uint16(1))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8, pbuf uint16) {
		if chunk == 0 || pbuf == 0 {
			return
		}
		conn := &chunkConn{data: stream, chunk: int(chunk)}
		srv := &Server{tcpIdle: time.Hour, tcpFirst: time.Hour, tcpNoAlloc: time.Hour, allocs: newAllocTable()}
		tc := &tcpConn{Conn: conn, s: srv, raddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, fr: &frameReader{buf: make([]byte, tcpFrameStart)}}
		var out []byte
		p := make([]byte, pbuf)
		for i := 0; i <= len(stream)+1; i++ {
			n, err := tc.Read(p)
			out = append(out, p[:n]...)
			if err != nil {
				break
			}
			if n == 0 {
				t.Fatal("Read returned 0 bytes and no error")
			}
		}
		if !bytes.Equal(out, stream[:len(out)]) {
			t.Fatal("bytes changed on the way to pion")
		}
		if len(out) < len(stream) {
			// Stopped early: at an invalid or incomplete frame, never in a valid one.
			rest := stream[len(out):]
			kind, size := nextFrame(rest)
			if kind != frameInvalid && kind != frameIncomplete && size <= len(rest) {
				t.Fatalf("stopped before a whole %d-byte frame (kind %d)", size, kind)
			}
		}
	})
}

// TestFastPathBurst keeps 32 datagrams in flight for 1,024 echoes, so the
// relay turns to batched reads and the batched sends (sendmmsg over UDP, one
// write per batch over TCP) carry most of them; every payload comes back
// once, in a frame of its own.
func TestFastPathBurst(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		bindEcho(t, c, 0x4008)
		const total, window = 1024, 32
		seen := make(map[uint32]bool, total)
		for sent := 0; sent < total; sent += window {
			for i := sent; i < sent+window; i++ {
				p := make([]byte, 100+i%7) // lengths of every residue mod 4
				binary.BigEndian.PutUint32(p, uint32(i))
				c.sendRaw(channelFrame(0x4008, p, tcp))
			}
			for got := 0; got < window; got++ {
				f := c.recvFrame(2 * time.Second)
				if f == nil {
					t.Fatalf("%d of %d echoes back", len(seen), sent+window)
				}
				num, p, ok := parseChannelData(f)
				if !ok || num != 0x4008 || len(p) < 4 {
					t.Fatalf("bad echo frame % x", f[:min(len(f), 16)])
				}
				i := binary.BigEndian.Uint32(p)
				if seen[i] || len(p) != 100+int(i)%7 {
					t.Fatalf("echo %d twice or with %d bytes", i, len(p))
				}
				seen[i] = true
			}
		}
		waitStats(t, s, func(st Stats) bool { return st.FastToPeers == total && st.FastFromPeers == total })
		if r := onlyRelay(t, s); s.tune.relayBatch > 1 && !r.batching.Load() {
			t.Error("relay never switched to batched reads")
		}
	})
}

// selfSigned is a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestFastPathTLS: over TURN-over-TLS (an AddListener conn, read and written
// through crypto/tls rather than raw system calls) bound channels take the
// fast path both ways too.
func TestFastPathTLS(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.AllowPeers = []string{"127.0.0.1/32"}
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test certificate
	if err != nil {
		t.Fatal(err)
	}
	cred := iss.Issue("alice")
	cl := &rawClient{t: t, conn: newSTUNConn(conn), server: ln.Addr(), user: cred.Username, pass: cred.Password, realm: s.Realm()}
	t.Cleanup(func() { _ = cl.conn.Close() })
	bindEcho(t, cl, 0x4009)
	for i := 0; i < 20; i++ {
		if !cl.echoChannel(0x4009, []byte(fmt.Sprintf("over tls %d", i)), true) {
			t.Fatalf("echo %d lost", i)
		}
	}
	waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 20 && st.FastFromPeers == 20 })
	if st := s.Stats(); st.FastPathMisses != 0 {
		t.Fatalf("%d fast path misses over TLS", st.FastPathMisses)
	}
}

// TestPionAddressIdentity pins what the fast path assumes of pion: the
// relay address and the 5-tuple ends it reports in its allocation and
// channel events are the very net.Addr values rtcd's conns returned, so the
// lookups by identity find rtcd's sockets. If a pion upgrade copied them,
// relaying would silently fall back to pion's slower path; here it fails.
func TestPionAddressIdentity(t *testing.T) {
	transports(t, func(t *testing.T, tcp bool) {
		s, c := fastServer(t, tcp, false, 0, nil)
		peer := bindEcho(t, c, 0x4010)
		r := onlyRelay(t, s)
		if got := s.fastRelay(r.adv); got != r {
			t.Fatalf("relay address %v does not find its relay", r.adv)
		}
		r.fast.mu.Lock()
		n := len(r.fast.chans)
		r.fast.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d channels on the fast path, want 1", n)
		}
		if !c.echoChannel(0x4010, []byte("identity"), tcp) {
			t.Fatal("echo lost")
		}
		waitStats(t, s, func(st Stats) bool { return st.FastToPeers == 1 && st.FastFromPeers == 1 })
		if st := s.Stats(); st.FastPathMisses != 0 {
			t.Fatalf("%d fast path misses (peer %v)", st.FastPathMisses, peer)
		}
	})
}
