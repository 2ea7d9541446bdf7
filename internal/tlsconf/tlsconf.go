// Package tlsconf provides the TLS certificate for HTTPS, WSS and TURN over
// TLS, either from a certificate and key file that are re-read when they
// change, so that a renewal (certbot, an operator's copy) needs no restart,
// or from an ACME CA through golang.org/x/crypto/acme/autocert.
package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// DefaultReloadInterval is how often the certificate files are checked for
// changes when Config.ReloadInterval is zero.
const DefaultReloadInterval = 5 * time.Second

// Config selects where the certificate comes from: CertFile and KeyFile, or
// ACMEDomains. Leaving both empty means TLS is off (see Enabled).
type Config struct {
	// CertFile is a PEM certificate chain (leaf first), KeyFile its private
	// key. Both are re-read when they change; a bad new pair is refused and
	// the previous certificate keeps being served.
	CertFile string `json:",optional"`
	KeyFile  string `json:",optional"`

	// ACMEDomains are the names certificates are requested for from the ACME
	// CA; no other name gets a certificate (autocert HostPolicy whitelist).
	// Port 443 must be reachable from the internet for the tls-alpn-01
	// challenge, or port 80 (RedirectHTTP) for http-01.
	ACMEDomains []string `json:",optional"`
	// ACMECacheDir keeps the account key and certificates across restarts,
	// so that restarts do not hit the CA's rate limits. Required with
	// ACMEDomains; systemd's CacheDirectory= (/var/cache/rtcd) fits.
	ACMECacheDir string `json:",optional"`
	// ACMEEmail is given to the CA for expiry and problem notices.
	ACMEEmail string `json:",optional"`
	// ACMEDirectoryURL is the CA's directory; empty means Let's Encrypt
	// production. Use the staging directory while testing a setup.
	ACMEDirectoryURL string `json:",optional"`

	// RedirectHTTP is an optional plain-HTTP listen address (":80") that
	// redirects to HTTPS and answers ACME http-01 challenges.
	RedirectHTTP string `json:",optional"`

	// ReloadInterval is how often CertFile and KeyFile are checked for
	// changes. Defaults to 5 seconds.
	ReloadInterval time.Duration `json:",optional"`
}

// Enabled reports whether a certificate source is configured.
func (c Config) Enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || len(c.ACMEDomains) > 0
}

// ACME reports whether certificates come from an ACME CA.
func (c Config) ACME() bool { return len(c.ACMEDomains) > 0 }

// Validate checks the configuration without touching the file system and
// names the field at fault.
func (c Config) Validate() error {
	files := c.CertFile != "" || c.KeyFile != ""
	switch {
	case files && c.ACME():
		return errors.New("ACMEDomains: set either CertFile/KeyFile or ACMEDomains, not both")
	case c.CertFile != "" && c.KeyFile == "":
		return errors.New("KeyFile: required when CertFile is set")
	case c.KeyFile != "" && c.CertFile == "":
		return errors.New("CertFile: required when KeyFile is set")
	}
	for i, d := range c.ACMEDomains {
		if err := checkDomain(d); err != nil {
			return fmt.Errorf("ACMEDomains[%d]: %q: %w", i, d, err)
		}
	}
	if c.ACME() && c.ACMECacheDir == "" {
		return errors.New("ACMECacheDir: required with ACMEDomains (e.g. /var/cache/rtcd/acme), or every restart asks the CA again")
	}
	if !c.ACME() && (c.ACMECacheDir != "" || c.ACMEEmail != "" || c.ACMEDirectoryURL != "") {
		return errors.New("ACMEDomains: ACMECacheDir/ACMEEmail/ACMEDirectoryURL are set but ACMEDomains is empty")
	}
	if c.ACMEEmail != "" && !strings.Contains(c.ACMEEmail, "@") {
		return fmt.Errorf("ACMEEmail: %q is not an e-mail address", c.ACMEEmail)
	}
	if c.ACMEDirectoryURL != "" {
		u, err := url.Parse(c.ACMEDirectoryURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("ACMEDirectoryURL: %q is not an https URL", c.ACMEDirectoryURL)
		}
	}
	if c.RedirectHTTP != "" {
		if !c.Enabled() {
			return errors.New("RedirectHTTP: redirecting to HTTPS needs CertFile/KeyFile or ACMEDomains")
		}
		if _, port, err := net.SplitHostPort(c.RedirectHTTP); err != nil {
			return fmt.Errorf("RedirectHTTP: %q is not host:port (e.g. \":80\"): %w", c.RedirectHTTP, err)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("RedirectHTTP: %q has no valid port", c.RedirectHTTP)
		}
	}
	if c.ReloadInterval < 0 {
		return fmt.Errorf("ReloadInterval: %s is negative", c.ReloadInterval)
	}
	return nil
}

// checkDomain accepts what an ACME CA can issue for with http-01 or
// tls-alpn-01: a plain DNS name with at least one dot, no wildcard, port or
// scheme.
func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("empty")
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:"):
		return errors.New("want a bare host name, without scheme, port or path")
	case strings.HasPrefix(d, "*"):
		return errors.New("wildcards need the dns-01 challenge, which autocert does not do; use CertFile/KeyFile")
	case net.ParseIP(d) != nil:
		return errors.New("ACME certificates are for DNS names, not IP addresses")
	case !strings.Contains(strings.Trim(d, "."), "."):
		return errors.New("want a fully qualified name such as rtc.example.com")
	}
	for _, r := range d {
		if !(r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("character %q is not allowed in a host name (use the punycode form)", r)
		}
	}
	return nil
}

// Source serves the current certificate. Create it with New, hand
// TLSConfig to listeners, and Stop it at shutdown.
type Source struct {
	cfg  Config
	cert atomic.Pointer[tls.Certificate] // files mode: the pair being served
	mgr  *autocert.Manager               // ACME mode

	reloadMu sync.Mutex  // guards the following fields
	certSeen os.FileInfo // CertFile as of the last load attempt
	keySeen  os.FileInfo // KeyFile as of the last load attempt
	lastErr  string      // the last failure logged, so it is logged once

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// New validates c and loads the certificate (files mode) or prepares the
// ACME manager. In files mode a goroutine polls the files every
// ReloadInterval until Stop. A Config that is not Enabled is an error.
func New(c Config) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return nil, errors.New("CertFile: no certificate configured (set CertFile/KeyFile or ACMEDomains)")
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	s := &Source{cfg: c, stop: make(chan struct{}), done: make(chan struct{})}
	if c.ACME() {
		if err := os.MkdirAll(c.ACMECacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("ACMECacheDir: %w", err)
		}
		s.mgr = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(c.ACMECacheDir),
			HostPolicy: autocert.HostWhitelist(c.ACMEDomains...),
			Email:      c.ACMEEmail,
		}
		if c.ACMEDirectoryURL != "" {
			s.mgr.Client = &acme.Client{DirectoryURL: c.ACMEDirectoryURL}
		}
		close(s.done)
		logx.Infow("tls: certificates from ACME",
			logx.Field("domains", strings.Join(c.ACMEDomains, ",")),
			logx.Field("cache", c.ACMECacheDir))
		return s, nil
	}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	go s.poll()
	return s, nil
}

// Manager is the ACME manager, nil in files mode.
func (s *Source) Manager() *autocert.Manager { return s.mgr }

// GetCertificate is the tls.Config hook: the current file pair, or the ACME
// certificate for the requested name. In ACME mode a client that sends no
// server name (SNI), such as a TURN client given an IP address, gets the
// certificate of the first ACMEDomains entry.
func (s *Source) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.mgr != nil {
		if hello.ServerName == "" {
			h := *hello
			h.ServerName = s.cfg.ACMEDomains[0]
			hello = &h
		}
		return s.mgr.GetCertificate(hello)
	}
	return s.cert.Load(), nil
}

// TLSConfig returns a new server tls.Config using this source, offering the
// ALPN protocols given (e.g. "h2", "http/1.1"; portmux adds "stun.turn").
// In ACME mode "acme-tls/1" is added so the tls-alpn-01 challenge works.
func (s *Source) TLSConfig(nextProtos ...string) *tls.Config {
	protos := append([]string(nil), nextProtos...)
	if s.mgr != nil {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		NextProtos:     protos,
	}
}

// Certificate is the pair currently served in files mode (nil with ACME).
func (s *Source) Certificate() *tls.Certificate { return s.cert.Load() }

// Reload checks the files now instead of waiting for the next poll. It
// reports whether a new pair was installed; an error means the files
// changed but could not be used, and the previous pair is still served.
func (s *Source) Reload() (bool, error) {
	if s.mgr != nil {
		return false, nil
	}
	return s.reload()
}

func (s *Source) poll() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_, _ = s.reload() // logged inside
		}
	}
}

// reload loads the pair if either file changed since the last attempt. A
// failed attempt is remembered too, so a broken pair is reported once, not
// every poll; fixing either file triggers a new attempt.
func (s *Source) reload() (bool, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	first := s.cert.Load() == nil
	ci, err := os.Stat(s.cfg.CertFile)
	if err != nil {
		return false, s.refuse(first, fmt.Errorf("CertFile: %w", err))
	}
	ki, err := os.Stat(s.cfg.KeyFile)
	if err != nil {
		return false, s.refuse(first, fmt.Errorf("KeyFile: %w", err))
	}
	if !first && same(ci, s.certSeen) && same(ki, s.keySeen) {
		return false, nil
	}
	s.certSeen, s.keySeen = ci, ki
	pair, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return false, s.refuse(first, fmt.Errorf("CertFile/KeyFile: %w", err))
	}
	leaf := pair.Leaf
	if time.Now().After(leaf.NotAfter) {
		// Still installed: an expired certificate beats none, and the
		// operator sees why clients complain.
		logx.Errorw("tls: certificate has expired", logx.Field("file", s.cfg.CertFile),
			logx.Field("notAfter", leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	s.cert.Store(&pair)
	s.lastErr = ""
	logx.Infow("tls: certificate loaded",
		logx.Field("file", s.cfg.CertFile),
		logx.Field("subject", leaf.Subject.CommonName),
		logx.Field("names", strings.Join(leaf.DNSNames, ",")),
		logx.Field("notAfter", leaf.NotAfter.UTC().Format(time.RFC3339)))
	return true, nil
}

// refuse reports a load failure: at start it is the caller's error; later
// it is logged and the previous certificate stays in use.
func (s *Source) refuse(first bool, err error) error {
	if !first && err.Error() != s.lastErr {
		s.lastErr = err.Error()
		logx.Errorw("tls: certificate reload failed, keeping the previous certificate",
			logx.Field("file", s.cfg.CertFile), logx.Field("err", err.Error()))
	}
	return err
}

// same reports whether a and b are the same unchanged file: renames
// (certbot's symlink switch, mv of a new file) and in-place writes both
// count as changes.
func same(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) &&
		a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// Stop ends the file polling. It is safe to call more than once. (In ACME
// mode autocert's renewal timers cannot be stopped; they do not hold
// goroutines while waiting.)
func (s *Source) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// RedirectHandler sends plain-HTTP GET and HEAD requests to the same host
// and path over HTTPS on httpsPort, and refuses other methods, whose body
// would have gone over the network in the clear. In ACME mode it also
// answers http-01 challenges.
func (s *Source) RedirectHandler(httpsPort int) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" || strings.ContainsAny(host, "/\\@ []") {
			http.Error(w, "missing or bad Host header", http.StatusBadRequest)
			return
		}
		switch {
		case httpsPort != 443 && httpsPort != 0:
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		case strings.Contains(host, ":"): // IPv6 literal
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	if s.mgr != nil {
		return s.mgr.HTTPHandler(redirect)
	}
	return redirect
}

// RedirectServer is an http.Server for RedirectHTTP serving RedirectHandler,
// with timeouts so that idle port-80 scanners cannot pile up.
func (s *Source) RedirectServer(httpsPort int) *http.Server {
	return &http.Server{
		Addr:              s.cfg.RedirectHTTP,
		Handler:           s.RedirectHandler(httpsPort),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
}
