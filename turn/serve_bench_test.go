package turn

import (
	"context"
	"flag"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v4"
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
	benchNoRaw   = flag.Bool("turn.noraw", false, "TestServeForBench: send with net.UDPConn.WriteTo (Go's write lock)")
	benchBare    = flag.Bool("turn.bare", false, "TestServeForBench: stock pion/turn without rtcd's wrappers")
	benchNoFast  = flag.Bool("turn.nofast", false, "TestServeForBench: relay ChannelData through pion (Config.DisableFastPath)")
	benchNoLoop  = flag.Bool("turn.noloop", false, "TestServeForBench: no event loops (Config.DisableEventLoops)")
)

func TestServeForBench(t *testing.T) {
	if *benchServe == "" {
		t.Skip("profiling harness: set -turn.serve host:port")
	}
	secret := os.Getenv("RTCD_BENCH_SECRET")
	if secret == "" {
		t.Fatal("set RTCD_BENCH_SECRET")
	}
	if *benchBare {
		serveBare(t, secret)
		return
	}
	iss, err := auth.NewIssuer([]string{secret}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{
		Listen: *benchServe, PublicIP: "127.0.0.1", MinPort: 50000, MaxPort: 59999,
		AllowPeers: strings.Fields("127.0.0.1/32"), MaxAllocationsPerUser: 100000,
		MaxAllocations: 100000, UDPSockets: *benchSockets, DisableFastPath: *benchNoFast, DisableEventLoops: *benchNoLoop,
	}
	tune := defaultTuning(c)
	if *benchNoBatch {
		tune.listenBatch, tune.relayBatch = 0, 0
	}
	if *benchNoRaw {
		tune.rawSend = false
	}
	s, err := newServer(c, iss, tune)
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

// serveBare runs pion/turn with stock pieces only: TURN REST auth, a port
// range generator, the same number of SO_REUSEPORT sockets with the same
// buffers, and no peer filter, quotas, counters or conn wrappers. The
// difference to TestServeForBench is what rtcd's wrappers cost.
func serveBare(t *testing.T, secret string) {
	n := *benchSockets
	if n == 0 {
		n = runtime.NumCPU()
	}
	lc := net.ListenConfig{Control: reusePort}
	var pcs []pionturn.PacketConnConfig
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp4", *benchServe)
		if err != nil {
			t.Fatal(err)
		}
		_ = pc.(*net.UDPConn).SetReadBuffer(socketBuffer)
		_ = pc.(*net.UDPConn).SetWriteBuffer(socketBuffer)
		pcs = append(pcs, pionturn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: &pionturn.RelayAddressGeneratorPortRange{
			RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1", MinPort: 50000, MaxPort: 59999,
		}})
	}
	ln, err := net.Listen("tcp4", *benchServe)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm:             "rtcd",
		AuthHandler:       pionturn.LongTermTURNRESTAuthHandler(secret, logFactory{}.NewLogger("auth")),
		PacketConnConfigs: pcs,
		ListenerConfigs: []pionturn.ListenerConfig{{Listener: ln, RelayAddressGenerator: &pionturn.RelayAddressGeneratorPortRange{
			RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1", MinPort: 50000, MaxPort: 59999,
		}}},
		LoggerFactory: logFactory{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stock pion serving on %s for %s (pid %d)", *benchServe, *benchFor, os.Getpid())
	time.Sleep(*benchFor)
	_ = srv.Close()
	time.Sleep(100 * time.Millisecond) // pion's Close does not wait for its goroutines
}
