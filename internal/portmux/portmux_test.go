package portmux_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"
	"github.com/rtcd/rtcd/internal/portmux"
	"github.com/rtcd/rtcd/internal/tlsconf"
	"github.com/rtcd/rtcd/internal/tlsconf/tlstest"
	"github.com/rtcd/rtcd/internal/turntest"
	"github.com/zeromicro/go-zero/core/logx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	logx.Disable()
	goleak.VerifyTestMain(m)
}

const (
	turnUser  = "alice"
	turnPass  = "secret"
	turnRealm = "rtcd.test"
	ioTimeout = 10 * time.Second // hang guard for every network step
)

// env is a mux on 127.0.0.1:0 with an HTTP server and a pion TURN server
// behind it, like the daemon's one-port mode.
type env struct {
	ca   *tlstest.CA
	mux  *portmux.Mux
	addr string
}

type envOpts struct {
	plain            bool        // no TLS: split plain TCP
	tlsConfig        *tls.Config // instead of a fixed certificate
	handshakeTimeout time.Duration
	maxPending       int
	nextProtos       []string
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, "rtc.test", time.Hour, "rtc.test", "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var cfg *tls.Config
	if o.tlsConfig != nil {
		cfg = o.tlsConfig
	} else if !o.plain {
		protos := o.nextProtos
		if protos == nil {
			protos = []string{"h2", "http/1.1"}
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, NextProtos: protos, MinVersion: tls.VersionTLS12}
	}
	mux := portmux.New(ln, cfg)
	mux.HandshakeTimeout = o.handshakeTimeout
	mux.MaxPending = o.maxPending

	served := make(chan error, 1)
	go func() { served <- mux.Serve() }()

	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.NewServeMux()
	h.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	})
	h.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	})
	httpSrv := &http.Server{Handler: h, ReadHeaderTimeout: ioTimeout}
	httpDone := make(chan struct{})
	go func() { defer close(httpDone); _ = httpSrv.Serve(mux.HTTP()) }()

	turnSrv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(user, realm string, _ net.Addr) ([]byte, bool) {
			if user != turnUser {
				return nil, false
			}
			return pionturn.GenerateAuthKey(user, realm, turnPass), true
		},
		ListenerConfigs: []pionturn.ListenerConfig{{
			Listener: mux.TURN(),
			RelayAddressGenerator: &pionturn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
			},
		}},
		LoggerFactory: quietLogs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The daemon's order: HTTP drains, the relay closes, then the port.
		_ = httpSrv.Close()
		<-httpDone
		_ = turnSrv.Close()
		_ = mux.Close()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(ioTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return &env{ca: ca, mux: mux, addr: ln.Addr().String()}
}

func quietLogs() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}

// get does one HTTPS request with the given ALPN offer ("h2" or
// "http/1.1") and returns the body.
func (e *env) get(t *testing.T, h2 bool) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), ServerName: "rtc.test"}}
	if h2 {
		tr.ForceAttemptHTTP2 = true
	} else {
		// HTTP/1.1 only, offered in ALPN as browsers do (Go's transport
		// offers no ALPN at all when HTTP/2 is off).
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: ioTimeout}
	resp, err := c.Get("https://" + e.addr + "/")
	if err != nil {
		t.Fatalf("GET (h2=%v): %v", h2, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dialTLS opens a TLS connection offering protos (nil: no ALPN).
func (e *env) dialTLS(t *testing.T, protos []string) *tls.Conn {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: ioTimeout},
		Config: &tls.Config{RootCAs: e.ca.Pool(), ServerName: "rtc.test", NextProtos: protos}}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	return c.(*tls.Conn)
}

func TestHTTPSAndTURNShareOnePort(t *testing.T) {
	e := newEnv(t, envOpts{})

	if got := e.get(t, false); got != "HTTP/1.1 tls=true" {
		t.Errorf("HTTP/1.1 over ALPN: %q", got)
	}
	if got := e.get(t, true); got != "HTTP/2.0 tls=true" {
		t.Errorf("HTTP/2 over ALPN: %q", got)
	}

	t.Run("https without ALPN", func(t *testing.T) {
		c := e.dialTLS(t, nil)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: rtc.test\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		// Routed by the first byte; net/http cannot see the TLS state
		// through the replaying wrapper.
		if resp.StatusCode != 200 || string(b) != "HTTP/1.1 tls=false" {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	})

	t.Run("wss", func(t *testing.T) {
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), ServerName: "rtc.test"}, HandshakeTimeout: ioTimeout}
		ws, resp, err := d.Dial("wss://"+e.addr+"/ws", nil)
		if err != nil {
			t.Fatalf("wss dial: %v", err)
		}
		_ = resp.Body.Close()
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join"}`)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != `{"type":"join"}` {
			t.Fatalf("echo %q, %v", msg, err)
		}
	})

	t.Run("turn over tls without ALPN", func(t *testing.T) {
		turntest.RoundTrip(t, e.dialTLS(t, nil), e.addr, turnUser, turnPass, turnRealm)
	})
	t.Run("turn over tls with ALPN stun.turn", func(t *testing.T) {
		c := e.dialTLS(t, []string{"stun.turn"})
		if p := c.ConnectionState().NegotiatedProtocol; p != "stun.turn" {
			t.Errorf("negotiated %q, want stun.turn", p)
		}
		turntest.RoundTrip(t, c, e.addr, turnUser, turnPass, turnRealm)
	})

	s := e.mux.Stats()
	if s.TURN.Load() != 2 || s.HTTP.Load() < 4 {
		t.Errorf("stats: TURN %d (want 2), HTTP %d (want >= 4)", s.TURN.Load(), s.HTTP.Load())
	}
}

// Clients that connect and say nothing, stop half-way through the
// handshake, or send garbage must not delay anyone else. The handshake
// timeout is long, so a stall would show as a failed dial.
func TestStuckClientsDoNotBlockOthers(t *testing.T) {
	e := newEnv(t, envOpts{handshakeTimeout: time.Minute})
	var junk []net.Conn
	defer func() {
		for _, c := range junk {
			_ = c.Close()
		}
	}()
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", e.addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		junk = append(junk, c)
		return c
	}
	for range 20 {
		dial() // silent
	}
	for range 5 {
		// The first bytes of a ClientHello record, then nothing.
		if _, err := dial().Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		c := dial()
		_, _ = c.Write([]byte("\x00\x01garbage that is not TLS at all\r\n\r\n"))
	}
	// A client that completes TLS and then never sends a byte.
	idle := e.dialTLS(t, nil)
	junk = append(junk, idle)

	if got := e.get(t, false); got != "HTTP/1.1 tls=true" {
		t.Errorf("HTTPS with stuck clients around: %q", got)
	}
	turntest.RoundTrip(t, e.dialTLS(t, nil), e.addr, turnUser, turnPass, turnRealm)

	// Garbage is refused, not parked: those connections are closed.
	for _, c := range junk[25:30] {
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("garbage conn: %v, want EOF", err)
		}
	}
}

// With every pending slot taken by silent clients, a real client waits
// in the kernel backlog and is served once the handshake timeout frees a
// slot; the silent ones are closed.
func TestPendingSlotsFreedByTimeout(t *testing.T) {
	e := newEnv(t, envOpts{handshakeTimeout: 300 * time.Millisecond, maxPending: 2})
	var silent []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", e.addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	idle := e.dialTLS(t, nil) // handshake done, then silent
	defer idle.Close()

	if got := e.get(t, false); got != "HTTP/1.1 tls=true" {
		t.Errorf("HTTPS: %q", got)
	}
	for _, c := range append(silent, idle) {
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("silent conn: %v, want closed by the server", err)
		}
	}
	s := e.mux.Stats()
	if s.HandshakeFailed.Load() < 2 || s.Silent.Load() < 1 {
		t.Errorf("stats: HandshakeFailed %d (want >= 2), Silent %d (want >= 1)", s.HandshakeFailed.Load(), s.Silent.Load())
	}
}

func TestPlainHTTPOnTLSPortGetsAHint(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, err := net.DialTimeout("tcp", e.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: rtc.test\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "400 Bad Request") || !strings.Contains(string(b), "HTTPS server") {
		t.Fatalf("got %q", b)
	}
	if got := e.get(t, false); got != "HTTP/1.1 tls=true" {
		t.Errorf("HTTPS after a plain request: %q", got)
	}
}

func TestCloseInterruptsPendingConnections(t *testing.T) {
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, "x", time.Hour, "127.0.0.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := portmux.New(ln, &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	mux.HandshakeTimeout = time.Hour
	served := make(chan error, 1)
	go func() { served <- mux.Serve() }()

	var conns []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// Make sure they were accepted before closing.
	deadline := time.Now().Add(ioTimeout)
	for mux.Stats().Accepted.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := mux.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Serve still running: a pending handshake held it")
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("pending conn after Close: %v, want EOF", err)
		}
	}
	for _, l := range []net.Listener{mux.HTTP(), mux.TURN()} {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	}
	_ = mux.Close() // twice is fine
}

// Closing only the TURN side (TURN disabled) drops TURN connections and
// leaves HTTP working.
func TestClosedSideDropsItsConnections(t *testing.T) {
	e := newEnv(t, envOpts{})
	_ = e.mux.TURN().Close()
	c := e.dialTLS(t, []string{"stun.turn"})
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("TURN conn with the TURN side closed: %v, want EOF", err)
	}
	if got := e.get(t, true); got != "HTTP/2.0 tls=true" {
		t.Errorf("HTTPS: %q", got)
	}
	if d := e.mux.Stats().Dropped.Load(); d != 1 {
		t.Errorf("Dropped = %d, want 1", d)
	}
}

// A client offering only ALPN protocols the server does not know fails the
// handshake, and "stun.turn" is added to the config so TURN clients that
// offer it do not.
func TestALPNOffers(t *testing.T) {
	e := newEnv(t, envOpts{nextProtos: []string{"http/1.1", "acme-tls/1"}})
	tests := []struct {
		name   string
		offer  []string
		wantOK bool
		proto  string
	}{
		{"stun.turn added", []string{"stun.turn"}, true, "stun.turn"},
		{"http/1.1", []string{"http/1.1"}, true, "http/1.1"},
		{"unknown only", []string{"imap"}, false, ""},
		{"acme challenge closed after handshake", []string{"acme-tls/1"}, true, "acme-tls/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: ioTimeout},
				Config: &tls.Config{RootCAs: e.ca.Pool(), ServerName: "rtc.test", NextProtos: tt.offer}}
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", e.addr)
			if (err == nil) != tt.wantOK {
				t.Fatalf("dial: %v, want ok=%v", err, tt.wantOK)
			}
			if err != nil {
				return
			}
			defer c.Close()
			if p := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != tt.proto {
				t.Errorf("negotiated %q, want %q", p, tt.proto)
			}
			if tt.proto == "acme-tls/1" {
				_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
				if _, err := io.ReadAll(c); err != nil {
					t.Errorf("challenge conn: %v, want closed", err)
				}
			}
		})
	}
}

// Without TLS the mux splits plain HTTP and TURN over TCP on one port.
func TestPlainMode(t *testing.T) {
	e := newEnv(t, envOpts{plain: true})
	c := &http.Client{Timeout: ioTimeout, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + e.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "HTTP/1.1 tls=false" {
		t.Errorf("plain HTTP: %q", b)
	}
	conn, err := net.DialTimeout("tcp", e.addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	turntest.RoundTrip(t, conn, e.addr, turnUser, turnPass, turnRealm)
}

// Many clients of both kinds at once, under -race.
func TestConcurrentMixedClients(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			if i%2 == 0 {
				turntest.RoundTrip(t, e.dialTLS(t, nil), e.addr, turnUser, turnPass, turnRealm)
			} else {
				_ = e.get(t, i%4 == 1)
			}
		})
	}
}

// With tlsconf as the certificate source, a renewed certificate is served on
// the shared port to HTTPS and TURN clients alike, without a restart.
func TestCertificateReloadOnSharedPort(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "before", time.Hour, "rtc.test").Write(t, dir)
	src, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	e := newEnv(t, envOpts{tlsConfig: src.TLSConfig(portmux.ProtoH2, portmux.ProtoHTTP11)})
	e.ca = ca

	cn := func(protos []string) string {
		c := e.dialTLS(t, protos)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := cn([]string{"stun.turn"}); got != "before" {
		t.Fatalf("served %q", got)
	}
	ca.Issue(t, "after", time.Hour, "rtc.test").Write(t, dir)
	if changed, err := src.Reload(); err != nil || !changed {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	if got := cn([]string{"stun.turn"}); got != "after" {
		t.Errorf("TURN client got %q after renewal", got)
	}
	if got := cn([]string{"h2"}); got != "after" {
		t.Errorf("HTTPS client got %q after renewal", got)
	}
	turntest.RoundTrip(t, e.dialTLS(t, nil), e.addr, turnUser, turnPass, turnRealm)
	if got := e.get(t, true); got != "HTTP/2.0 tls=true" {
		t.Errorf("HTTPS: %q", got)
	}
}
