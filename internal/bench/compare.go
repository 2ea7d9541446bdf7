package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pion/stun/v3"
)

// coturnOpts configures the coturn instance compare starts.
type coturnOpts struct {
	bin              string
	secret, realm    string
	minPort, maxPort int
}

// coturn is a turnserver child process on a private loopback port.
type coturn struct {
	addr   string
	pid    int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// freeLoopbackPort finds a port free for both UDP and TCP on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("bench: find free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, errors.New("bench: no port free for both udp and tcp on 127.0.0.1")
}

// coturnConfig renders turnserver.conf. The secret goes in a 0600 file rather
// than on the command line, where any local user could read it from /proc.
func coturnConfig(o coturnOpts, port int, dir string) string {
	return fmt.Sprintf(`listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=%d
use-auth-secret
static-auth-secret=%s
realm=%s
allow-loopback-peers
no-cli
no-tls
no-dtls
no-multicast-peers
min-port=%d
max-port=%d
userdb=%s
pidfile=%s
log-file=%s
simple-log
`, port, o.secret, o.realm, o.minPort, o.maxPort,
		filepath.Join(dir, "turndb"), filepath.Join(dir, "turnserver.pid"), filepath.Join(dir, "turnserver.log"))
}

// startCoturn runs turnserver on a free loopback port and waits until it answers
// a STUN Binding request. The caller must call stop, also on error paths.
func startCoturn(ctx context.Context, o coturnOpts) (*coturn, error) {
	bin, err := exec.LookPath(o.bin)
	if err != nil {
		return nil, fmt.Errorf("bench: coturn binary %q not found (apt-get install coturn): %w", o.bin, err)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rtcd-bench-coturn-")
	if err != nil {
		return nil, fmt.Errorf("bench: coturn temp dir: %w", err)
	}
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, []byte(coturnConfig(o, port, dir)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: coturn config: %w", err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Dir = dir
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start coturn: %w", err)
	}
	c := &coturn{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), pid: cmd.Process.Pid, dir: dir,
		cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(ctx, 10*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "turnserver.log"))
		c.stop()
		return nil, fmt.Errorf("bench: coturn on %s: %w; log tail: %s", c.addr, err, tail(log, 400))
	}
	return c, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitReady polls with STUN Binding requests until coturn answers.
func (c *coturn) waitReady(ctx context.Context, timeout time.Duration) error {
	conn, err := net.Dial("udp4", c.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := &stunRT{conn: conn, timeout: 200 * time.Millisecond, buf: make([]byte, 1500)}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return errors.New("turnserver exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if res, err := rt.do(req); err == nil && res.Type == stun.BindingSuccess {
			return nil
		}
	}
	return errors.New("no STUN answer")
}

// stop terminates coturn by its PID (SIGTERM, then SIGKILL after 3 s), waits for
// it and removes its temp dir.
func (c *coturn) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(3 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	_ = os.RemoveAll(c.dir)
}

func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("bench: secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func runCompareMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("compare", out)
	var lf loadFlags
	lf.register(fs)
	rtcdServer := fs.String("rtcd-server", "", "running rtcd TURN address host:port (omit to compare coturn and raw UDP only)")
	rtcdSecret := fs.String("rtcd-secret", "", "rtcd's TURN REST secret")
	rtcdPID := fs.Int("rtcd-pid", 0, "rtcd's PID for CPU and RSS")
	rtcdLabel := fs.String("rtcd-label", "rtcd", "row label for --rtcd-server")
	rtcd2Server := fs.String("rtcd2-server", "", "a second running rtcd (e.g. with Turn.FastPath on), same secret: its own rows and ratios")
	rtcd2PID := fs.Int("rtcd2-pid", 0, "the second rtcd's PID")
	rtcd2Label := fs.String("rtcd2-label", "rtcd-kernel", "row label for --rtcd2-server")
	realm := fs.String("realm", "rtcd", "realm for coturn (and the client's initial realm)")
	transport := fs.String("transport", "udp", "client-to-server transport for both relays: udp or tcp")
	coturnBin := fs.String("coturn-bin", "turnserver", "coturn's turnserver binary")
	noCoturn := fs.Bool("no-coturn", false, "skip coturn")
	minPort := fs.Int("coturn-min-port", 49152, "coturn relay port range start")
	maxPort := fs.Int("coturn-max-port", 49999, "coturn relay port range end")
	allocCycles := fs.Uint64("alloc-cycles", 0, "also run alloc rows (this many cycles each) against both relays; 0 = skip")
	allocDuration := fs.Duration("alloc-duration", 20*time.Second, "time bound per alloc row")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !isSet(fs, "clients") {
		lf.clients = "1,4,16"
		if lf.smoke {
			lf.clients = "1"
		}
	}
	cfg, counts, err := lf.config(fs)
	if err != nil {
		return err
	}
	if *allocCycles > 100_000_000 || *allocDuration <= 0 || *allocDuration > maxDuration {
		return errors.New("bench: --alloc-cycles/--alloc-duration out of range")
	}
	if *minPort < 1024 || *maxPort > 65535 || *minPort > *maxPort {
		return fmt.Errorf("bench: --coturn-min-port/--coturn-max-port %d-%d: want 1024 <= min <= max <= 65535", *minPort, *maxPort)
	}

	var targets []relayTarget
	if *rtcdServer != "" {
		tf := turnFlags{server: *rtcdServer, secret: *rtcdSecret, realm: *realm, user: "bench",
			transport: *transport, pid: *rtcdPID}
		t, err := tf.target(*rtcdLabel)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	labels := []string{*rtcdLabel}
	if *rtcd2Server != "" {
		tf := turnFlags{server: *rtcd2Server, secret: *rtcdSecret, realm: *realm, user: "bench",
			transport: *transport, pid: *rtcd2PID}
		t, err := tf.target(*rtcd2Label)
		if err != nil {
			return err
		}
		targets = append(targets, t)
		labels = append(labels, *rtcd2Label)
	}
	if !*noCoturn {
		secret := *rtcdSecret
		if secret == "" {
			if secret, err = randomSecret(); err != nil {
				return err
			}
		}
		c, err := startCoturn(ctx, coturnOpts{bin: *coturnBin, secret: secret, realm: *realm,
			minPort: *minPort, maxPort: *maxPort})
		if err != nil {
			return err
		}
		defer c.stop()
		tf := turnFlags{server: c.addr, secret: secret, realm: *realm, user: "bench", transport: *transport, pid: c.pid}
		t, err := tf.target("coturn")
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	targets = append(targets, relayTarget{label: "udp"})
	rows, err := runRows(ctx, targets, counts, cfg, lf.setupTimeout, lf.repeat)
	if err != nil {
		return err
	}
	var allocRows []AllocResult
	if *allocCycles > 0 {
		acfg := allocConfig{cycles: *allocCycles, duration: *allocDuration, timeout: 3 * time.Second}
		if allocRows, err = runAllocRows(ctx, targets, counts, acfg); err != nil {
			return err
		}
	}
	return writeCompare(out, lf.json, cfg, rows, allocRows, counts, labels)
}

// runAllocRows runs an alloc row per client count against every relay
// target (not raw UDP).
func runAllocRows(ctx context.Context, targets []relayTarget, counts []int, acfg allocConfig) ([]AllocResult, error) {
	var rows []AllocResult
	for _, n := range counts {
		for _, t := range targets {
			if t.server == "" {
				continue
			}
			r, err := runAllocRow(ctx, t, n, acfg)
			if err != nil {
				return nil, fmt.Errorf("bench: alloc on %s with %d clients: %w", t.label, n, err)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// writeCompare reports the rows and their ratios to the rtcd row, as JSON or
// as tables.
func writeCompare(out io.Writer, asJSON bool, cfg loadConfig, rows []LoadResult, allocRows []AllocResult, counts []int,
	labels []string,
) error {
	var ratios []CompareRatio
	for _, label := range labels {
		rs := compareRatios(rows, counts, label)
		addAllocRatios(rs, allocRows, label)
		ratios = append(ratios, rs...)
	}
	if asJSON {
		return writeJSON(out, struct {
			loadReport
			Alloc  []AllocResult  `json:"alloc,omitempty"`
			Ratios []CompareRatio `json:"ratios"`
		}{loadReport{Mode: "compare", Description: describeLoad(cfg), LoadAvg: loadAvg(), Rows: rows}, allocRows, ratios})
	}
	if err := emitLoad(out, false, "compare", cfg, rows); err != nil {
		return err
	}
	if len(allocRows) > 0 {
		fmt.Fprintln(out)
		if err := writeAllocTable(out, allocRows); err != nil {
			return err
		}
	}
	for i, label := range labels {
		fmt.Fprintln(out)
		if err := writeRatioTable(out, ratios[i*len(counts):(i+1)*len(counts)], label); err != nil {
			return err
		}
	}
	return nil
}

// addAllocRatios fills the allocation-rate ratio of each client count.
func addAllocRatios(ratios []CompareRatio, rows []AllocResult, label string) {
	for i := range ratios {
		var r, c float64 = math.NaN(), math.NaN()
		for _, a := range rows {
			if a.Clients != ratios[i].Clients {
				continue
			}
			switch a.Target {
			case label:
				r = a.AllocsPerSec
			case "coturn":
				c = a.AllocsPerSec
			}
		}
		ratios[i].AllocRtcdVsCoturn = opt(ratio(r, c))
	}
}

// CompareRatio sets one client count's relays against each other and against raw
// UDP. A nil field means an input was missing (no rtcd given, or no --rtcd-pid).
type CompareRatio struct {
	Label           string   `json:"label"` // the rtcd row the ratios are of
	Clients         int      `json:"clients"`
	RtcdVsCoturn    *float64 `json:"rtcd_vs_coturn_echoes,omitempty"`
	RtcdVsRaw       *float64 `json:"rtcd_vs_raw_echoes,omitempty"`
	CoturnVsRaw     *float64 `json:"coturn_vs_raw_echoes,omitempty"`
	P99RtcdVsCoturn *float64 `json:"rtcd_vs_coturn_p99,omitempty"`
	CPURtcdVsCoturn *float64 `json:"rtcd_vs_coturn_cpu_per_datagram,omitempty"`
	// HostCPURtcdVsCoturn compares host CPU per datagram minus bench's own
	// (HostUsage), which counts a kernel fast path's work too.
	HostCPURtcdVsCoturn *float64 `json:"rtcd_vs_coturn_host_cpu_per_datagram,omitempty"`
	// OursCPURtcdVsCoturn compares server plus bench CPU per datagram.
	OursCPURtcdVsCoturn *float64 `json:"rtcd_vs_coturn_server_and_generator_cpu_per_datagram,omitempty"`
	LossRtcdPct         *float64 `json:"rtcd_loss_pct,omitempty"`
	LossCoturnPct       *float64 `json:"coturn_loss_pct,omitempty"`
	// AllocRtcdVsCoturn compares allocations/s when --alloc-cycles is set.
	AllocRtcdVsCoturn *float64 `json:"rtcd_vs_coturn_allocs,omitempty"`
}

// opt turns NaN into "absent" for JSON.
func opt(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fopt(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fratio(*v)
}

func compareRatios(rows []LoadResult, counts []int, rtcdLabel string) []CompareRatio {
	var out []CompareRatio
	for _, n := range counts {
		cr := CompareRatio{Label: rtcdLabel, Clients: n}
		var rtcd, coturn, ud *LoadResult
		for i := range rows {
			r := &rows[i]
			if r.Clients != n {
				continue
			}
			switch r.Target {
			case rtcdLabel:
				rtcd = r
			case "coturn":
				coturn = r
			case "udp":
				ud = r
			}
		}
		eps := func(r *LoadResult) float64 {
			if r == nil {
				return math.NaN()
			}
			return r.EchoesPerSec
		}
		cpu := func(r *LoadResult) float64 {
			if r == nil || r.Server == nil {
				return math.NaN()
			}
			return r.Server.CPUMicrosPerDatagram
		}
		hostCPU := func(r *LoadResult) float64 {
			if r == nil || r.Host == nil {
				return math.NaN()
			}
			return r.Host.NotGeneratorMicrosPerDgram
		}
		p99 := func(r *LoadResult) float64 {
			if r == nil {
				return math.NaN()
			}
			return r.RTTP99us
		}
		loss := func(r *LoadResult) float64 {
			if r == nil {
				return math.NaN()
			}
			return r.LossPct
		}
		cr.RtcdVsCoturn = opt(ratio(eps(rtcd), eps(coturn)))
		cr.RtcdVsRaw = opt(ratio(eps(rtcd), eps(ud)))
		cr.CoturnVsRaw = opt(ratio(eps(coturn), eps(ud)))
		cr.P99RtcdVsCoturn = opt(ratio(p99(rtcd), p99(coturn)))
		cr.CPURtcdVsCoturn = opt(ratio(cpu(rtcd), cpu(coturn)))
		cr.HostCPURtcdVsCoturn = opt(ratio(hostCPU(rtcd), hostCPU(coturn)))
		ours := func(r *LoadResult) float64 {
			if r == nil || r.Host == nil {
				return math.NaN()
			}
			return r.Host.OursMicrosPerDgram
		}
		cr.OursCPURtcdVsCoturn = opt(ratio(ours(rtcd), ours(coturn)))
		cr.LossRtcdPct, cr.LossCoturnPct = opt(loss(rtcd)), opt(loss(coturn))
		out = append(out, cr)
	}
	return out
}

func writeRatioTable(out io.Writer, ratios []CompareRatio, label string) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "clients\t%[1]s/coturn echoes\t%[1]s/raw\tcoturn/raw\t%[1]s/coturn p99\t%[1]s/coturn µs/dgram\t%[1]s/coturn host-gen µs/dgram\t%[1]s/coturn srv+gen µs/dgram\t%[1]s loss %%\tcoturn loss %%\t%[1]s/coturn allocs\t\n", label)
	for _, r := range ratios {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Clients, fopt(r.RtcdVsCoturn), fopt(r.RtcdVsRaw),
			fopt(r.CoturnVsRaw), fopt(r.P99RtcdVsCoturn), fopt(r.CPURtcdVsCoturn), fopt(r.HostCPURtcdVsCoturn),
			fopt(r.OursCPURtcdVsCoturn), fopt(r.LossRtcdPct),
			fopt(r.LossCoturnPct), fopt(r.AllocRtcdVsCoturn))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}
