package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/internal/callback"
)

// relayTarget says how flows reach the echo peer: through a TURN server, or
// (server == "") directly over UDP.
type relayTarget struct {
	label     string // row label in reports
	server    string // host:port of the TURN server; "" = raw UDP
	secret    string
	realm     string
	user      string
	transport string // "udp" or "tcp" to the TURN server
	pid       int    // server PID for CPU/RSS, 0 = not monitored
}

// setupConcurrency bounds simultaneous allocations so set-up of large client
// counts does not itself look like a flood to the server.
const setupConcurrency = 32

// openFlow is a flow plus whatever must be closed after it.
type openFlow struct {
	flow
	closers []func()
}

func (o *openFlow) close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// quietLogs keeps pion's client from writing to stderr mid-report.
func quietLogs() logging.LoggerFactory {
	return &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
}

// localFor picks the local bind address for talking to host: loopback stays on
// loopback, anything else uses the unspecified address.
func localFor(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "127.0.0.1:0"
	}
	return "0.0.0.0:0"
}

// dialRelay allocates on the TURN server, grants a permission for peer and waits
// for an echo through the channel, so the timed run sees a bound channel.
func dialRelay(ctx context.Context, t relayTarget, id uint32, peer *net.UDPAddr, size int,
	timeout time.Duration,
) (*openFlow, error) {
	host, _, err := net.SplitHostPort(t.server)
	if err != nil {
		return nil, fmt.Errorf("bench: --server %q: %w", t.server, err)
	}
	o := &openFlow{flow: flow{id: id, peer: peer}}
	ok := false
	defer func() {
		if !ok {
			o.close()
		}
	}()

	var base net.PacketConn
	switch t.transport {
	case "udp":
		pc, err := net.ListenPacket("udp4", localFor(host))
		if err != nil {
			return nil, fmt.Errorf("bench: client socket: %w", err)
		}
		if uc, isUDP := pc.(*net.UDPConn); isUDP {
			_ = uc.SetReadBuffer(sockBuf)
			_ = uc.SetWriteBuffer(sockBuf)
		}
		base = pc
	case "tcp":
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp4", t.server)
		if err != nil {
			return nil, fmt.Errorf("bench: dial %s: %w", t.server, err)
		}
		base = pionturn.NewSTUNConn(c)
	default:
		return nil, fmt.Errorf("bench: --transport %q: want udp or tcp", t.transport)
	}
	o.closers = append(o.closers, func() { _ = base.Close() })
	// Closing the socket is the only way to interrupt pion's blocking transactions.
	stop := callback.AfterFunc(ctx, func() { _ = base.Close() })
	defer stop()

	user, pass := restCredentials(t.secret, t.user+strconv.Itoa(int(id)), time.Now().Add(24*time.Hour))
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: t.server,
		TURNServerAddr: t.server,
		Username:       user,
		Password:       pass,
		Realm:          t.realm,
		Software:       "rtcd-bench",
		Conn:           base,
		LoggerFactory:  quietLogs(),
	})
	if err != nil {
		return nil, fmt.Errorf("bench: turn client: %w", err)
	}
	o.closers = append(o.closers, c.Close)
	if err := c.Listen(); err != nil {
		return nil, fmt.Errorf("bench: turn client listen: %w", err)
	}
	relayConn, err := c.Allocate()
	if err != nil {
		return nil, fmt.Errorf("bench: allocate on %s/%s: %w", t.server, t.transport, err)
	}
	// Close sends Refresh(lifetime 0) so the server frees the allocation now.
	o.closers = append(o.closers, func() { _ = relayConn.Close() })
	o.conn = relayConn
	if err := c.CreatePermission(peer); err != nil {
		return nil, fmt.Errorf("bench: create permission for %s: %w", peer, err)
	}
	if err := probe(ctx, o.flow, size, timeout); err != nil {
		return nil, fmt.Errorf("bench: relay to echo peer %s via %s: %w", peer, t.server, err)
	}
	ok = true
	return o, nil
}

// dialUDP opens a plain loopback socket to the echo peer: the no-relay reference.
func dialUDP(ctx context.Context, id uint32, peer *net.UDPAddr, size int, timeout time.Duration) (*openFlow, error) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: client socket: %w", err)
	}
	uc := pc.(*net.UDPConn)
	_ = uc.SetReadBuffer(sockBuf)
	_ = uc.SetWriteBuffer(sockBuf)
	o := &openFlow{flow: flow{id: id, conn: pc, peer: peer}, closers: []func(){func() { _ = pc.Close() }}}
	if err := probe(ctx, o.flow, size, timeout); err != nil {
		o.close()
		return nil, fmt.Errorf("bench: udp echo %s: %w", peer, err)
	}
	return o, nil
}

// openFlows sets up n flows to target with bounded concurrency; on any error it
// closes those already open.
func openFlows(ctx context.Context, t relayTarget, n int, peer *net.UDPAddr, size int,
	timeout time.Duration, pionClient bool,
) ([]*openFlow, error) {
	flows := make([]*openFlow, n)
	errs := make([]error, n)
	sem := make(chan struct{}, setupConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			switch {
			case t.server == "" && pionClient:
				flows[i], errs[i] = dialUDP(ctx, uint32(i), peer, size, timeout)
			case t.server == "":
				flows[i], errs[i] = dialRawUDP(ctx, uint32(i), peer, size, timeout)
			case t.transport == "udp" && !pionClient:
				flows[i], errs[i] = dialRawRelay(ctx, t, uint32(i), peer, size, timeout)
			default:
				flows[i], errs[i] = dialRelay(ctx, t, uint32(i), peer, size, timeout)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeFlows(flows)
		return nil, err
	}
	return flows, nil
}

func closeFlows(flows []*openFlow) {
	var wg sync.WaitGroup
	for _, f := range flows {
		if f == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.close()
		}()
	}
	wg.Wait()
}

// runLoad runs one row: n clients against t with cfg, and measures the server.
func runLoad(ctx context.Context, t relayTarget, n int, peer *net.UDPAddr, cfg loadConfig,
	setupTimeout time.Duration,
) (LoadResult, error) {
	res := LoadResult{Target: t.label, Transport: t.transport, Clients: n, Size: cfg.size,
		Rate: cfg.rate, Seconds: cfg.duration.Seconds()}
	if t.server == "" {
		res.Transport = ""
	}
	if cfg.rate == 0 {
		res.Window = cfg.window
	}
	before, err := readProc(t.pid)
	if err != nil {
		return res, err
	}
	setupStart := time.Now()
	open, err := openFlows(ctx, t, n, peer, cfg.size, setupTimeout, cfg.pionClient)
	if err != nil {
		return res, err
	}
	defer closeFlows(open)
	res.SetupSeconds = time.Since(setupStart).Seconds()

	flows := make([]flow, n)
	for i, o := range open {
		flows[i] = o.flow
	}
	tl := timeline{epoch: time.Now(), measFrom: cfg.warmup, measTo: cfg.warmup + cfg.duration}

	var (
		samples [2]procSample
		hosts   [2]hostCPU
		selfs   [2]procSample
		perr    error
		pwg     sync.WaitGroup
	)
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		for i, at := range []time.Duration{tl.measFrom, tl.measTo} {
			if !sleepCtx(ctx, at-tl.now()) {
				perr = ctx.Err()
				return
			}
			if samples[i], perr = readProc(t.pid); perr != nil {
				return
			}
			if hosts[i], perr = readHostCPU(); perr != nil {
				return
			}
			if selfs[i], perr = readProc(os.Getpid()); perr != nil {
				return
			}
		}
	}()
	total := runFlows(ctx, flows, cfg, tl)
	pwg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if perr != nil {
		return res, perr
	}
	res.fill(&total, cfg)
	dgrams := total.sentAll + total.recvAll
	srvCPU := samples[1].CPU - samples[0].CPU
	res.Host = hostUsage(hosts, selfs, srvCPU, dgrams, cfg.duration)
	if t.pid != 0 {
		after, err := readProc(t.pid)
		if err != nil {
			return res, err
		}
		cpu := samples[1].CPU - samples[0].CPU
		dgrams := total.sentAll + total.recvAll
		res.Server = &ServerUsage{
			PID:          t.pid,
			CPUSeconds:   cpu.Seconds(),
			Datagrams:    dgrams,
			CPUPercent:   100 * cpu.Seconds() / cfg.duration.Seconds(),
			RSSBeforeKiB: before.RSSKiB,
			RSSAfterKiB:  after.RSSKiB,
		}
		if dgrams > 0 {
			res.Server.CPUMicrosPerDatagram = float64(cpu.Microseconds()) / float64(dgrams)
		}
	}
	return res, nil
}

// sleepCtx sleeps for d or until ctx ends; it reports whether the sleep completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var netSplitHostPort = net.SplitHostPort

// hostUsage is the host's and bench's CPU between two samples, per relayed
// datagram (each echo is two).
func hostUsage(hosts [2]hostCPU, selfs [2]procSample, srvCPU time.Duration, dgrams uint64, window time.Duration) *HostUsage {
	busy := hosts[1].Busy - hosts[0].Busy
	self := selfs[1].CPU - selfs[0].CPU
	h := &HostUsage{CPUs: runtime.NumCPU(),
		BusyPercent:      100 * busy.Seconds() / window.Seconds(),
		GeneratorPercent: 100 * self.Seconds() / window.Seconds()}
	if dgrams > 0 {
		h.NotGeneratorMicrosPerDgram = float64((busy - self).Microseconds()) / float64(dgrams)
		h.AllMicrosPerDgram = float64(busy.Microseconds()) / float64(dgrams)
		h.OursMicrosPerDgram = float64((srvCPU + self).Microseconds()) / float64(dgrams)
	}
	return h
}
