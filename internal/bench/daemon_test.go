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
// in-process daemon whose rooms all use its media server: three
// participants must each receive the others' audio and video. The numbers
// are logged, never judged.
func TestSFUModeAgainstDaemon(t *testing.T) {
	t.Skip("the media server does not take client offers yet (internal/sfu negotiation in progress)")
	c := config.Default()
	c.Signal.Media = signal.MediaSFU
	d := daemontest.Start(t, c)
	var rep struct {
		Rows []SFUResult `json:"rows"`
	}
	runJSON(t, &rep, "sfu", "--url", d.WSURL(), "--smoke", "--participants", "3", "--json",
		"--pid", strconv.Itoa(os.Getpid()))
	if len(rep.Rows) != 1 {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	r := rep.Rows[0]
	if r.SetupErrors != 0 || r.StreamsReceived != r.StreamsExpected {
		t.Fatalf("setup errors %d, streams %d/%d, errors %v", r.SetupErrors, r.StreamsReceived, r.StreamsExpected, r.Errors)
	}
	if r.ReceivedPackets == 0 || r.Server == nil || r.Host == nil {
		t.Fatalf("report: %+v", r)
	}
}
