package client

import (
	"testing"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
)

// TestCallThroughDaemon is the end-to-end proof: two Go peers in one room of
// a real rtcd, relay only, a VP8 track and the data channel crossing the
// embedded TURN relay, once with TURN over UDP and once over TCP. Every data
// message is SHA-256 checked; loss and round trip are logged.
func TestCallThroughDaemon(t *testing.T) {
	d := daemontest.Start(t, config.Default())
	for _, tr := range []string{TransportUDP, TransportTCP} {
		t.Run("turn-"+tr, func(t *testing.T) {
			callPair(t, d.HTTPURL(), []string{tr}, 300)
		})
	}
}
