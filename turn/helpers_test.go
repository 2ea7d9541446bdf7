package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
	"github.com/rtcd/rtcd/auth"
	"github.com/zeromicro/go-zero/core/logx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("RTCD_TEST_DEBUG") == "" {
		logx.Disable()
	} else {
		logx.SetLevel(logx.DebugLevel)
	}
	goleak.VerifyTestMain(m)
}

const testSecret = "test-secret-0123456789"

// fakeClock is a settable clock shared by an Issuer and a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newIssuer(t *testing.T, secrets []string, opts ...auth.Option) *auth.Issuer {
	t.Helper()
	iss, err := auth.NewIssuer(secrets, time.Hour, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// testPorts returns a relay range below Linux's ephemeral range, so loopback
// test peers (ephemeral ports) are never inside it.
func testPorts() (int, int) {
	lo := 20000 + rand.IntN(120)*100 //nolint:gosec
	return lo, lo + 99
}

// testConfig is loopback-only: everything binds 127.0.0.1. The kernel
// fast path is off, so the tests of the user-space paths see every
// datagram; kfast_*_test.go turn it on.
func testConfig() Config {
	lo, hi := testPorts()
	return Config{
		Listen:     "127.0.0.1:0",
		PublicIP:   "127.0.0.1",
		MinPort:    lo,
		MaxPort:    hi,
		UDPSockets: 2,
		FastPath:   FastPathOff,
	}
}

// newTestServer starts a server and stops it at cleanup.
func newTestServer(t *testing.T, c Config, iss *auth.Issuer) *Server {
	t.Helper()
	s, err := New(c, iss)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if s.stuck.Load() {
			t.Error("Stop timed out waiting for relay goroutines")
		}
	})
	return s
}

// echoPeer is a UDP echo server on 127.0.0.1.
func echoPeer(t *testing.T) *net.UDPAddr {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], a)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr)
}

// sink is a UDP socket that counts what it receives.
type sink struct {
	pc   net.PacketConn
	mu   sync.Mutex
	got  int
	done chan struct{}
}

func newSink(t *testing.T) *sink { t.Helper(); return newSinkOn(t, "127.0.0.1:0") }

// newSinkOn is a sink on addr (a loopback address).
func newSinkOn(t *testing.T, addr string) *sink {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			s.mu.Lock()
			s.got++
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-s.done })
	return s
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// pionClient is pion's TURN client over UDP or TCP, closed at cleanup.
func pionClient(t *testing.T, s *Server, tcp bool, user, pass, realm string) *pionturn.Client {
	t.Helper()
	var conn net.PacketConn
	var addr string
	if tcp {
		c, err := net.DialTimeout("tcp", s.TCPAddr().String(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = pionturn.NewSTUNConn(c), s.TCPAddr().String()
	} else {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, addr = c, s.UDPAddr().String()
	}
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          realm,
		RTO:            200 * time.Millisecond,
		LoggerFactory:  logFactory{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); _ = conn.Close() })
	return cl
}

// echoRoundTrip sends n datagrams through relay to peer and expects them back.
func echoRoundTrip(t *testing.T, relay net.PacketConn, peer net.Addr, n int) {
	t.Helper()
	buf := make([]byte, 1500)
	for i := 0; i < n; i++ {
		msg := fmt.Appendf(nil, "hello %d", i)
		var got bool
		for try := 0; try < 5 && !got; try++ { // UDP: retry a lost datagram
			if _, err := relay.WriteTo(msg, peer); err != nil {
				t.Fatalf("relay WriteTo: %v", err)
			}
			_ = relay.SetReadDeadline(time.Now().Add(time.Second))
			for {
				k, from, err := relay.ReadFrom(buf)
				if err != nil {
					break
				}
				if string(buf[:k]) == string(msg) {
					if from.String() != peer.String() {
						t.Fatalf("echo from %v, want %v", from, peer)
					}
					got = true
					break
				}
			}
		}
		if !got {
			t.Fatalf("datagram %d not echoed", i)
		}
	}
}

// rawClient speaks STUN/TURN by hand so tests can see error codes and send
// Refresh, CreatePermission and ChannelBind directly.
type rawClient struct {
	t                  *testing.T
	conn               net.PacketConn
	server             net.Addr
	user, pass, realm  string
	nonce              stun.Nonce
	serverRealm        string
	alwaysIncludeRealm bool
}

func newRawClient(t *testing.T, s *Server, tcp bool, user, pass string) *rawClient {
	t.Helper()
	return newRawClientFrom(t, s, tcp, "127.0.0.1", user, pass)
}

// newRawClientFrom is newRawClient with the client's socket on local, a
// loopback address, so tests can play several client hosts.
func newRawClientFrom(t *testing.T, s *Server, tcp bool, local, user, pass string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, user: user, pass: pass, realm: s.Realm()}
	if tcp {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		tc, err := d.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.conn, c.server = pionturn.NewSTUNConn(tc), s.TCPAddr()
	} else {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(local, "0"))
		if err != nil {
			t.Fatal(err)
		}
		c.conn, c.server = pc, s.UDPAddr()
	}
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

func requestedTransportUDP() stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		m.Add(stun.AttrRequestedTransport, []byte{17, 0, 0, 0})
		return nil
	})
}

func lifetime(d time.Duration) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(d/time.Second))
		m.Add(stun.AttrLifetime, b[:])
		return nil
	})
}

func peerAddr(ip net.IP, port int) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		return (&stun.XORMappedAddress{IP: ip, Port: port}).AddToAs(m, stun.AttrXORPeerAddress)
	})
}

func channelNumber(n uint16) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		m.Add(stun.AttrChannelNumber, []byte{byte(n >> 8), byte(n), 0, 0})
		return nil
	})
}

// do sends one request and returns the response; with auth it signs with
// long-term credentials, learning the nonce from a 401/438 first.
func (c *rawClient) do(method stun.Method, auth bool, setters ...stun.Setter) *stun.Message {
	c.t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		all := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		all = append(all, setters...)
		if auth && c.nonce != nil {
			all = append(all, stun.NewUsername(c.user), stun.NewRealm(c.realm), c.nonce,
				stun.NewLongTermIntegrity(c.user, c.realm, c.pass))
		}
		all = append(all, stun.Fingerprint)
		req := stun.MustBuild(all...)
		resp := c.roundTrip(req)
		if auth {
			code := errorCode(resp)
			if code == 401 || code == 438 {
				var n stun.Nonce
				if err := n.GetFrom(resp); err == nil && (c.nonce == nil || code == 438) {
					c.nonce = n
					var r stun.Realm
					if r.GetFrom(resp) == nil {
						c.serverRealm = r.String()
					}
					continue
				}
			}
		}
		return resp
	}
	c.t.Fatalf("%v: no final response", method)
	return nil
}

func (c *rawClient) roundTrip(req *stun.Message) *stun.Message {
	c.t.Helper()
	buf := make([]byte, 2048)
	for try := 0; try < 5; try++ {
		if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
			c.t.Fatalf("write: %v", err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := c.conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				c.t.Fatalf("read: %v", err)
			}
			m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if m.Decode() != nil || m.TransactionID != req.TransactionID {
				continue
			}
			return m
		}
	}
	c.t.Fatalf("no response to %v", req.Type)
	return nil
}

// errorCode is 0 for a success response.
func errorCode(m *stun.Message) int {
	if m.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(m); err != nil {
		return -1 // error response without ERROR-CODE (pion v4 CreatePermission refusal)
	}
	return int(ec.Code)
}

func (c *rawClient) allocate() (int, *net.UDPAddr) {
	c.t.Helper()
	m := c.do(stun.MethodAllocate, true, requestedTransportUDP())
	code := errorCode(m)
	if code != 0 {
		return code, nil
	}
	var ra stun.XORMappedAddress
	if err := ra.GetFromAs(m, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatalf("no relayed address: %v", err)
	}
	return 0, &net.UDPAddr{IP: ra.IP, Port: ra.Port}
}

func (c *rawClient) refresh(d time.Duration) int {
	return errorCode(c.do(stun.MethodRefresh, true, lifetime(d)))
}

func (c *rawClient) createPermission(ip net.IP) int {
	return errorCode(c.do(stun.MethodCreatePermission, true, peerAddr(ip, 9)))
}

func (c *rawClient) channelBind(n uint16, ip net.IP, port int) int {
	return errorCode(c.do(stun.MethodChannelBind, true, channelNumber(n), peerAddr(ip, port)))
}

func (c *rawClient) binding() *net.UDPAddr {
	c.t.Helper()
	m := c.do(stun.MethodBinding, false)
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err != nil {
		c.t.Fatalf("binding response without XOR-MAPPED-ADDRESS: %v", err)
	}
	return &net.UDPAddr{IP: xa.IP, Port: xa.Port}
}

func newSTUNConn(c net.Conn) net.PacketConn { return pionturn.NewSTUNConn(c) }

// coturnPassword is use-auth-secret computed independently of package auth.
func coturnPassword(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type netipAddr = netip.Addr

func parseAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// loopbackAllocation is a server that allows the loopback echo peer, and one
// allocation on it made by pion's client over UDP or TCP.
func loopbackAllocation(t *testing.T, tcp bool) (s *Server, c Config, cl *pionturn.Client, relay net.PacketConn, peer *net.UDPAddr) {
	t.Helper()
	iss := newIssuer(t, []string{testSecret})
	c = testConfig()
	c.AllowPeers = []string{"127.0.0.1/32"}
	s = newTestServer(t, c, iss)
	peer = echoPeer(t)
	cred := iss.Issue("alice")
	cl = pionClient(t, s, tcp, cred.Username, cred.Password, "rtcd")
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return s, c, cl, relay, peer
}
