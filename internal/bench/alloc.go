package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/pion/stun/v3"

	"github.com/rtcd/rtcd/internal/callback"
)

// AllocResult is one allocate-and-release row.
type AllocResult struct {
	Target       string            `json:"target"`
	Transport    string            `json:"transport"`
	Clients      int               `json:"clients"`
	Cycles       uint64            `json:"cycles"`
	Failures     uint64            `json:"failures"`
	Errors       map[string]uint64 `json:"errors,omitempty"`
	Seconds      float64           `json:"seconds"`
	AllocsPerSec float64           `json:"allocations_per_sec"`
	CycleP50us   float64           `json:"cycle_p50_us"`
	CycleP99us   float64           `json:"cycle_p99_us"`
	Server       *AllocServer      `json:"server,omitempty"`
}

// AllocServer is the server's memory through the churn: the bound is
// RSS after all cycles within 2x of RSS after the first 1,000.
type AllocServer struct {
	PID             int     `json:"pid"`
	CPUMicrosPerCyc float64 `json:"cpu_us_per_cycle"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSAt1000KiB    int64   `json:"rss_after_1000_kib,omitempty"`
	RSSAfterKiB     int64   `json:"rss_after_kib"`
	Growth          float64 `json:"rss_growth_vs_1000,omitempty"`
}

// rssCheckpoint is the cycle count at which the early RSS sample is taken.
const rssCheckpoint = 1000

// stunRT performs one STUN request/response over a fresh client transport.
type stunRT struct {
	conn    net.Conn
	tcp     bool
	timeout time.Duration
	buf     []byte
}

var errTimeout = errors.New("bench: no response")

// do sends req and returns the matching response. Over UDP it retransmits with
// doubling RTO (RFC 8489 §6.2.1), over TCP it waits once.
func (r *stunRT) do(req *stun.Message) (*stun.Message, error) {
	rto := 250 * time.Millisecond
	deadline := time.Now().Add(r.timeout)
	for time.Now().Before(deadline) {
		if _, err := r.conn.Write(req.Raw); err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
		wait := time.Now().Add(rto)
		if r.tcp || wait.After(deadline) {
			wait = deadline
		}
		_ = r.conn.SetReadDeadline(wait)
		for {
			raw, err := r.read()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, fmt.Errorf("read: %w", err)
			}
			res := &stun.Message{Raw: append([]byte(nil), raw...)}
			if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
				continue
			}
			return res, nil
		}
		rto *= 2
	}
	return nil, errTimeout
}

func (r *stunRT) read() ([]byte, error) {
	if !r.tcp {
		n, err := r.conn.Read(r.buf)
		return r.buf[:n], err
	}
	if _, err := io.ReadFull(r.conn, r.buf[:20]); err != nil {
		return nil, err
	}
	n := 20 + int(binary.BigEndian.Uint16(r.buf[2:4])) // the length field excludes the header
	if n > len(r.buf) {
		return nil, fmt.Errorf("stun message of %d bytes", n)
	}
	if _, err := io.ReadFull(r.conn, r.buf[20:n]); err != nil {
		return nil, err
	}
	return r.buf[:n], nil
}

// errorCode names a STUN error response for the error table ("401", "508").
func errorCode(res *stun.Message) error {
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return fmt.Errorf("%s without error code", res.Type)
	}
	return fmt.Errorf("error %d %s", code.Code, code.Reason)
}

var requestedUDP = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

// allocCycle runs one RFC 8656 allocation lifetime on a new 5-tuple: the 401
// challenge, the authenticated Allocate, and Refresh with LIFETIME 0 (§7).
//
// Against a loopback server the client address rotates through 127.2.0.0/16 by
// cycle number, so a 5-tuple is not reused while the server still holds its
// released allocation (coturn answers that with 437), and 100k TCP cycles do
// not run one source address out of ephemeral ports in TIME_WAIT.
func allocCycle(ctx context.Context, t relayTarget, cycle uint64, user string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	network := "udp4"
	if t.transport == "tcp" {
		network = "tcp4"
	}
	host, _, _ := net.SplitHostPort(t.server)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		src := cycleSource(cycle)
		d.LocalAddr = &net.UDPAddr{IP: src}
		if t.transport == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: src}
		}
	}
	conn, err := d.DialContext(ctx, network, t.server)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	stop := callback.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	rt := &stunRT{conn: conn, tcp: t.transport == "tcp", timeout: timeout, buf: make([]byte, 1500)}

	ts, err := allocateRaw(rt, t, user)
	if err != nil {
		return err
	}
	if _, err := ts.request(rt, stun.MethodRefresh, lifetimeZero); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	return nil
}

// lifetimeZero is the LIFETIME of a Refresh that ends an allocation.
var lifetimeZero = stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}

// sourceSeq numbers alloc cycles process-wide, so consecutive rows and runs keep
// walking through the source addresses instead of starting over.
var sourceSeq atomic.Uint64

// cycleSource is the loopback client address of alloc cycle i: 62,500 distinct
// addresses in 127.2.0.0/16, skipping .0 and .255.
func cycleSource(i uint64) net.IP {
	n := i % 62500
	return net.IPv4(127, 2, byte(n/250), byte(n%250+1))
}

// isStale reports a 438 Stale Nonce and adopts the new nonce.
func isStale(res *stun.Message, nonce *stun.Nonce) bool {
	var code stun.ErrorCodeAttribute
	if code.GetFrom(res) != nil || code.Code != stun.CodeStaleNonce {
		return false
	}
	return nonce.GetFrom(res) == nil
}

// allocConfig bounds one alloc row.
type allocConfig struct {
	cycles   uint64
	duration time.Duration
	timeout  time.Duration
}

// maxAllocFailures without a single success aborts the row: the secret, realm or
// server is wrong, and hammering it further measures nothing.
const maxAllocFailures = 50

func runAllocRow(ctx context.Context, t relayTarget, n int, cfg allocConfig) (AllocResult, error) {
	res := AllocResult{Target: t.label, Transport: t.transport, Clients: n}
	before, err := readProc(t.pid)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()

	var (
		started, done, failed atomic.Uint64
		mu                    sync.Mutex // guards errs, firstErr, at1000, hist
		errs                  = map[string]uint64{}
		firstErr              error
		at1000                procSample
		hist                  Histogram
		wg                    sync.WaitGroup
	)
	start := time.Now()
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local Histogram
			defer func() {
				mu.Lock()
				hist.Merge(&local)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := started.Add(1)
				if i > cfg.cycles {
					return
				}
				t0 := time.Now()
				err := allocCycle(ctx, t, sourceSeq.Add(1), t.user+strconv.Itoa(c), cfg.timeout)
				if ctx.Err() != nil {
					return // cut off by the duration bound: neither success nor failure
				}
				if err != nil {
					f := failed.Add(1)
					mu.Lock()
					errs[errKey(err)]++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					if f >= maxAllocFailures && done.Load() == 0 {
						cancel()
						return
					}
					sleepCtx(ctx, 10*time.Millisecond)
					continue
				}
				local.Record(time.Since(t0))
				if done.Add(1) == rssCheckpoint && t.pid != 0 {
					s, err := readProc(t.pid)
					mu.Lock()
					if err == nil {
						at1000 = s
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if done.Load() == 0 && firstErr != nil {
		return res, fmt.Errorf("no allocation succeeded: %w", firstErr)
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return res, err
	}
	res.Cycles, res.Failures, res.Errors = done.Load(), failed.Load(), errs
	res.Seconds = elapsed.Seconds()
	res.AllocsPerSec = float64(res.Cycles) / elapsed.Seconds()
	res.CycleP50us = us(hist.Quantile(0.5))
	res.CycleP99us = us(hist.Quantile(0.99))
	if t.pid != 0 {
		after, err := readProc(t.pid)
		if err != nil {
			return res, err
		}
		res.Server = &AllocServer{PID: t.pid, RSSBeforeKiB: before.RSSKiB, RSSAt1000KiB: at1000.RSSKiB,
			RSSAfterKiB: after.RSSKiB}
		if res.Cycles > 0 {
			res.Server.CPUMicrosPerCyc = float64((after.CPU - before.CPU).Microseconds()) / float64(res.Cycles)
		}
		if at1000.RSSKiB > 0 {
			res.Server.Growth = float64(after.RSSKiB) / float64(at1000.RSSKiB)
		}
	}
	return res, nil
}

// errKey buckets errors for the report without unbounded cardinality.
func errKey(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errTimeout):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func runAllocMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("alloc", out)
	var tf turnFlags
	tf.register(fs)
	clients := fs.String("clients", "4", "concurrent clients, comma separated for several rows")
	cycles := fs.Uint64("cycles", 100000, "allocate/release cycles per row (bounded by --duration too)")
	duration := fs.Duration("duration", 2*time.Minute, "time bound per row")
	timeout := fs.Duration("timeout", 3*time.Second, "per-request timeout including retransmits")
	asJSON := fs.Bool("json", false, "write JSON instead of a table")
	smoke := fs.Bool("smoke", false, "seconds-long run for CI")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *smoke {
		if !isSet(fs, "cycles") {
			*cycles = 500
		}
		if !isSet(fs, "duration") {
			*duration = 2 * time.Second
		}
	}
	counts, err := parseCounts(*clients, "clients")
	if err != nil {
		return err
	}
	switch {
	case *cycles < 1 || *cycles > 100_000_000:
		return fmt.Errorf("bench: --cycles %d: want 1..100000000", *cycles)
	case *duration <= 0 || *duration > maxDuration:
		return fmt.Errorf("bench: --duration %s: want >0 and <= %s", *duration, maxDuration)
	case *timeout <= 0 || *timeout > time.Minute:
		return fmt.Errorf("bench: --timeout %s: want >0 and <= 1m", *timeout)
	}
	t, err := tf.target("alloc")
	if err != nil {
		return err
	}
	cfg := allocConfig{cycles: *cycles, duration: *duration, timeout: *timeout}
	var rows []AllocResult
	for _, n := range counts {
		r, err := runAllocRow(ctx, t, n, cfg)
		if err != nil {
			return fmt.Errorf("bench: alloc with %d clients: %w", n, err)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return writeJSON(out, struct {
			Mode string        `json:"mode"`
			Rows []AllocResult `json:"rows"`
		}{"alloc", rows})
	}
	fmt.Fprintf(out, "rtcd bench alloc: %s over %s, up to %d cycles or %s per row (load average %s)\n",
		t.server, t.transport, *cycles, *duration, loadAvg())
	return writeAllocTable(out, rows)
}

func writeAllocTable(out io.Writer, rows []AllocResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tclients\tcycles\tallocs/s\tp50 µs\tp99 µs\tfailures\tsrv µs/cycle\tRSS MiB start→1k→end\tgrowth\t")
	for _, r := range rows {
		cpu, rss, growth := "-", "-", "-"
		if r.Server != nil {
			cpu = fmt.Sprintf("%.1f", r.Server.CPUMicrosPerCyc)
			at1k := "-"
			if r.Server.RSSAt1000KiB > 0 {
				at1k = mib(r.Server.RSSAt1000KiB)
			}
			rss = mib(r.Server.RSSBeforeKiB) + "→" + at1k + "→" + mib(r.Server.RSSAfterKiB)
			growth = fratio(r.Server.Growth) + "x"
		}
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%s\t%.0f\t%.0f\t%d\t%s\t%s\t%s\t\n", r.Target, r.Transport, r.Clients,
			r.Cycles, fnum(r.AllocsPerSec), r.CycleP50us, r.CycleP99us, r.Failures, cpu, rss, growth)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	for _, r := range rows {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "  %s/%s %d clients: %d × %s\n", r.Target, r.Transport, r.Clients, r.Errors[k], k)
		}
	}
	return nil
}
