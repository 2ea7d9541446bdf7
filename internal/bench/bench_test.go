package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/internal/testharness"
)

// TestMain checks for leaked goroutines, except go-zero's process-wide ones
// (started by the in-process daemon's packages, never stopped).
func TestMain(m *testing.M) { testharness.VerifyTestMain(m) }

const testSecret = "bench-test-secret"

// testCtx bounds every socket test so a hang fails fast instead of at go test's timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startPion runs an in-process pion/turn server on 127.0.0.1:0 (UDP and TCP on the
// same port) that accepts TURN REST credentials for testSecret and relays to any
// peer, loopback included.
func startPion(t *testing.T) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for i := 0; i < 10; i++ {
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	lf := &logging.DefaultLoggerFactory{Writer: os.Stderr, DefaultLogLevel: logging.LogLevelError}
	gen := &pionturn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	allowAll := func(net.Addr, net.IP) bool { return true }
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		Realm: "bench.test",
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			return pionturn.GenerateAuthKey(username, realm, restPassword(testSecret, username)), true
		},
		PacketConnConfigs: []pionturn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: allowAll}},
		ListenerConfigs:   []pionturn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: allowAll}},
		LoggerFactory:     lf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return pc.LocalAddr().String()
}

func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if err := Run(testCtx(t), args, &out); err != nil {
		t.Fatalf("Run(%q): %v\n%s", args, err, out.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("Run(%q): bad JSON: %v\n%s", args, err, out.String())
	}
	t.Logf("%s", out.String())
}

func checkEchoes(t *testing.T, rows []LoadResult, want int) {
	t.Helper()
	if len(rows) != want {
		t.Fatalf("got %d rows, want %d", len(rows), want)
	}
	for _, r := range rows {
		if r.Echoes == 0 || r.EchoesPerSec <= 0 || r.Sent == 0 {
			t.Errorf("%s/%s %d clients: no echoes (%+v)", r.Target, r.Transport, r.Clients, r)
		}
	}
}

var shortRun = []string{"--smoke", "--duration", "1s", "--warmup", "100ms", "--json"}

func TestUDPMode(t *testing.T) {
	var rep loadReport
	runJSON(t, &rep, append([]string{"udp", "--clients", "1,2", "--repeat", "2"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 2)
	for _, r := range rep.Rows {
		if r.Runs != 2 {
			t.Errorf("runs = %d, want 2", r.Runs)
		}
	}
}

func TestUDPModePaced(t *testing.T) {
	var rep loadReport
	runJSON(t, &rep, append([]string{"udp", "--clients", "2", "--rate", "200", "--size", "64"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 1)
}

func TestRelayMode(t *testing.T) {
	addr := startPion(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var rep loadReport
			runJSON(t, &rep, append([]string{"relay", "--server", addr, "--secret", testSecret,
				"--transport", transport, "--clients", "1,3", "--server-pid", strconv.Itoa(os.Getpid())}, shortRun...)...)
			checkEchoes(t, rep.Rows, 2)
			for _, r := range rep.Rows {
				if r.Server == nil || r.Server.RSSAfterKiB <= 0 || r.Server.Datagrams == 0 {
					t.Errorf("server usage missing: %+v", r.Server)
				}
				if r.Host == nil || r.Host.AllMicrosPerDgram <= 0 || r.Host.GeneratorPercent <= 0 {
					t.Errorf("host usage missing: %+v", r.Host)
				}
			}
		})
	}
}

// TestRelayModePionClient: --client pion relays through pion's TURN
// client, the generator before the batched one.
func TestRelayModePionClient(t *testing.T) {
	addr := startPion(t)
	var rep loadReport
	runJSON(t, &rep, append([]string{"relay", "--server", addr, "--secret", testSecret, "--clients", "2",
		"--client", "pion"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 1)
}

// TestCompareTwoRelays: --rtcd2-server adds a second relay's rows and its
// own ratios against raw UDP.
func TestCompareTwoRelays(t *testing.T) {
	a, b := startPion(t), startPion(t)
	var rep struct {
		Rows   []LoadResult
		Ratios []CompareRatio
	}
	runJSON(t, &rep, append([]string{"compare", "--no-coturn", "--rtcd-server", a, "--rtcd-secret", testSecret,
		"--rtcd-label", "one", "--rtcd2-server", b, "--rtcd2-label", "two", "--clients", "1"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 3)
	if len(rep.Ratios) != 2 || rep.Ratios[0].Label != "one" || rep.Ratios[1].Label != "two" ||
		rep.Ratios[0].RtcdVsRaw == nil || rep.Ratios[1].RtcdVsRaw == nil {
		t.Fatalf("ratios %+v", rep.Ratios)
	}
}

func TestRelayModePaced(t *testing.T) {
	addr := startPion(t)
	var rep loadReport
	runJSON(t, &rep, append([]string{"relay", "--server", addr, "--secret", testSecret, "--clients", "2",
		"--rate", "300"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 1)
}

func TestAllocMode(t *testing.T) {
	addr := startPion(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var rep struct{ Rows []AllocResult }
			runJSON(t, &rep, "alloc", "--server", addr, "--secret", testSecret, "--transport", transport,
				"--clients", "1,4", "--cycles", "200", "--duration", "5s", "--json",
				"--server-pid", strconv.Itoa(os.Getpid()))
			if len(rep.Rows) != 2 {
				t.Fatalf("rows %d", len(rep.Rows))
			}
			for _, r := range rep.Rows {
				if r.Cycles == 0 || r.AllocsPerSec <= 0 || r.Server == nil {
					t.Errorf("%d clients: %+v", r.Clients, r)
				}
				if r.Cycles > 200 {
					t.Errorf("%d clients: %d cycles exceeds --cycles 200", r.Clients, r.Cycles)
				}
			}
		})
	}
}

func TestCompareWithoutCoturn(t *testing.T) {
	addr := startPion(t)
	var rep struct {
		Rows   []LoadResult
		Ratios []CompareRatio
	}
	runJSON(t, &rep, append([]string{"compare", "--no-coturn", "--rtcd-server", addr, "--rtcd-secret", testSecret,
		"--rtcd-label", "pion", "--clients", "1"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 2)
	if len(rep.Ratios) != 1 || rep.Ratios[0].RtcdVsRaw == nil || rep.Ratios[0].RtcdVsCoturn != nil {
		t.Fatalf("ratios %+v", rep.Ratios)
	}
}

func TestCompareWithCoturn(t *testing.T) {
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("coturn not installed")
	}
	addr := startPion(t)
	var rep struct {
		Rows   []LoadResult
		Alloc  []AllocResult
		Ratios []CompareRatio
	}
	runJSON(t, &rep, append([]string{"compare", "--rtcd-server", addr, "--rtcd-secret", testSecret,
		"--rtcd-label", "pion", "--clients", "1", "--alloc-cycles", "100", "--alloc-duration", "3s"}, shortRun...)...)
	checkEchoes(t, rep.Rows, 3)
	if len(rep.Ratios) != 1 || rep.Ratios[0].RtcdVsCoturn == nil || rep.Ratios[0].CoturnVsRaw == nil ||
		rep.Ratios[0].AllocRtcdVsCoturn == nil {
		t.Fatalf("ratios %+v", rep.Ratios)
	}
	if len(rep.Alloc) != 2 {
		t.Fatalf("alloc rows %+v", rep.Alloc)
	}
	for _, r := range rep.Rows {
		if r.Target == "coturn" {
			if r.Server == nil {
				t.Fatal("coturn row without server usage")
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(r.Server.PID)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("coturn pid %d still exists after compare", r.Server.PID)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	pion := startPion(t)
	// A port nobody answers on: bound and closed again.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	_ = pc.Close()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mode", nil, "missing mode"},
		{"unknown mode", []string{"nope"}, `unknown mode "nope"`},
		{"unknown flag", []string{"udp", "--bogus"}, "flag provided but not defined"},
		{"stray argument", []string{"udp", "extra"}, `unexpected argument "extra"`},
		{"zero clients", []string{"udp", "--clients", "0"}, "--clients"},
		{"bad clients list", []string{"udp", "--clients", "1,x"}, "--clients"},
		{"too many clients", []string{"udp", "--clients", "1000000"}, "--clients"},
		{"tiny size", []string{"udp", "--size", "8"}, "--size 8"},
		{"huge size", []string{"udp", "--size", "70000"}, "--size 70000"},
		{"negative rate", []string{"udp", "--rate", "-1"}, "--rate"},
		{"zero window", []string{"udp", "--window", "0"}, "--window 0"},
		{"zero duration", []string{"udp", "--duration", "0s"}, "--duration"},
		{"zero repeat", []string{"udp", "--repeat", "0"}, "--repeat 0"},
		{"unknown client", []string{"udp", "--client", "fast"}, `--client "fast"`},
		{"endless duration", []string{"udp", "--duration", "100h"}, "--duration"},
		{"relay without server", []string{"relay", "--secret", "x"}, "--server is required"},
		{"relay without secret", []string{"relay", "--server", pion}, "--secret is required"},
		{"relay bad transport", []string{"relay", "--server", pion, "--secret", "x", "--transport", "sctp"}, "--transport"},
		{"relay bad server", []string{"relay", "--server", "nohostport", "--secret", "x"}, "--server"},
		{"relay bad port", []string{"relay", "--server", "127.0.0.1:99999", "--secret", "x"}, "bad port"},
		{"relay missing pid", []string{"relay", "--server", pion, "--secret", "x", "--server-pid", "1073741824"}, "server pid"},
		{"relay wrong secret", []string{"relay", "--server", pion, "--secret", "wrong", "--smoke", "--setup-timeout", "2s"}, "allocate"},
		{"relay dead server", []string{"relay", "--server", dead, "--secret", "x", "--smoke", "--setup-timeout", "1s"}, "allocate"},
		{"alloc zero cycles", []string{"alloc", "--server", pion, "--secret", "x", "--cycles", "0"}, "--cycles"},
		{"alloc wrong secret", []string{"alloc", "--server", pion, "--secret", "wrong", "--smoke"}, "no allocation succeeded"},
		{"alloc dead server", []string{"alloc", "--server", dead, "--secret", "x", "--smoke", "--timeout", "300ms"}, "no allocation succeeded"},
		{"sfu remote url", []string{"sfu", "--url", "ws://192.0.2.1:8080/ws"}, "loopback only"},
		{"sfu http url", []string{"sfu", "--url", "http://127.0.0.1:8080/ws"}, "want ws://"},
		{"sfu one participant", []string{"sfu", "--participants", "1"}, "want 2 or more"},
		{"sfu too many participants", []string{"sfu", "--rooms", "20", "--participants", "50"}, "500 in all"},
		{"sfu zero rooms", []string{"sfu", "--rooms", "0"}, "--rooms 0"},
		{"sfu bad bitrate", []string{"sfu", "--bitrate", "fast"}, "--bitrate"},
		{"sfu bad tile", []string{"sfu", "--tile", "big"}, "--tile"},
		{"sfu fast keyframes", []string{"sfu", "--keyframe", "1ms"}, "--keyframe"},
		{"sfu missing pid", []string{"sfu", "--pid", "1073741824"}, "server pid"},
		{"sfu dead server", []string{"sfu", "--url", "ws://" + dead + "/ws", "--smoke"}, "dial"},
		{"compare bad port range", []string{"compare", "--coturn-min-port", "50000", "--coturn-max-port", "40000"}, "coturn-min-port"},
		{"compare missing coturn", []string{"compare", "--coturn-bin", "/nonexistent/turnserver"}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(testCtx(t), tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%q) = %v, want error containing %q", tt.args, err, tt.want)
			}
		})
	}
	// The server is still serving after all of that.
	var rep loadReport
	runJSON(t, &rep, append([]string{"relay", "--server", pion, "--secret", testSecret}, shortRun...)...)
	checkEchoes(t, rep.Rows, 1)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"udp", "-h"}, {"relay", "--help"}} {
		var out bytes.Buffer
		if err := Run(testCtx(t), args, &out); err != nil {
			t.Errorf("Run(%q) = %v, want nil", args, err)
		}
		if out.Len() == 0 {
			t.Errorf("Run(%q) printed no usage", args)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Run(ctx, []string{"udp", "--duration", "30s", "--warmup", "0s"}, &bytes.Buffer{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancel took %v", time.Since(start))
	}
}

func TestPacketHeader(t *testing.T) {
	b := make([]byte, 64)
	putHeader(b, 7, 99|probeBit, 12345*time.Microsecond)
	id, seq, sent, ok := parseHeader(b)
	if !ok || id != 7 || seq != 99|probeBit || sent != 12345*time.Microsecond {
		t.Fatalf("round trip: %d %d %v %v", id, seq, sent, ok)
	}
	if _, _, _, ok := parseHeader(b[:10]); ok {
		t.Fatal("short packet accepted")
	}
	b[0] ^= 0xff
	if _, _, _, ok := parseHeader(b); ok {
		t.Fatal("bad magic accepted")
	}
}
