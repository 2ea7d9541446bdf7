// Package daemontest starts whole rtcd nodes in-process for tests of the
// packages that talk to one (the Go client, the probe, the daemon itself),
// on loopback ports, stopped when the test ends.
package daemontest

import (
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/tlsconf/tlstest"
)

// Start runs a node with configuration c (config.Default() for the embedded
// defaults on free loopback ports) and stops it when t ends.
//
// The relay's kernel fast path is off unless c asks for it ("on"): with
// the default "auto" a test run as root would attach an eBPF program to
// every interface of the host.
func Start(t testing.TB, c config.Config) *daemon.Daemon {
	t.Helper()
	if c.Turn.FastPath == "" || c.Turn.FastPath == "auto" {
		c.Turn.FastPath = "off"
	}
	d, err := daemon.New(c)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	t.Cleanup(d.Stop)
	return d
}

// WithTLS gives c HTTPS on its main port and TURN over TLS on a port of its
// own and on the main port (one-port), with a certificate for host and
// 127.0.0.1 from a fresh test CA, which it returns for the clients to trust.
func WithTLS(t testing.TB, c *config.Config, host string) *tlstest.CA {
	t.Helper()
	ca := tlstest.NewCA(t)
	c.TLS.CertFile, c.TLS.KeyFile = ca.Issue(t, host, time.Hour, host, "127.0.0.1").Write(t, t.TempDir())
	c.Turn.TLSListen = "127.0.0.1:0"
	c.Turn.OnePort = true
	c.Turn.PublicHost = host
	return ca
}
