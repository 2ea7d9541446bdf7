package turn

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rtcd/rtcd/auth"
)

// Flags for TestServeForBench, which runs a relay in this process so that
// `go test -cpuprofile` yields a pprof CPU profile of the server under
// `rtcd bench relay` load (docs/performance.md). Skipped unless -turn.serve is set.
var (
	benchServe   = flag.String("turn.serve", "", "run a relay on this host:port for -turn.for (profiling)")
	benchFor     = flag.Duration("turn.for", 20*time.Second, "how long TestServeForBench serves")
	benchSockets = flag.Int("turn.sockets", 0, "Turn.UDPSockets for TestServeForBench (0 = NumCPU)")
	benchNoBatch = flag.Bool("turn.nobatch", false, "TestServeForBench: read one datagram per system call")
)

func TestServeForBench(t *testing.T) {
	if *benchServe == "" {
		t.Skip("profiling harness: set -turn.serve host:port")
	}
	if *benchNoBatch {
		listenBatch, relayBatch = 0, 0
	}
	secret := os.Getenv("RTCD_BENCH_SECRET")
	if secret == "" {
		t.Fatal("set RTCD_BENCH_SECRET")
	}
	iss, err := auth.NewIssuer([]string{secret}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Listen: *benchServe, PublicIP: "127.0.0.1", MinPort: 50000, MaxPort: 59999,
		AllowPeers: strings.Fields("127.0.0.1/32"), MaxAllocationsPerUser: 100000,
		MaxAllocations: 100000, UDPSockets: *benchSockets,
	}, iss)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("serving on %s for %s (pid %d)", s.UDPAddr(), *benchFor, os.Getpid())
	time.Sleep(*benchFor)
	s.Stop()
}
