package tlsconf_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/tlsconf"
	"github.com/rtcd/rtcd/internal/tlsconf/tlstest"
	"github.com/zeromicro/go-zero/core/logx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	logx.Disable()
	goleak.VerifyTestMain(m)
}

// serveTLS runs a TLS echo-less server on 127.0.0.1:0 that completes
// handshakes and closes; it returns the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// servedCN dials addr trusting ca and returns the leaf's common name.
func servedCN(t *testing.T, addr string, ca *tlstest.CA, serverName string) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: ca.Pool(), ServerName: serverName}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestReloadWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "first", time.Hour, "rtc.test", "127.0.0.1").Write(t, dir)

	src, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	addr := serveTLS(t, src.TLSConfig("http/1.1"))
	if cn := servedCN(t, addr, ca, "rtc.test"); cn != "first" {
		t.Fatalf("served %q, want first", cn)
	}

	ca.Issue(t, "second", time.Hour, "rtc.test").Write(t, dir)
	waitCN(t, addr, ca, "second")

	// In-place rewrite (no rename), the way `cp new.pem cert.pem` does it.
	third := ca.Issue(t, "third", time.Hour, "rtc.test")
	if err := os.WriteFile(keyFile, third.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, third.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitCN(t, addr, ca, "third")
}

// waitCN polls until the server presents want; the poll interval is 20 ms,
// so this is about correctness, the 10 s bound only guards against hangs.
func waitCN(t *testing.T, addr string, ca *tlstest.CA, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cn := servedCN(t, addr, ca, "rtc.test")
		if cn == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q, want %q", cn, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadNewPairKeepsOld(t *testing.T) {
	ca := tlstest.NewCA(t)
	other := tlstest.NewCA(t)
	tests := []struct {
		name  string
		write func(t *testing.T, certFile, keyFile string)
	}{
		{"garbage cert", func(t *testing.T, certFile, _ string) {
			tlstest.WriteFile(t, certFile, []byte("not a certificate"))
		}},
		{"empty key", func(t *testing.T, _, keyFile string) {
			tlstest.WriteFile(t, keyFile, nil)
		}},
		{"key of another cert", func(t *testing.T, _, keyFile string) {
			tlstest.WriteFile(t, keyFile, other.Issue(t, "x", time.Hour, "rtc.test").KeyPEM)
		}},
		{"cert removed", func(t *testing.T, certFile, _ string) {
			if err := os.Remove(certFile); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated cert", func(t *testing.T, certFile, _ string) {
			l := ca.Issue(t, "y", time.Hour, "rtc.test")
			tlstest.WriteFile(t, certFile, l.CertPEM[:len(l.CertPEM)/2])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := ca.Issue(t, "good", time.Hour, "rtc.test").Write(t, t.TempDir())
			// A long interval: the test drives Reload itself.
			src, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Stop()
			addr := serveTLS(t, src.TLSConfig())

			tt.write(t, certFile, keyFile)
			changed, err := src.Reload()
			if err == nil || changed {
				t.Fatalf("Reload() = %v, %v; want an error and no change", changed, err)
			}
			if !strings.Contains(err.Error(), "File") {
				t.Errorf("error %q does not name CertFile/KeyFile", err)
			}
			if cn := servedCN(t, addr, ca, "rtc.test"); cn != "good" {
				t.Fatalf("served %q after a bad reload, want the old one", cn)
			}
			// Fixing the files is picked up.
			ca.Issue(t, "fixed", time.Hour, "rtc.test").Write(t, filepath.Dir(certFile))
			if changed, err := src.Reload(); err != nil || !changed {
				t.Fatalf("Reload after fix = %v, %v", changed, err)
			}
			if cn := servedCN(t, addr, ca, "rtc.test"); cn != "fixed" {
				t.Fatalf("served %q, want fixed", cn)
			}
		})
	}
}

func TestReloadUnchangedIsNoop(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "a", time.Hour, "rtc.test").Write(t, t.TempDir())
	src, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	before := src.Certificate()
	if changed, err := src.Reload(); err != nil || changed {
		t.Fatalf("Reload() = %v, %v on unchanged files", changed, err)
	}
	if src.Certificate() != before {
		t.Fatal("certificate replaced although files did not change")
	}
}

func TestNewErrors(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := ca.Issue(t, "a", time.Hour, "rtc.test").Write(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	tlstest.WriteFile(t, bad, []byte("junk"))
	blocker := filepath.Join(dir, "file")
	tlstest.WriteFile(t, blocker, nil)
	tests := []struct {
		name string
		cfg  tlsconf.Config
		want string
	}{
		{"nothing configured", tlsconf.Config{}, "CertFile"},
		{"missing cert file", tlsconf.Config{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyFile}, "CertFile"},
		{"missing key file", tlsconf.Config{CertFile: certFile, KeyFile: filepath.Join(dir, "nope.pem")}, "KeyFile"},
		{"junk key", tlsconf.Config{CertFile: certFile, KeyFile: bad}, "CertFile/KeyFile"},
		{"cache dir not creatable", tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}, ACMECacheDir: filepath.Join(blocker, "acme")}, "ACMECacheDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := tlsconf.New(tt.cfg)
			if err == nil {
				src.Stop()
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q does not start with %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  tlsconf.Config
		want string // prefix of the error; "" means valid
	}{
		{"off", tlsconf.Config{}, ""},
		{"files", tlsconf.Config{CertFile: "c", KeyFile: "k"}, ""},
		{"files and redirect", tlsconf.Config{CertFile: "c", KeyFile: "k", RedirectHTTP: ":80"}, ""},
		{"acme", tlsconf.Config{ACMEDomains: []string{"rtc.example.com", "turn.example.com"}, ACMECacheDir: "/var/cache/rtcd/acme", ACMEEmail: "ops@example.com"}, ""},
		{"acme staging", tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}, ACMECacheDir: "c", ACMEDirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory"}, ""},
		{"cert without key", tlsconf.Config{CertFile: "c"}, "KeyFile"},
		{"key without cert", tlsconf.Config{KeyFile: "k"}, "CertFile"},
		{"files and acme", tlsconf.Config{CertFile: "c", KeyFile: "k", ACMEDomains: []string{"a.example.com"}, ACMECacheDir: "c"}, "ACMEDomains"},
		{"acme without cache", tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}}, "ACMECacheDir"},
		{"acme empty domain", tlsconf.Config{ACMEDomains: []string{"rtc.example.com", ""}, ACMECacheDir: "c"}, "ACMEDomains[1]"},
		{"acme url as domain", tlsconf.Config{ACMEDomains: []string{"https://rtc.example.com"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme domain with port", tlsconf.Config{ACMEDomains: []string{"rtc.example.com:443"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme wildcard", tlsconf.Config{ACMEDomains: []string{"*.example.com"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme ip", tlsconf.Config{ACMEDomains: []string{"203.0.113.7"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme single label", tlsconf.Config{ACMEDomains: []string{"localhost"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme unicode", tlsconf.Config{ACMEDomains: []string{"bücher.example"}, ACMECacheDir: "c"}, "ACMEDomains[0]"},
		{"acme bad email", tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}, ACMECacheDir: "c", ACMEEmail: "ops"}, "ACMEEmail"},
		{"acme http directory", tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}, ACMECacheDir: "c", ACMEDirectoryURL: "http://ca/dir"}, "ACMEDirectoryURL"},
		{"acme fields without domains", tlsconf.Config{CertFile: "c", KeyFile: "k", ACMEEmail: "ops@example.com"}, "ACMEDomains"},
		{"redirect without tls", tlsconf.Config{RedirectHTTP: ":80"}, "RedirectHTTP"},
		{"redirect no port", tlsconf.Config{CertFile: "c", KeyFile: "k", RedirectHTTP: "80"}, "RedirectHTTP"},
		{"redirect bad port", tlsconf.Config{CertFile: "c", KeyFile: "k", RedirectHTTP: ":http"}, "RedirectHTTP"},
		{"negative interval", tlsconf.Config{CertFile: "c", KeyFile: "k", ReloadInterval: -time.Second}, "ReloadInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %s", tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), tt.want):
				t.Fatalf("Validate() = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

// ACME cannot reach a CA here. These tests cover the Manager's
// construction, its HostPolicy whitelist, the ALPN challenge protocol, and
// serving a certificate already in the cache directory, all without a CA.
func TestACMEManager(t *testing.T) {
	cache := t.TempDir()
	src, err := tlsconf.New(tlsconf.Config{
		ACMEDomains:  []string{"rtc.example.com", "turn.example.com"},
		ACMECacheDir: filepath.Join(cache, "acme"),
		ACMEEmail:    "ops@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	m := src.Manager()
	if m == nil || m.Email != "ops@example.com" || m.Prompt == nil || m.Cache == nil {
		t.Fatalf("manager not set up: %+v", m)
	}
	if fi, err := os.Stat(filepath.Join(cache, "acme")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v %v", fi, err)
	}
	ctx := context.Background()
	for _, h := range []string{"rtc.example.com", "turn.example.com"} {
		if err := m.HostPolicy(ctx, h); err != nil {
			t.Errorf("HostPolicy(%s) = %v", h, err)
		}
	}
	for _, h := range []string{"evil.example.com", "example.com", "127.0.0.1"} {
		if err := m.HostPolicy(ctx, h); err == nil {
			t.Errorf("HostPolicy(%s) allowed a name not in ACMEDomains", h)
		}
	}
	// A name outside the whitelist is refused before any CA contact.
	if _, err := src.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example.com"}); err == nil {
		t.Error("GetCertificate issued for a name outside ACMEDomains")
	}
	cfg := src.TLSConfig("h2", "http/1.1")
	if got := strings.Join(cfg.NextProtos, ","); got != "h2,http/1.1,acme-tls/1" {
		t.Errorf("NextProtos = %s, want the tls-alpn-01 protocol added", got)
	}
}

// TestACMECachedCertificate puts a certificate in the autocert cache the
// way autocert stores it, then makes real TLS handshakes: with SNI, and
// without (a TURN client given an address), which falls back to the first
// domain.
func TestACMECachedCertificate(t *testing.T) {
	ca := tlstest.NewCA(t)
	leaf := ca.Issue(t, "cached", 24*time.Hour, "rtc.example.com")
	dir := t.TempDir()
	// autocert's cache entry: the key in PEM, then the chain.
	key := leaf.TLS.PrivateKey.(*ecdsa.PrivateKey)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var entry bytes.Buffer
	_ = pem.Encode(&entry, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	entry.Write(leaf.CertPEM)
	if err := os.WriteFile(filepath.Join(dir, "rtc.example.com"), entry.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.New(tlsconf.Config{ACMEDomains: []string{"rtc.example.com"}, ACMECacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	addr := serveTLS(t, src.TLSConfig("http/1.1"))
	if cn := servedCN(t, addr, ca, "rtc.example.com"); cn != "cached" {
		t.Fatalf("served %q", cn)
	}
	// No SNI: verify against the domain, as the client must.
	d := &tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool(), InsecureSkipVerify: true, //nolint:gosec // verified below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.ServerName != "" {
				return errors.New("client sent SNI")
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "rtc.example.com"})
			return err
		}}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	_ = c.Close()
}

func TestRedirectHandler(t *testing.T) {
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "a", time.Hour, "rtc.test").Write(t, t.TempDir())
	src, err := tlsconf.New(tlsconf.Config{CertFile: certFile, KeyFile: keyFile, RedirectHTTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	tests := []struct {
		name, method, host, target string
		port                       int
		code                       int
		location                   string
	}{
		{"default port", "GET", "rtc.example.com", "/r/room?x=1", 443, 301, "https://rtc.example.com/r/room?x=1"},
		{"strips http port", "GET", "rtc.example.com:80", "/", 443, 301, "https://rtc.example.com/"},
		{"other https port", "HEAD", "rtc.example.com:8080", "/a", 8443, 301, "https://rtc.example.com:8443/a"},
		{"ipv6", "GET", "[2001:db8::1]:80", "/", 443, 301, "https://[2001:db8::1]/"},
		{"ipv6 no port", "GET", "[2001:db8::1]", "/", 8443, 301, "https://[2001:db8::1]:8443/"},
		{"post refused", "POST", "rtc.example.com", "/api", 443, 400, ""},
		{"no host", "GET", "", "/", 443, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			src.RedirectHandler(tt.port).ServeHTTP(w, r)
			if w.Code != tt.code || w.Header().Get("Location") != tt.location {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Header().Get("Location"), tt.code, tt.location)
			}
		})
	}

	// And over a real socket, through RedirectServer.
	srv := src.RedirectServer(443)
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + ln.Addr().String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://127.0.0.1/x" {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
