package turn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/rtcd/rtcd/auth"
	"go.uber.org/goleak"
)

func TestRelayEcho(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		name := "udp"
		if tcp {
			name = "tcp"
		}
		t.Run(name, func(t *testing.T) {
			s, c, cl, relay, peer := loopbackAllocation(t, tcp)
			ra := relay.LocalAddr().(*net.UDPAddr)
			if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port < c.MinPort || ra.Port > c.MaxPort {
				t.Fatalf("relay address %v outside 127.0.0.1:%d-%d", ra, c.MinPort, c.MaxPort)
			}
			echoRoundTrip(t, relay, peer, 20)
			st := s.Stats()
			if st.AllocationsCreated != 1 || st.AllocationsActive != 1 {
				t.Fatalf("stats %+v", st)
			}
			// 20 echoes of "hello N" (7–8 bytes), at least once each way. A
			// send is counted after its system call returns, so the last echo
			// can be back before its send is counted: poll briefly.
			counted := func(st Stats) bool {
				return st.PacketsToPeers >= 20 && st.PacketsFromPeers >= 20 && st.BytesToPeers >= 140 && st.BytesFromPeers >= 140
			}
			for deadline := time.Now().Add(2 * time.Second); !counted(st) && time.Now().Before(deadline); st = s.Stats() {
				time.Sleep(5 * time.Millisecond)
			}
			if !counted(st) {
				t.Fatalf("traffic counters %+v", st)
			}
			// A STUN binding request is answered too.
			if m, err := cl.SendBindingRequest(); err != nil || m == nil {
				t.Fatalf("binding: %v %v", m, err)
			}
		})
	}
}

func TestCredentialsRefused(t *testing.T) {
	clk := newFakeClock()
	iss := newIssuer(t, []string{testSecret}, auth.WithClock(clk.now))
	s := newTestServer(t, testConfig(), iss)
	other := newIssuer(t, []string{"some-other-secret-xyz"}, auth.WithClock(clk.now))
	valid := iss.Issue("alice")
	expired := func() auth.Credential {
		old := newIssuer(t, []string{testSecret}, auth.WithClock(func() time.Time { return clk.now().Add(-2 * time.Hour) }))
		return old.Issue("alice")
	}()
	forged := other.Issue("alice")
	tests := []struct {
		name, user, pass, realm string
		noAuth                  bool
		want                    int
	}{
		{name: "missing credentials", noAuth: true, want: 401},
		{name: "expired", user: expired.Username, pass: expired.Password, want: 400},
		{name: "forged secret", user: forged.Username, pass: forged.Password, want: 400},
		{name: "wrong password", user: valid.Username, pass: "Tpz/nKkyvX/vMSLKvL4sbtBt8Vs=", want: 400},
		{name: "malformed username", user: "alice", pass: valid.Password, want: 400},
		{name: "milliseconds expiry", user: strconv.FormatInt(clk.now().Add(time.Hour).UnixMilli(), 10) + ":a", pass: "x", want: 400},
		{name: "wrong realm", user: valid.Username, pass: valid.Password, realm: "evil", want: 400},
		{name: "valid", user: valid.Username, pass: valid.Password, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats().AuthFailures
			c := newRawClient(t, s, false, tt.user, tt.pass)
			if tt.realm != "" {
				c.realm = tt.realm
			}
			var code int
			if tt.noAuth {
				code = errorCode(c.do(stun.MethodAllocate, false, requestedTransportUDP()))
			} else {
				code, _ = c.allocate()
			}
			if code != tt.want {
				t.Fatalf("Allocate = %d, want %d", code, tt.want)
			}
			if tt.want == 400 && s.Stats().AuthFailures <= before {
				t.Fatalf("auth failure not counted")
			}
			if c.serverRealm != "" && c.serverRealm != "rtcd" {
				t.Fatalf("server realm %q", c.serverRealm)
			}
		})
	}
	if n := s.Stats().AllocationsCreated; n != 1 {
		t.Fatalf("allocations created %d, want 1", n)
	}
}

func TestRotation(t *testing.T) {
	newS, oldS := "new-secret-000000001", "old-secret-000000002"
	iss := newIssuer(t, []string{newS, oldS})
	s := newTestServer(t, testConfig(), iss)
	oldIss := newIssuer(t, []string{oldS})
	plainUser := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":app-user"
	plainPass := coturnPassword(newS, plainUser)
	for _, tt := range []struct {
		name       string
		user, pass string
	}{
		{"minted with the first secret", iss.Issue("a").Username, ""},
		{"minted with the previous secret", "", ""},
		{"plain coturn shape with first secret", plainUser, plainPass},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cred auth.Credential
			switch {
			case tt.pass != "":
				cred = auth.Credential{Username: tt.user, Password: tt.pass}
			case tt.user == "":
				cred = oldIss.Issue("b")
			default:
				cred = iss.Issue("a")
			}
			c := newRawClient(t, s, false, cred.Username, cred.Password)
			if code, _ := c.allocate(); code != 0 {
				t.Fatalf("Allocate = %d", code)
			}
		})
	}
	if !strings.Contains(iss.Issue("x").Username, ":"+auth.KeyID(newS)+":") {
		t.Fatal("new credentials not minted with the first secret")
	}
}

// TestExpiredAllocationKeepsWorking: coturn semantics, an allocation created
// while the credential was valid outlives it; nothing new can be created.
func TestExpiredAllocationKeepsWorking(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "udp", true: "tcp"}[tcp], func(t *testing.T) {
			clk := newFakeClock()
			iss, err := auth.NewIssuer([]string{testSecret}, time.Minute, auth.WithClock(clk.now))
			if err != nil {
				t.Fatal(err)
			}
			c := testConfig()
			c.AllowPeers = []string{"127.0.0.1"}
			s := newTestServer(t, c, iss)
			cred := iss.Issue("alice")
			cl := newRawClient(t, s, tcp, cred.Username, cred.Password)
			if code, _ := cl.allocate(); code != 0 {
				t.Fatalf("Allocate = %d", code)
			}
			clk.advance(2 * time.Minute) // credential now expired
			if code := cl.refresh(10 * time.Minute); code != 0 {
				t.Fatalf("Refresh after expiry = %d", code)
			}
			if code := cl.createPermission(net.IPv4(127, 0, 0, 1)); code != 0 {
				t.Fatalf("CreatePermission after expiry = %d", code)
			}
			if code := cl.channelBind(0x4001, net.IPv4(127, 0, 0, 1), 5000); code != 0 {
				t.Fatalf("ChannelBind after expiry = %d", code)
			}
			if n := s.Stats().ExpiredAccepted; n < 3 {
				t.Fatalf("ExpiredAccepted = %d", n)
			}
			// The same expired credential cannot create a new allocation elsewhere.
			cl2 := newRawClient(t, s, tcp, cred.Username, cred.Password)
			if code, _ := cl2.allocate(); code != 400 {
				t.Fatalf("new Allocate with expired credential = %d, want 400", code)
			}
			// Nor can another user's authentic but expired credential ride on this 5-tuple.
			// Deleting the allocation ends the grace: the next request is refused.
			if code := cl.refresh(0); code != 0 {
				t.Fatalf("Refresh(0) = %d", code)
			}
			if code := cl.refresh(10 * time.Minute); code != 400 {
				t.Fatalf("Refresh after delete = %d, want 400", code)
			}
			if code, _ := cl.allocate(); code != 400 {
				t.Fatalf("re-Allocate with expired credential = %d, want 400", code)
			}
			if live, users, pend := s.allocs.sizes(); live != 0 || users != 0 || pend != 0 {
				t.Fatalf("alloc table not empty: %d %d %d", live, users, pend)
			}
		})
	}
}

func TestPermissionDeniedOnTheWire(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	s := newTestServer(t, testConfig(), iss)
	cred := iss.Issue("alice")
	cl := newRawClient(t, s, false, cred.Username, cred.Password)
	if code, _ := cl.allocate(); code != 0 {
		t.Fatalf("Allocate = %d", code)
	}
	for _, ip := range []string{"127.0.0.2", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.2", "::ffff:10.0.0.1", "0.0.0.0", "192.168.1.1", "100.64.0.1", "224.0.0.1"} {
		before := s.Stats().PermissionDenials
		if code := cl.createPermission(net.ParseIP(ip)); code == 0 {
			t.Errorf("CreatePermission %s succeeded", ip)
		}
		if code := cl.channelBind(0x4000, net.ParseIP(ip), 80); code == 0 {
			t.Errorf("ChannelBind %s succeeded", ip)
		}
		if s.Stats().PermissionDenials != before+2 {
			t.Errorf("%s: denials not counted", ip)
		}
	}
	if code := cl.createPermission(net.ParseIP("8.8.8.8")); code != 0 {
		t.Errorf("CreatePermission to a public address = %d", code) // permission only, nothing is sent
	}
}

// TestOwnRelayReachable: two relay-only clients of one server talk through
// each other's relay addresses without AllowPeers; other ports of the own
// address stay unreachable.
func TestOwnRelayReachable(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	s := newTestServer(t, testConfig(), iss)
	ca, cb := iss.Issue("a"), iss.Issue("b")
	a := pionClient(t, s, false, ca.Username, ca.Password, "rtcd")
	b := pionClient(t, s, true, cb.Username, cb.Password, "rtcd")
	ra, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := b.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	// Both sides install permissions (WriteTo does), then exchange.
	if _, err := rb.WriteTo([]byte("open-perm"), ra.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for i := 0; i < 5; i++ {
		msg := []byte("ping " + strconv.Itoa(i))
		got := false
		for try := 0; try < 5 && !got; try++ {
			if _, err := ra.WriteTo(msg, rb.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = rb.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, from, err := rb.ReadFrom(buf)
				if err != nil {
					break
				}
				if string(buf[:n]) == string(msg) && from.String() == ra.LocalAddr().String() {
					got = true
					break
				}
			}
		}
		if !got {
			t.Fatalf("relay-to-relay datagram %d lost", i)
		}
	}
	// A non-relay port on the own address, and a plain socket inside the
	// relay port range that no allocation holds: the permission is granted
	// (IP only), but the relay drops the datagrams.
	snk := newSink(t)
	inRange := sinkInRange(t, s)
	for i := 0; i < 5; i++ {
		for _, to := range []net.Addr{snk.pc.LocalAddr(), inRange.pc.LocalAddr()} {
			if _, err := ra.WriteTo([]byte("must-drop"), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Known-good traffic after the drops proves the drops were processed.
	// (At least 5 bytes: pion's STUNConn waits for 9 bytes before framing, so
	// a 4-byte ChannelData payload over TCP sits in its buffer.)
	if _, err := ra.WriteTo([]byte("sync-marker"), rb.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = rb.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, _, err := rb.ReadFrom(buf)
		if err != nil || string(buf[:n]) == "sync-marker" {
			break
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().OwnPortDrops < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Stats().OwnPortDrops; n < 10 {
		t.Fatalf("OwnPortDrops = %d, want >= 10", n)
	}
	if n := snk.count(); n != 0 {
		t.Fatalf("non-relay port on own address received %d datagrams", n)
	}
	if n := inRange.count(); n != 0 {
		t.Fatalf("a plain socket inside the relay port range received %d relayed datagrams", n)
	}
}

// sinkInRange binds a sink on the server's relay IP at a free port of its
// relay range.
func sinkInRange(t *testing.T, s *Server) *sink {
	t.Helper()
	for p := s.cfg.MinPort; p <= s.cfg.MaxPort; p++ {
		if s.livePorts.has(p) {
			continue
		}
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(s.publicIP.String(), strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = pc.Close()
		return newSinkOn(t, net.JoinHostPort(s.publicIP.String(), strconv.Itoa(p)))
	}
	t.Fatal("no free port in the relay range")
	return nil
}

// TestAddressQuota: one client address cannot hold more than
// MaxAllocationsPerAddress allocations by minting more usernames, over UDP
// and TCP together, and another address is not affected.
func TestAddressQuota(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.MaxAllocationsPerAddress = 3
	s := newTestServer(t, c, iss)
	alloc := func(local string, tcp bool, user string) int {
		cred := iss.Issue(user)
		code, _ := newRawClientFrom(t, s, tcp, local, cred.Username, cred.Password).allocate()
		return code
	}
	for i, tcp := range []bool{false, true, false} {
		if code := alloc("127.0.0.1", tcp, "user"+strconv.Itoa(i)); code != 0 {
			t.Fatalf("allocation %d from 127.0.0.1: %d", i, code)
		}
	}
	for _, tcp := range []bool{false, true} {
		if code := alloc("127.0.0.1", tcp, "fresh-name"); code != 486 {
			t.Fatalf("allocation past the address quota (tcp %v): %d, want 486", tcp, code)
		}
	}
	if code := alloc("127.0.0.2", false, "other-host"); code != 0 {
		t.Fatalf("another address: %d", code)
	}
	st := s.Stats()
	if st.AddressQuotaRefusals != 2 || st.QuotaRefusals != 2 {
		t.Fatalf("refusals: %+v", st)
	}
}

func TestQuota(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.MaxAllocationsPerUser = 2
	c.MaxAllocations = 3
	s := newTestServer(t, c, iss)
	allocAs := func(user, pass string) (*rawClient, int) {
		cl := newRawClient(t, s, false, user, pass)
		code, _ := cl.allocate()
		return cl, code
	}
	alloc := func(user string) (*rawClient, int) {
		cred := iss.Issue(user)
		return allocAs(cred.Username, cred.Password)
	}
	// Quotas count the user part: three different usernames, all "alice".
	plain := func(d time.Duration) (string, string) {
		u := strconv.FormatInt(time.Now().Add(d).Unix(), 10) + ":alice"
		return u, coturnPassword(testSecret, u)
	}
	a1, code := alloc("alice")
	if code != 0 {
		t.Fatalf("alice 1: %d", code)
	}
	if _, code := allocAs(plain(time.Hour)); code != 0 {
		t.Fatalf("alice 2: %d", code)
	}
	if _, code := allocAs(plain(2 * time.Hour)); code != 486 {
		t.Fatalf("alice 3: %d, want 486", code)
	}
	if _, code := alloc("bob"); code != 0 {
		t.Fatalf("bob 1: %d", code)
	}
	if _, code := alloc("bob"); code != 486 {
		t.Fatalf("bob 2 (total): %d, want 486", code)
	}
	if n := s.Stats().QuotaRefusals; n != 2 {
		t.Fatalf("QuotaRefusals = %d", n)
	}
	// Releasing an allocation frees its slot.
	if code := a1.refresh(0); code != 0 {
		t.Fatalf("delete: %d", code)
	}
	if _, code := alloc("carol"); code != 0 {
		t.Fatalf("carol after a release: %d", code)
	}
	if s.AllocationCount() != 3 {
		t.Fatalf("AllocationCount = %d", s.AllocationCount())
	}
}

// TestEvenPort: pion probes EVEN-PORT with relay sockets it never reads; they
// must be in range and must not hold up Stop.
func TestEvenPort(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	s := newTestServer(t, c, iss)
	cred := iss.Issue("even")
	cl := newRawClient(t, s, false, cred.Username, cred.Password)
	evenPort := setterFunc(func(m *stun.Message) error {
		m.Add(stun.AttrEvenPort, []byte{0x80})
		return nil
	})
	m := cl.do(stun.MethodAllocate, true, requestedTransportUDP(), evenPort)
	if code := errorCode(m); code != 0 {
		t.Fatalf("Allocate with EVEN-PORT = %d", code)
	}
	var ra stun.XORMappedAddress
	if err := ra.GetFromAs(m, stun.AttrXORRelayedAddress); err != nil {
		t.Fatal(err)
	}
	if ra.Port%2 != 0 || ra.Port < c.MinPort || ra.Port > c.MaxPort {
		t.Fatalf("relay port %d: want even, in %d-%d", ra.Port, c.MinPort, c.MaxPort)
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.AllowPeers = []string{"127.0.0.1"}
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var conns []net.PacketConn
	for i, tcp := range []bool{false, true, false, true} {
		cred := iss.Issue("u" + strconv.Itoa(i))
		cl := &rawClient{t: t, user: cred.Username, pass: cred.Password, realm: "rtcd"}
		if tcp {
			tc, err := net.Dial("tcp", s.TCPAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			cl.conn, cl.server = newSTUNConn(tc), s.TCPAddr()
		} else {
			pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl.conn, cl.server = pc, s.UDPAddr()
		}
		conns = append(conns, cl.conn)
		if code, _ := cl.allocate(); code != 0 {
			t.Fatalf("allocate: %d", code)
		}
		if code := cl.createPermission(net.IPv4(127, 0, 0, 1)); code != 0 {
			t.Fatalf("permission: %d", code)
		}
	}
	// An idle TCP connection with no allocation.
	idle, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if s.AllocationCount() != 4 {
		t.Fatalf("AllocationCount = %d", s.AllocationCount())
	}
	s.Stop()
	s.Stop() // idempotent
	if s.stuck.Load() {
		t.Fatal("Stop timed out")
	}
	for _, c := range conns {
		_ = c.Close()
	}
	_ = idle.Close()
	if err := s.Start(); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	busy, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := testConfig()
	c.Listen = busy.LocalAddr().String()
	c.UDPSockets = 1
	s, err := New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), busy.LocalAddr().String()) || !strings.Contains(err.Error(), "Turn.Listen") {
		t.Fatalf("Start on a busy port: %v", err)
	}
	s.Stop()

	busyTCP, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyTCP.Close()
	c.Listen = busyTCP.Addr().String()
	s, err = New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), busyTCP.Addr().String()) {
		t.Fatalf("Start on a busy TCP port: %v", err)
	}
	s.Stop()
	// A port held by another SO_REUSEPORT user (e.g. a second rtcd) is "in use" too.
	rp, err := (&net.ListenConfig{Control: reusePort}).ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	c.Listen = rp.LocalAddr().String()
	c.UDPSockets = 2
	s, err = New(c, iss)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), rp.LocalAddr().String()) {
		t.Fatalf("Start on a port shared via SO_REUSEPORT: %v", err)
	}
	s.Stop()
	if _, err := New(c, nil); err == nil {
		t.Fatal("New with nil issuer")
	}
}

// TestAddressQuotaIPv6: IPv6 clients are counted per /64, the block one
// host usually holds, so rotating through its addresses gains nothing.
func TestAddressQuotaIPv6(t *testing.T) {
	tbl := newAllocTable()
	q := quotas{perUser: 100, perAddr: 2, total: 100}
	now := time.Now()
	try := func(ip string, port int) bool {
		ok, _ := tbl.reserve(&net.UDPAddr{IP: net.ParseIP(ip), Port: port}, "u"+strconv.Itoa(port), q, now)
		return ok
	}
	if !try("2001:db8:1:2::1", 1) || !try("2001:db8:1:2::ffff", 2) {
		t.Fatal("first two allocations of a /64 refused")
	}
	if ok, which := tbl.reserve(&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 3}, "x", q, now); ok || which != limitAddress {
		t.Fatalf("third in the same /64: ok %v, limit %q", ok, which)
	}
	if !try("2001:db8:1:3::1", 4) {
		t.Fatal("another /64 refused")
	}
}

// TestBareExpiryQuota: a bare "<expiry>" username (Jitsi's Prosody modules)
// has no user part, so the per-user quota counts the username itself, as
// coturn's user-quota does: not every such client in one bucket.
func TestBareExpiryQuota(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	c := testConfig()
	c.MaxAllocationsPerUser = 1
	s := newTestServer(t, c, iss)
	bare := func(d time.Duration) (string, string) {
		u := strconv.FormatInt(time.Now().Add(d).Unix(), 10)
		return u, coturnPassword(testSecret, u)
	}
	alloc := func(u, p string) int {
		code, _ := newRawClient(t, s, false, u, p).allocate()
		return code
	}
	u1, p1 := bare(time.Hour)
	u2, p2 := bare(2 * time.Hour)
	if code := alloc(u1, p1); code != 0 {
		t.Fatalf("first: %d", code)
	}
	if code := alloc(u2, p2); code != 0 {
		t.Fatalf("another bare username: %d, want its own quota", code)
	}
	if code := alloc(u1, p1); code != 486 {
		t.Fatalf("the same bare username again: %d, want 486", code)
	}
}

// TestOpenOwnPort: a port of the own address that a service of the daemon
// opened (the media server's) is reachable through a relay, and the rest of
// the own address stays closed.
func TestOpenOwnPort(t *testing.T) {
	iss := newIssuer(t, []string{testSecret})
	s := newTestServer(t, testConfig(), iss)
	cred := iss.Issue("a")
	a := pionClient(t, s, false, cred.Username, cred.Password, "rtcd")
	ra, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	service, closed := newSink(t), newSink(t)
	s.OpenOwnPort(service.pc.LocalAddr().(*net.UDPAddr).Port)
	deadline := time.Now().Add(5 * time.Second)
	for service.count() == 0 && time.Now().Before(deadline) {
		for _, to := range []net.Addr{service.pc.LocalAddr(), closed.pc.LocalAddr()} {
			if _, err := ra.WriteTo([]byte("to-service"), to); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if service.count() == 0 {
		t.Fatal("the opened own port received nothing through the relay")
	}
	for s.Stats().OwnPortDrops == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := closed.count(); n != 0 || s.Stats().OwnPortDrops == 0 {
		t.Fatalf("a port nobody opened received %d datagrams (%d own-port drops), want none received and drops counted",
			n, s.Stats().OwnPortDrops)
	}
}
