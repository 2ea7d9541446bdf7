package bench

import (
	"os"
	"strconv"
	"testing"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal"
)

// TestSFUModeAgainstDaemon runs a seconds-long sfu mode against an
// in-process daemon whose rooms all use its media server (internal/sfu):
// three participants must each receive the others' audio and video, and
// the report must count forwarded packets and measure their loss. The
// numbers are logged, never judged; the setup timeout is generous for a
// busy machine.
func TestSFUModeAgainstDaemon(t *testing.T) {
	c := config.Default()
	c.Signal.Media = signal.MediaSFU
	d := daemontest.Start(t, c)
	var rep struct {
		Rows []SFUResult `json:"rows"`
	}
	runJSON(t, &rep, "sfu", "--url", d.WSURL(), "--smoke", "--participants", "3", "--setup-timeout", "30s", "--json",
		"--pid", strconv.Itoa(os.Getpid()))
	if len(rep.Rows) != 1 {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	r := rep.Rows[0]
	if r.SetupErrors != 0 || r.StreamsReceived != r.StreamsExpected {
		t.Fatalf("setup errors %d, streams %d/%d, errors %v", r.SetupErrors, r.StreamsReceived, r.StreamsExpected, r.Errors)
	}
	if r.ReceivedPackets == 0 || r.PacketsPerSec <= 0 || r.Mbps <= 0 {
		t.Fatalf("nothing forwarded: %+v", r)
	}
	if r.ExpectedPackets == 0 || r.LostPackets > r.ExpectedPackets {
		t.Fatalf("loss not measured: expected %d, lost %d", r.ExpectedPackets, r.LostPackets)
	}
	if r.Server == nil || r.Server.RSSKiB == 0 || r.Host == nil {
		t.Fatalf("no server or host figures: %+v", r)
	}
}
