package turn

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// garbageDatagrams yields n malformed or truncated STUN/TURN datagrams.
func garbageDatagrams(n int, valid []byte) [][]byte {
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		var b []byte
		switch i % 8 {
		case 0: // random bytes
			b = make([]byte, r.IntN(1600))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1: // truncated valid request
			b = append([]byte(nil), valid[:r.IntN(len(valid))]...)
		case 2: // valid header, length past the end
			b = append([]byte(nil), valid...)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(valid)+r.IntN(500)))
		case 3: // bit flips in a valid request
			b = append([]byte(nil), valid...)
			for k := 0; k < 3; k++ {
				b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
			}
		case 4: // ChannelData for a channel nobody bound, bad lengths
			b = []byte{0x40, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 1, 2, 3}
		case 5: // attribute with a huge length
			b = append([]byte(nil), valid[:20]...)
			b = append(b, 0x00, 0x06, 0xff, 0xff, 'x')
			binary.BigEndian.PutUint16(b[2:4], 8)
		case 6: // unknown method / class
			m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.Method(0x0fff&uint16(r.Uint32())), stun.ClassIndication))
			b = m.Raw
		case 7: // authenticated-looking Allocate with junk credentials
			m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
				requestedTransportUDP(), stun.NewUsername("9999999999:junk"), stun.NewRealm("rtcd"),
				stun.NewNonce("bogus"), stun.NewShortTermIntegrity("x"))
			b = m.Raw
		}
		out = append(out, b)
	}
	return out
}

// TestGarbageThenBinding: 10,000 malformed/truncated datagrams and garbage
// TCP streams leave the server answering, with no state grown.
func TestGarbageThenBinding(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	s := newTestServer(t, testConfig(), iss)
	valid := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint).Raw
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// Drain replies so our socket buffer never blocks anything.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i, d := range garbageDatagrams(10000, valid) {
		if _, err := pc.WriteTo(d, s.UDPAddr()); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i%500 == 0 {
			time.Sleep(time.Millisecond) // let the server keep up; loss is fine either way
		}
	}
	// Unauthenticated Allocate floods: 401 each, no state.
	for i := 0; i < 1000; i++ {
		m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), requestedTransportUDP())
		_, _ = pc.WriteTo(m.Raw, s.UDPAddr())
	}

	// Garbage TCP streams.
	r := rand.New(rand.NewPCG(3, 4)) //nolint:gosec
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		switch i % 4 {
		case 0:
			b = make([]byte, 1+r.IntN(4000))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1: // a STUN header announcing more than follows, then hang up
			b = append([]byte(nil), valid[:20]...)
			binary.BigEndian.PutUint16(b[2:4], 0xfff0)
		case 2: // many valid frames glued to garbage
			for k := 0; k < 20; k++ {
				b = append(b, valid...)
			}
			b = append(b, "GET / HTTP/1.1\r\n\r\n"...)
		case 3: // a few bytes only
			b = []byte{0x00, 0x01}
		}
		_, _ = c.Write(b)
		_ = c.Close()
	}
	// Still answering, on both transports.
	for _, tcp := range []bool{false, true} {
		cl := newRawClient(t, s, tcp, "", "")
		if a := cl.binding(); a == nil || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("binding (tcp=%v) = %v", tcp, a)
		}
	}
	cred := iss.Issue("after-flood")
	if code, _ := newRawClient(t, s, false, cred.Username, cred.Password).allocate(); code != 0 {
		t.Fatalf("allocate after flood: %d", code)
	}
	if live, users, pend := s.allocs.sizes(); live != 1 || users != 1 || pend != 0 {
		t.Fatalf("alloc table grew from garbage: live=%d users=%d pending=%d", live, users, pend)
	}
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if grew := int64(ms1.HeapInuse) - int64(ms0.HeapInuse); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes during the flood", grew)
	}
	_ = pc.Close()
	wg.Wait()
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults ok", func(*Config) {}, ""},
		{"bad listen", func(c *Config) { c.Listen = "nonsense" }, "Turn.Listen"},
		{"listen host not ip", func(c *Config) { c.Listen = "example.com:3478" }, "Turn.Listen"},
		{"listen port", func(c *Config) { c.Listen = ":99999" }, "Turn.Listen"},
		{"listen inside relay range", func(c *Config) { c.Listen = ":50000" }, "Turn.Listen"},
		{"min > max", func(c *Config) { c.MinPort, c.MaxPort = 60000, 50000 }, "Turn.MinPort"},
		{"max out of range", func(c *Config) { c.MaxPort = 70000 }, "Turn.MaxPort"},
		{"negative min", func(c *Config) { c.MinPort = -1 }, "Turn.MinPort"},
		{"bad public ip", func(c *Config) { c.PublicIP = "1.2.3" }, "Turn.PublicIP"},
		{"ipv6 public ip", func(c *Config) { c.PublicIP = "2001:db8::1" }, "Turn.PublicIP"},
		{"unspecified public ip", func(c *Config) { c.PublicIP = "0.0.0.0" }, "Turn.PublicIP"},
		{"bad relay ip", func(c *Config) { c.RelayIP = "x" }, "Turn.RelayIP"},
		{"relay ip any ok", func(c *Config) { c.RelayIP = "0.0.0.0" }, ""},
		{"bad allow cidr", func(c *Config) { c.AllowPeers = []string{"10.0.0.0/8", "10.0.0.0/99"} }, "Turn.AllowPeers[1]"},
		{"bad deny cidr", func(c *Config) { c.DenyPeers = []string{"banana"} }, "Turn.DenyPeers[0]"},
		{"negative quota", func(c *Config) { c.MaxAllocationsPerUser = -1 }, "Turn.MaxAllocationsPerUser"},
		{"negative total", func(c *Config) { c.MaxAllocations = -5 }, "Turn.MaxAllocations"},
		{"too many sockets", func(c *Config) { c.UDPSockets = 1000 }, "Turn.UDPSockets"},
	}
	iss := newIssuer(t, []string{testSecret})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want mention of %s", err, tt.want)
			}
			if _, err := New(c, iss); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

func TestDefaultsAndDetection(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	s, err := New(Config{}, iss)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Listen != "0.0.0.0:3478" || s.cfg.Realm != "rtcd" || s.cfg.MinPort != 49152 || s.cfg.MaxPort != 65535 ||
		s.cfg.MaxAllocationsPerUser != 10 || s.cfg.MaxAllocations != 10000 || s.cfg.UDPSockets != runtime.NumCPU() {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
	if !s.PublicIPDetected() || s.PublicIP().To4() == nil {
		t.Fatalf("detected public IP %v", s.PublicIP())
	}
	// detectPublicIP preferences.
	p := func(ss ...string) []netipAddr { return parseAddrs(ss...) }
	for _, tt := range []struct {
		in   []netipAddr
		want string
	}{
		{p("127.0.0.1", "10.0.0.5", "203.0.113.7"), "203.0.113.7"},
		{p("127.0.0.1", "10.0.0.5"), "10.0.0.5"},
		{p("127.0.0.1", "169.254.1.1"), "127.0.0.1"},
		{nil, "127.0.0.1"},
	} {
		if got := detectPublicIP(tt.in).String(); got != tt.want {
			t.Errorf("detectPublicIP(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestTCPLimits: connections past MaxTCPConnections are closed on accept, and
// an idle connection is closed after the idle timeout.
func TestTCPLimits(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.MaxTCPConnections = 2
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	s.tcpFirst = 300 * time.Millisecond
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		conn, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	if !closedByServer(conns[2], 2*time.Second) {
		t.Fatal("connection past MaxTCPConnections was not closed")
	}
	// Both admitted connections send nothing and are closed at the
	// first-message deadline.
	if !closedByServer(conns[0], 5*time.Second) || !closedByServer(conns[1], 5*time.Second) {
		t.Fatal("idle TCP connection not closed")
	}
	if st := s.Stats(); st.TCPRefused != 1 || st.TCPTimeouts != 2 {
		t.Fatalf("TCPRefused %d, TCPTimeouts %d; want 1 and 2", st.TCPRefused, st.TCPTimeouts)
	}
	// Slots are free again: a new connection is served.
	cl := newRawClient(t, s, true, "", "")
	if a := cl.binding(); a == nil {
		t.Fatal("no binding over TCP after idle close")
	}
}

// closedByServer reports whether the server closed conn within the time
// given (rather than the read timing out).
func closedByServer(conn net.Conn, within time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(within))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestTCPIdleFlood: a flood of TCP connections from one address that send
// nothing or half a STUN header fills only that address's share, so a
// second address still allocates; the flood is closed at the first-message
// deadline, a conn that sent a whole message but allocated nothing at the
// short idle timeout, and an allocated conn stays.
func TestTCPIdleFlood(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.MaxTCPConnections = 30
	c.MaxTCPConnectionsPerAddress = 20
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	s.tcpFirst = 500 * time.Millisecond
	s.tcpNoAlloc = time.Second
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	half := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw[:10]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var flood []net.Conn
	for i := 0; i < 40; i++ {
		conn, err := d.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if i%2 == 1 {
			if _, err := conn.Write(half); err != nil {
				t.Fatal(err)
			}
		}
		flood = append(flood, conn)
	}
	waitStats(t, s, func(st Stats) bool { return st.TCPRefused == 20 })

	// Another address allocates while the flood is held open.
	cred := iss.Issue("alice")
	cl := newRawClientFrom(t, s, true, "127.0.0.1", cred.Username, cred.Password)
	if code, _ := cl.allocate(); code != 0 {
		t.Fatalf("allocate from a second address during the flood: %d", code)
	}
	// A whole first message but no allocation: the short idle timeout.
	quiet := newRawClientFrom(t, s, true, "127.0.0.3", "", "")
	if a := quiet.binding(); a == nil {
		t.Fatal("no binding over TCP")
	}
	start := time.Now()
	for i, conn := range flood {
		if !closedByServer(conn, 5*time.Second) {
			t.Fatalf("flood connection %d still open", i)
		}
	}
	_ = quiet.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if _, _, err := quiet.conn.ReadFrom(make([]byte, 1500)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection without an allocation not closed: %v", err)
	}
	if time.Since(start) < s.tcpNoAlloc/2 {
		t.Fatal("connection without an allocation closed at the first-message deadline")
	}
	waitStats(t, s, func(st Stats) bool { return st.TCPTimeouts == 21 })
	// The allocated conn outlived both deadlines.
	if code := cl.refresh(time.Minute); code != 0 {
		t.Fatalf("refresh on the allocated conn: %d", code)
	}
}

// TestBindingRateLimit: a Binding flood from one address gets at most the
// burst plus the rate's worth of answers, on every UDP read path (event
// loops, Go's poller, without the fast path); the rest is dropped and
// counted; another address, and ICE's few requests, are answered.
func TestBindingRateLimit(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"event loops":  func(*Config) {},
		"go poller":    func(c *Config) { c.DisableEventLoops = true },
		"no fast path": func(c *Config) { c.DisableFastPath = true },
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig()
			c.BindingRate, c.BindingBurst = 10, 20
			mod(&c)
			s := newTestServer(t, c, newIssuer(t, []string{testSecret}))
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			const flood = 300
			start := time.Now()
			for i := 0; i < flood; i++ {
				req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
				if _, err := pc.WriteTo(req.Raw, s.UDPAddr()); err != nil {
					t.Fatal(err)
				}
			}
			answered := 0
			buf := make([]byte, 1500)
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					break
				}
				answered++
			}
			elapsed := time.Since(start)
			limit := c.BindingBurst + int(float64(c.BindingRate)*elapsed.Seconds()) + 1
			if answered < c.BindingBurst || answered > limit {
				t.Fatalf("%d of %d answered in %v; want %d to %d", answered, flood, elapsed, c.BindingBurst, limit)
			}
			// Every request is answered, limited, or (event loops) dropped
			// because pion's reader fell behind the flood.
			waitStats(t, s, func(st Stats) bool {
				return st.BindingRateLimited > 0 && st.BindingRateLimited+st.LoopQueueDrops == uint64(flood-answered)
			})
			// Another address is answered at once, every time.
			other := newRawClientFrom(t, s, false, "127.0.0.2", "", "")
			for i := 0; i < 5; i++ {
				if other.binding() == nil {
					t.Fatal("no answer to a second address")
				}
			}
		})
	}
}

// TestBindingLimiterRefill: the bucket refills at the rate, never past the
// burst, and the table forgets addresses that are idle long enough.
func TestBindingLimiterRefill(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newBindingLimiter(20, 40, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.1")
	took := func(n int) int {
		k := 0
		for i := 0; i < n; i++ {
			if l.allow(a) {
				k++
			}
		}
		return k
	}
	if got := took(100); got != 40 {
		t.Fatalf("burst: %d, want 40", got)
	}
	now = now.Add(500 * time.Millisecond)
	if got := took(100); got != 10 {
		t.Fatalf("after 0.5 s at 20/s: %d, want 10", got)
	}
	now = now.Add(time.Hour)
	if got := took(100); got != 40 {
		t.Fatalf("after an hour: %d, want the burst 40", got)
	}
	now = now.Add(time.Hour)
	l.allow(netip.MustParseAddr("192.0.2.2")) // sweeps
	if _, ok := l.buckets[a]; ok {
		t.Fatal("an idle, refilled bucket was kept")
	}
}
