package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

const usageText = `usage: rtcd bench <mode> [flags]

modes:
  relay    N TURN clients relay an echo loop through --server (TURN REST --secret)
  alloc    allocate-and-release loop against --server: allocations/s and RSS growth
  udp      the same echo loop over raw loopback UDP: the physical-limit reference
  signal   N WebSocket clients in M rooms against rtcd's /ws
  sfu      R rooms of N WebRTC participants through rtcd's SFU: simulcast video, audio, everyone receives everyone
  compare  rtcd vs coturn (started here) vs raw UDP, same run, ratios

Run "rtcd bench <mode> -h" for a mode's flags. --smoke makes any mode seconds long.
`

// Run executes `rtcd bench <mode> [flags]` and writes a human report (or JSON with
// --json) to out. It returns when the run is complete or ctx is cancelled; every
// socket, goroutine and child process it started is gone by then.
func Run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usageText)
		return errors.New("bench: missing mode")
	}
	var err error
	switch args[0] {
	case "relay":
		err = runRelayMode(ctx, args[1:], out)
	case "udp":
		err = runUDPMode(ctx, args[1:], out)
	case "alloc":
		err = runAllocMode(ctx, args[1:], out)
	case "signal":
		err = runSignalMode(ctx, args[1:], out)
	case "sfu":
		err = runSFUMode(ctx, args[1:], out)
	case "compare":
		err = runCompareMode(ctx, args[1:], out)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(out, usageText)
		return nil
	default:
		fmt.Fprint(out, usageText)
		return fmt.Errorf("bench: unknown mode %q", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func newFlagSet(mode string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rtcd bench "+mode, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("bench: %s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: %s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// isSet reports whether the flag was given on the command line, so --smoke only
// shortens what the operator left at its default.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// Limits that keep every loop bounded whatever the flags say.
const (
	maxClients  = 20000
	maxDuration = time.Hour
)

// parseCounts parses "1,4,16" into client counts.
func parseCounts(s, name string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > maxClients {
			return nil, fmt.Errorf("bench: --%s %q: want a comma list of integers in 1..%d", name, s, maxClients)
		}
		out = append(out, n)
	}
	return out, nil
}

// loadFlags are the traffic flags shared by relay, udp and compare.
type loadFlags struct {
	clients      string
	size         int
	rate         float64
	window       int
	duration     time.Duration
	warmup       time.Duration
	drain        time.Duration
	setupTimeout time.Duration
	repeat       int
	json         bool
	smoke        bool
	client       string
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.clients, "clients", "1", "client counts, comma separated (e.g. 1,4,16)")
	fs.IntVar(&l.size, "size", 1200, "datagram payload bytes")
	fs.Float64Var(&l.rate, "rate", 0, "packets/s per client; 0 = closed loop with --window in flight")
	fs.IntVar(&l.window, "window", 16, "closed loop: packets in flight per client")
	fs.DurationVar(&l.duration, "duration", 10*time.Second, "measured time per row")
	fs.DurationVar(&l.warmup, "warmup", time.Second, "traffic before the measured window")
	fs.DurationVar(&l.drain, "drain", 500*time.Millisecond, "wait for late echoes after the window")
	fs.DurationVar(&l.setupTimeout, "setup-timeout", 10*time.Second, "per-client allocation and first-echo timeout")
	fs.IntVar(&l.repeat, "repeat", 1, "run the whole sequence this many times; rows show the median run")
	fs.BoolVar(&l.json, "json", false, "write JSON instead of a table")
	fs.BoolVar(&l.smoke, "smoke", false, "seconds-long run for CI (shortens unset durations)")
	fs.StringVar(&l.client, "client", "batch", "UDP load generator: batch (bench's own ChannelData, sendmmsg/recvmmsg) or pion (pion's TURN client, one datagram per call)")
}

func (l *loadFlags) config(fs *flag.FlagSet) (loadConfig, []int, error) {
	if l.smoke {
		if !isSet(fs, "duration") {
			l.duration = time.Second
		}
		if !isSet(fs, "warmup") {
			l.warmup = 200 * time.Millisecond
		}
		if !isSet(fs, "drain") {
			l.drain = 200 * time.Millisecond
		}
		if !isSet(fs, "setup-timeout") {
			l.setupTimeout = 5 * time.Second
		}
	}
	counts, err := parseCounts(l.clients, "clients")
	if err != nil {
		return loadConfig{}, nil, err
	}
	switch {
	case l.size < pktHeader || l.size > maxPktSize:
		return loadConfig{}, nil, fmt.Errorf("bench: --size %d: want %d..%d", l.size, pktHeader, maxPktSize)
	case l.rate < 0 || l.rate > 1e6:
		return loadConfig{}, nil, fmt.Errorf("bench: --rate %g: want 0..1000000", l.rate)
	case l.window < 1 || l.window > 4096:
		return loadConfig{}, nil, fmt.Errorf("bench: --window %d: want 1..4096", l.window)
	case l.duration <= 0 || l.duration > maxDuration:
		return loadConfig{}, nil, fmt.Errorf("bench: --duration %s: want >0 and <= %s", l.duration, maxDuration)
	case l.warmup < 0 || l.warmup > maxDuration:
		return loadConfig{}, nil, fmt.Errorf("bench: --warmup %s: want 0..%s", l.warmup, maxDuration)
	case l.drain < 0 || l.drain > time.Minute:
		return loadConfig{}, nil, fmt.Errorf("bench: --drain %s: want 0..1m", l.drain)
	case l.repeat < 1 || l.repeat > 20:
		return loadConfig{}, nil, fmt.Errorf("bench: --repeat %d: want 1..20", l.repeat)
	case l.setupTimeout <= 0 || l.setupTimeout > 5*time.Minute:
		return loadConfig{}, nil, fmt.Errorf("bench: --setup-timeout %s: want >0 and <= 5m", l.setupTimeout)
	case l.client != "batch" && l.client != "pion":
		return loadConfig{}, nil, fmt.Errorf("bench: --client %q: want batch or pion", l.client)
	}
	return loadConfig{size: l.size, rate: l.rate, window: l.window, warmup: l.warmup,
		duration: l.duration, drain: l.drain, pionClient: l.client == "pion"}, counts, nil
}

// turnFlags name a TURN server and how to authenticate to it.
type turnFlags struct {
	server    string
	secret    string
	realm     string
	user      string
	transport string
	pid       int
}

func (f *turnFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "TURN server host:port (required)")
	fs.StringVar(&f.secret, "secret", "", "TURN REST shared secret (required)")
	fs.StringVar(&f.realm, "realm", "rtcd", "realm (the server's 401 realm wins)")
	fs.StringVar(&f.user, "user", "bench", "user part of the TURN REST username")
	fs.StringVar(&f.transport, "transport", "udp", "client-to-server transport: udp or tcp")
	fs.IntVar(&f.pid, "server-pid", 0, "server PID: report its CPU per relayed datagram and RSS")
}

func (f *turnFlags) target(label string) (relayTarget, error) {
	switch {
	case f.server == "":
		return relayTarget{}, errors.New("bench: --server is required")
	case f.secret == "":
		return relayTarget{}, errors.New("bench: --secret is required")
	case f.transport != "udp" && f.transport != "tcp":
		return relayTarget{}, fmt.Errorf("bench: --transport %q: want udp or tcp", f.transport)
	case f.pid < 0:
		return relayTarget{}, fmt.Errorf("bench: --server-pid %d: want a PID", f.pid)
	}
	if _, _, err := splitHostPort(f.server); err != nil {
		return relayTarget{}, err
	}
	if _, err := readProc(f.pid); err != nil {
		return relayTarget{}, err
	}
	return relayTarget{label: label, server: f.server, secret: f.secret, realm: f.realm, user: f.user,
		transport: f.transport, pid: f.pid}, nil
}

func splitHostPort(s string) (string, int, error) {
	host, port, err := netSplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("bench: --server %q: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("bench: --server %q: bad port", s)
	}
	return host, p, nil
}

// loadReport is the JSON document of relay, udp and compare.
type loadReport struct {
	Mode        string       `json:"mode"`
	Description string       `json:"description"`
	LoadAvg     string       `json:"loadavg,omitempty"` // 1-minute load average when the report was written
	Rows        []LoadResult `json:"rows"`
}

// runRows runs every client count against each target, in order.
// With repeat > 1 the whole sequence runs repeat times, so every target sees the
// same spread of machine noise, and each row reports the run with the median
// echoes/s plus the min and max.
func runRows(ctx context.Context, targets []relayTarget, counts []int, cfg loadConfig,
	setupTimeout time.Duration, repeat int,
) ([]LoadResult, error) {
	peer, err := startEchoPeer("127.0.0.1", 0)
	if err != nil {
		return nil, err
	}
	defer peer.Close()
	runs := make([][]LoadResult, len(counts)*len(targets))
	for rep := 0; rep < max(repeat, 1); rep++ {
		for i, n := range counts {
			for j, t := range targets {
				r, err := runLoad(ctx, t, n, peer.Addr(), cfg, setupTimeout)
				if err != nil {
					return nil, fmt.Errorf("bench: %s with %d clients: %w", t.label, n, err)
				}
				k := i*len(targets) + j
				runs[k] = append(runs[k], r)
			}
		}
	}
	rows := make([]LoadResult, 0, len(runs))
	for _, rs := range runs {
		rows = append(rows, medianRow(rs))
	}
	return rows, nil
}

// medianRow picks the median run (the lower middle for an even count) and
// records how many runs there were and their spread. Closed-loop runs are ranked
// by echoes/s; paced runs all carry the same traffic, so they are ranked by p99
// round trip instead.
func medianRow(rs []LoadResult) LoadResult {
	key := func(r LoadResult) float64 { return r.EchoesPerSec }
	if len(rs) > 0 && rs[0].Rate > 0 {
		key = func(r LoadResult) float64 { return r.RTTP99us }
	}
	sorted := append([]LoadResult(nil), rs...)
	sort.SliceStable(sorted, func(a, b int) bool { return key(sorted[a]) < key(sorted[b]) })
	r := sorted[(len(sorted)-1)/2]
	if len(rs) > 1 {
		r.Runs = len(rs)
		r.EchoesPerSecMin, r.EchoesPerSecMax = sorted[0].EchoesPerSec, sorted[0].EchoesPerSec
		r.RTTP99usMin, r.RTTP99usMax = sorted[0].RTTP99us, sorted[0].RTTP99us
		for _, x := range sorted {
			r.EchoesPerSecMin, r.EchoesPerSecMax = min(r.EchoesPerSecMin, x.EchoesPerSec), max(r.EchoesPerSecMax, x.EchoesPerSec)
			r.RTTP99usMin, r.RTTP99usMax = min(r.RTTP99usMin, x.RTTP99us), max(r.RTTP99usMax, x.RTTP99us)
		}
	}
	return r
}

func emitLoad(out io.Writer, asJSON bool, mode string, cfg loadConfig, rows []LoadResult) error {
	if asJSON {
		return writeJSON(out, loadReport{Mode: mode, Description: describeLoad(cfg), LoadAvg: loadAvg(), Rows: rows})
	}
	fmt.Fprintf(out, "rtcd bench %s: %s (load average %s, %d CPUs)\n", mode, describeLoad(cfg), loadAvg(), runtime.NumCPU())
	return writeLoadTable(out, rows)
}

func runRelayMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("relay", out)
	var lf loadFlags
	var tf turnFlags
	lf.register(fs)
	tf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, counts, err := lf.config(fs)
	if err != nil {
		return err
	}
	t, err := tf.target("relay")
	if err != nil {
		return err
	}
	rows, err := runRows(ctx, []relayTarget{t}, counts, cfg, lf.setupTimeout, lf.repeat)
	if err != nil {
		return err
	}
	return emitLoad(out, lf.json, "relay", cfg, rows)
}

func runUDPMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("udp", out)
	var lf loadFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, counts, err := lf.config(fs)
	if err != nil {
		return err
	}
	rows, err := runRows(ctx, []relayTarget{{label: "udp"}}, counts, cfg, lf.setupTimeout, lf.repeat)
	if err != nil {
		return err
	}
	return emitLoad(out, lf.json, "udp", cfg, rows)
}
