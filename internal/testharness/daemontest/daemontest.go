// Package daemontest starts whole rtcd nodes in-process for tests of the
// packages that talk to one (the Go client, the probe, the daemon itself),
// on loopback ports, stopped when the test ends.
package daemontest

import (
	"testing"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
)

// Start runs a node with configuration c (config.Default() for the embedded
// defaults on free loopback ports) and stops it when t ends.
func Start(t testing.TB, c config.Config) *daemon.Daemon {
	t.Helper()
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
