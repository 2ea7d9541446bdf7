package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/signal/proto"
)

// SignalResult is one signal row: connect, idle memory, then relayed messages.
type SignalResult struct {
	Clients         int     `json:"clients"`
	Rooms           int     `json:"rooms"`
	Connected       int     `json:"connected"`
	ConnectFailures int     `json:"connect_failures"`
	ConnectSeconds  float64 `json:"connect_seconds"`
	// ConnectsPerSec counts connect+hello+join completions over the connect phase.
	ConnectsPerSec float64 `json:"connects_per_sec"`
	ConnectP50us   float64 `json:"connect_p50_us"`
	ConnectP99us   float64 `json:"connect_p99_us"`

	TargetRate  float64 `json:"target_rate"` // messages/s, all clients together
	Seconds     float64 `json:"seconds"`
	Sent        uint64  `json:"sent"`
	Received    uint64  `json:"received"`
	SentPerSec  float64 `json:"sent_per_sec"` // below TargetRate when the load client could not keep up
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	LossPct     float64 `json:"loss_pct"`
	LatP50us    float64 `json:"latency_p50_us"`
	LatP99us    float64 `json:"latency_p99_us"`
	LatMaxus    float64 `json:"latency_max_us"`
	Disconnects uint64  `json:"disconnects"`
	// ServerMsgRate is the server's per-connection messagesPerSecond from its
	// hello; a per-client rate above it measures the rate limiter, not the hub.
	ServerMsgRate int               `json:"server_msgs_per_sec_limit,omitempty"`
	Errors        map[string]uint64 `json:"errors,omitempty"`
	Server        *SignalServer     `json:"server,omitempty"`
}

// SignalServer is the hub's memory and CPU as seen from /proc.
type SignalServer struct {
	PID             int     `json:"pid"`
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSIdleKiB      int64   `json:"rss_idle_kib"`
	KiBPerIdleConn  float64 `json:"kib_per_idle_conn"`
	CPUPercent      float64 `json:"cpu_percent"`
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg"`
}

// signalConfig is everything one signal row needs.
type signalConfig struct {
	url          *url.URL
	origin       string
	token        string
	clients      int
	rooms        int
	rate         float64
	size         int
	warmup       time.Duration
	duration     time.Duration
	drain        time.Duration
	settle       time.Duration
	concurrency  int
	perIP        int
	setupTimeout time.Duration
	pid          int
}

// wsClient is one bench WebSocket client. The connecting goroutine, then the
// sender that owns it, are its only writers; reader is its only reader.
type wsClient struct {
	idx    int
	conn   *websocket.Conn
	peerID string
	room   string
	dead   atomic.Bool

	mu    sync.Mutex // guards peers
	peers []string   // others in the room, in join order

	next int // round-robin over peers; owned by the sender goroutine
}

func (c *wsClient) addPeer(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		if p == id {
			return
		}
	}
	c.peers = append(c.peers, id)
}

func (c *wsClient) removePeer(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.peers {
		if p == id {
			c.peers = append(c.peers[:i], c.peers[i+1:]...)
			return
		}
	}
}

func (c *wsClient) pickPeer() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.peers) == 0 {
		return "", false
	}
	c.next++
	return c.peers[c.next%len(c.peers)], true
}

// sigData is what bench puts in a signal's data: the send time and padding.
type sigData struct {
	T int64  `json:"t"` // ns since the run's epoch
	P string `json:"p"`
}

// signalStats collects what readers see; sharded so 10k readers do not contend.
type signalStats struct {
	tl     atomic.Pointer[timeline] // nil until the message phase starts
	shards [16]struct {
		mu   sync.Mutex
		hist Histogram
		recv uint64 // signals sent inside the window that arrived
	}
	errMu       sync.Mutex
	errs        map[string]uint64
	disconnects atomic.Uint64
	limit       atomic.Int64
}

func (s *signalStats) addErr(key string) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.errs == nil {
		s.errs = map[string]uint64{}
	}
	s.errs[key]++
}

// sourceIP spreads clients over 127.1.0.0/16 so a per-IP connection cap on the
// server (Signal.MaxConnsPerIP) limits each source, not the benchmark.
func sourceIP(idx, perIP int) net.IP {
	n := idx/perIP + 1
	return net.IPv4(127, 1, byte(n>>8), byte(n))
}

// dial connects client idx, says hello and joins its room. It returns the
// client with its peer list filled from joined.
func dialSignal(ctx context.Context, cfg signalConfig, idx int, stats *signalStats) (*wsClient, error) {
	room := "bench-" + strconv.Itoa(idx%cfg.rooms)
	conn, h, m, err := dialJoin(ctx, wsJoin{url: cfg.url, origin: cfg.origin, token: cfg.token,
		name: "bench" + strconv.Itoa(idx), room: room, source: idx, perIP: cfg.perIP, timeout: cfg.setupTimeout})
	if err != nil {
		return nil, err
	}
	c := &wsClient{idx: idx, conn: conn, room: room, peerID: h.PeerID}
	stats.limit.Store(int64(h.Limits.MessagesPerSecond))
	for _, p := range m.Peers {
		c.addPeer(p.ID)
	}
	return c, nil
}

// readUntil reads until a message of type want and returns it; an error
// message fails it.
func readUntil(conn *websocket.Conn, want string) ([]byte, error) {
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return nil, err
		}
		var m proto.ServerMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		switch m.Type {
		case want:
			return b, nil
		case proto.TypeError:
			return nil, fmt.Errorf("server error %q", m.Code)
		}
	}
}

// read is a client's reader loop: presence updates, timed signals, errors.
func (c *wsClient) read(stats *signalStats) {
	shard := &stats.shards[c.idx%len(stats.shards)]
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			if !c.dead.Swap(true) {
				stats.disconnects.Add(1)
			}
			return
		}
		var m proto.ServerMessage
		if json.Unmarshal(b, &m) != nil {
			stats.addErr("unparsable message")
			continue
		}
		switch m.Type {
		case proto.TypeSignal:
			var d sigData
			tl := stats.tl.Load()
			if tl == nil || json.Unmarshal(m.Data, &d) != nil {
				continue
			}
			at := tl.now()
			sent := time.Duration(d.T)
			shard.mu.Lock()
			if tl.inWindow(sent) {
				shard.recv++
				shard.hist.Record(at - sent)
			}
			shard.mu.Unlock()
		case proto.TypePeerJoined:
			if m.Peer != nil {
				c.addPeer(m.Peer.ID)
			}
		case proto.TypePeerLeft:
			if m.Peer != nil {
				c.removePeer(m.Peer.ID)
			}
		case proto.TypeError:
			stats.addErr("server error " + m.Code)
		case proto.TypeBye:
			stats.addErr("server bye")
		}
	}
}

// close ends the client with a normal close frame.
func (c *wsClient) close() {
	c.dead.Store(true)
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	_ = c.conn.Close()
}

// signalSenders is the number of goroutines pacing the message phase; each owns
// a fixed subset of clients, so every connection has exactly one writer.
const signalSenders = 32

func runSignalRow(ctx context.Context, cfg signalConfig) (SignalResult, error) {
	res := SignalResult{Clients: cfg.clients, Rooms: cfg.rooms, TargetRate: cfg.rate, Seconds: cfg.duration.Seconds()}
	stats := &signalStats{}
	before, err := readProc(cfg.pid)
	if err != nil {
		return res, err
	}

	// Phase 1: connect + hello + join, cfg.concurrency at a time.
	clients := make([]*wsClient, cfg.clients)
	var readers sync.WaitGroup
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			if c != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.close()
				}()
			}
		}
		wg.Wait()
		readers.Wait()
	}()
	start := time.Now()
	connHist, failures, firstErr := connectAll(ctx, cfg, stats, clients, &readers)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	res.ConnectFailures = failures
	res.Connected = cfg.clients - res.ConnectFailures
	if res.Connected == 0 {
		return res, fmt.Errorf("no client connected: %w", firstErr)
	}
	res.ConnectsPerSec = float64(res.Connected) / res.ConnectSeconds
	res.ConnectP50us = us(connHist.Quantile(0.5))
	res.ConnectP99us = us(connHist.Quantile(0.99))
	res.ServerMsgRate = int(stats.limit.Load())

	// Phase 2: idle memory once presence traffic has settled.
	if !sleepCtx(ctx, cfg.settle) {
		return res, ctx.Err()
	}
	idle, err := readProc(cfg.pid)
	if err != nil {
		return res, err
	}
	if cfg.pid != 0 {
		res.Server = &SignalServer{PID: cfg.pid, RSSBeforeKiB: before.RSSKiB, RSSIdleKiB: idle.RSSKiB,
			KiBPerIdleConn: float64(idle.RSSKiB-before.RSSKiB) / float64(res.Connected)}
	}

	// Phase 3: relayed messages at cfg.rate in total.
	if cfg.rate > 0 {
		if err := runSignalMessages(ctx, cfg, clients, stats, &res); err != nil {
			return res, err
		}
	}
	stats.errMu.Lock()
	res.Errors = stats.errs
	stats.errMu.Unlock()
	res.Disconnects = stats.disconnects.Load()
	return res, nil
}

// connectAll dials clients[i] for every i, cfg.concurrency at a time, and
// starts each one's reader in readers. It returns the connect times, how
// many failed and the first failure.
func connectAll(ctx context.Context, cfg signalConfig, stats *signalStats, clients []*wsClient,
	readers *sync.WaitGroup,
) (connHist Histogram, failures int, firstErr error) {
	var (
		mu sync.Mutex // guards connHist, failures and firstErr
		wg sync.WaitGroup
	)
	idxs := make(chan int)
	for w := 0; w < min(cfg.concurrency, cfg.clients); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local Histogram
			for i := range idxs {
				t0 := time.Now()
				c, err := dialSignal(ctx, cfg, i, stats)
				if err != nil {
					mu.Lock()
					failures++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					stats.addErr("connect: " + trimErr(err))
					continue
				}
				local.Record(time.Since(t0))
				clients[i] = c
				readers.Add(1)
				go func() {
					defer readers.Done()
					c.read(stats)
				}()
			}
			mu.Lock()
			connHist.Merge(&local)
			mu.Unlock()
		}()
	}
	for i := 0; i < cfg.clients && ctx.Err() == nil; i++ {
		idxs <- i
	}
	close(idxs)
	wg.Wait()
	return connHist, failures, firstErr
}

func trimErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "127."); i > 0 { // drop per-connection addresses: keep keys few
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func runSignalMessages(ctx context.Context, cfg signalConfig, clients []*wsClient, stats *signalStats,
	res *SignalResult,
) error {
	tl := timeline{epoch: time.Now(), measFrom: cfg.warmup, measTo: cfg.warmup + cfg.duration}
	stats.tl.Store(&tl)
	pad := strings.Repeat("x", cfg.size)
	var (
		sent    atomic.Uint64
		wg      sync.WaitGroup
		samples [2]procSample
		perr    error
	)
	if cfg.pid != 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples, perr = sampleWindow(ctx, cfg.pid, &tl)
		}()
	}
	senders := min(signalSenders, len(clients))
	interval := time.Duration(float64(time.Second) * float64(senders) / cfg.rate)
	for s := 0; s < senders; s++ {
		var own []*wsClient
		for i := s; i < len(clients); i += senders {
			if clients[i] != nil {
				own = append(own, clients[i])
			}
		}
		if len(own) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := tl.now() + interval*time.Duration(s)/time.Duration(senders)
			sendPaced(ctx, &tl, own, first, interval, pad, stats, &sent)
		}()
	}
	wg.Wait()
	// Wait for late messages, bounded by the drain time.
	deadline := time.Now().Add(cfg.drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if stats.received() >= sent.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	summarizeSignal(res, cfg, stats, sent.Load(), samples)
	return nil
}

// sampleWindow reads pid's CPU at the start and the end of the measured
// window.
func sampleWindow(ctx context.Context, pid int, tl *timeline) ([2]procSample, error) {
	var samples [2]procSample
	for i, at := range []time.Duration{tl.measFrom, tl.measTo} {
		if !sleepCtx(ctx, at-tl.now()) {
			return samples, nil
		}
		var err error
		if samples[i], err = readProc(pid); err != nil {
			return samples, err
		}
	}
	return samples, nil
}

// sendPaced is one sender: from first on, every interval it sends a timed
// signal from the next live client of own that has a peer (at most one lap),
// until the measured window ends. Messages sent inside the window count in
// sent.
func sendPaced(ctx context.Context, tl *timeline, own []*wsClient, first, interval time.Duration, pad string,
	stats *signalStats, sent *atomic.Uint64,
) {
	next, k := first, 0
	var buf []byte
	for ctx.Err() == nil {
		now := tl.now()
		if now >= tl.measTo {
			return
		}
		if now < next {
			time.Sleep(next - now)
			continue
		}
		if now-next > 100*time.Millisecond {
			next = now
		}
		next += interval
		for tries := 0; tries < len(own); tries++ {
			c := own[k%len(own)]
			k++
			if c.dead.Load() {
				continue
			}
			to, ok := c.pickPeer()
			if !ok {
				continue
			}
			t := tl.now()
			buf = appendSignal(buf[:0], to, t, pad)
			_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := c.conn.WriteMessage(websocket.TextMessage, buf); err != nil {
				if !c.dead.Swap(true) {
					stats.disconnects.Add(1)
				}
				break
			}
			if tl.inWindow(t) {
				sent.Add(1)
			}
			break
		}
	}
}

// summarizeSignal fills res from the readers' histograms and the server's
// CPU over the window.
func summarizeSignal(res *SignalResult, cfg signalConfig, stats *signalStats, sent uint64, samples [2]procSample) {
	var hist Histogram
	for i := range stats.shards {
		sh := &stats.shards[i]
		sh.mu.Lock()
		hist.Merge(&sh.hist)
		sh.mu.Unlock()
	}
	res.Sent, res.Received = sent, stats.received()
	res.MsgsPerSec = float64(res.Received) / cfg.duration.Seconds()
	res.SentPerSec = float64(res.Sent) / cfg.duration.Seconds()
	res.LossPct = lossPct(res.Sent, res.Received)
	res.LatP50us, res.LatP99us, res.LatMaxus = us(hist.Quantile(0.5)), us(hist.Quantile(0.99)), us(hist.Max())
	if res.Server != nil {
		cpu := samples[1].CPU - samples[0].CPU
		res.Server.CPUPercent = 100 * cpu.Seconds() / cfg.duration.Seconds()
		if sent > 0 {
			// A relayed message is read once and written once by the hub: count it once.
			res.Server.CPUMicrosPerMsg = float64(cpu.Microseconds()) / float64(sent)
		}
	}
}

func (s *signalStats) received() uint64 {
	var n uint64
	for i := range s.shards {
		s.shards[i].mu.Lock()
		n += s.shards[i].recv
		s.shards[i].mu.Unlock()
	}
	return n
}

// appendSignal renders a signal message without reflection; peer ids and the
// padding are server- or bench-generated and need no escaping beyond strconv.
func appendSignal(b []byte, to string, t time.Duration, pad string) []byte {
	b = append(b, `{"v":1,"type":"`+proto.TypeSignal+`","to":`...)
	b = strconv.AppendQuote(b, to)
	b = append(b, `,"kind":"`+proto.KindCandidate+`","data":{"t":`...)
	b = strconv.AppendInt(b, int64(t), 10)
	b = append(b, `,"p":"`...)
	b = append(b, pad...)
	b = append(b, `"}}`...)
	return b
}

func runSignalMode(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlagSet("signal", out)
	rawURL := fs.String("url", "", "rtcd WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws (required)")
	origin := fs.String("origin", "", "Origin header to send (omit for a non-browser client)")
	token := fs.String("token", "", "join token for token mode (room claim must allow every bench-N room, e.g. \"*\")")
	clients := fs.String("clients", "100", "client counts, comma separated")
	rooms := fs.Int("rooms", 0, "rooms the clients spread over; 0 = clients/2 (pairs)")
	rate := fs.Float64("rate", 1000, "relayed signal messages/s, all clients together; 0 = connect and idle only")
	size := fs.Int("size", 200, "padding bytes in each signal's data")
	duration := fs.Duration("duration", 10*time.Second, "measured message time per row")
	warmup := fs.Duration("warmup", time.Second, "message traffic before the measured window")
	drain := fs.Duration("drain", time.Second, "wait for late messages after the window")
	settle := fs.Duration("settle", 2*time.Second, "pause after connecting before the idle RSS sample")
	concurrency := fs.Int("concurrency", 64, "connects in flight")
	perIP := fs.Int("per-ip", 16, "clients per loopback source address (keep under Signal.MaxConnsPerIP)")
	setupTimeout := fs.Duration("setup-timeout", 10*time.Second, "per-client connect+hello+join timeout")
	pid := fs.Int("server-pid", 0, "rtcd PID: report RSS per idle connection and CPU per message")
	asJSON := fs.Bool("json", false, "write JSON instead of a table")
	smoke := fs.Bool("smoke", false, "seconds-long run for CI")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *smoke {
		for name, set := range map[string]func(){
			"clients":  func() { *clients = "10" },
			"rate":     func() { *rate = 100 },
			"duration": func() { *duration = time.Second },
			"warmup":   func() { *warmup = 200 * time.Millisecond },
			"drain":    func() { *drain = 200 * time.Millisecond },
			"settle":   func() { *settle = 200 * time.Millisecond },
		} {
			if !isSet(fs, name) {
				set()
			}
		}
	}
	u, err := url.Parse(*rawURL)
	switch {
	case *rawURL == "":
		return errors.New("bench: --url is required")
	case err != nil:
		return fmt.Errorf("bench: --url: %w", err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return fmt.Errorf("bench: --url %q: want ws:// or wss://", *rawURL)
	case u.Host == "":
		return fmt.Errorf("bench: --url %q: no host", *rawURL)
	}
	counts, err := parseCounts(*clients, "clients")
	if err != nil {
		return err
	}
	switch {
	case *rooms < 0 || *rooms > maxClients:
		return fmt.Errorf("bench: --rooms %d: want 0..%d", *rooms, maxClients)
	case *rate < 0 || *rate > 1e6:
		return fmt.Errorf("bench: --rate %g: want 0..1000000", *rate)
	case *size < 0 || *size > 60000:
		return fmt.Errorf("bench: --size %d: want 0..60000", *size)
	case *duration <= 0 || *duration > maxDuration:
		return fmt.Errorf("bench: --duration %s: want >0 and <= %s", *duration, maxDuration)
	case *warmup < 0 || *drain < 0 || *settle < 0 || *warmup > time.Hour || *drain > time.Minute || *settle > time.Hour:
		return errors.New("bench: --warmup/--drain/--settle out of range")
	case *concurrency < 1 || *concurrency > 4096:
		return fmt.Errorf("bench: --concurrency %d: want 1..4096", *concurrency)
	case *perIP < 1:
		return fmt.Errorf("bench: --per-ip %d: want >= 1", *perIP)
	case *setupTimeout <= 0 || *setupTimeout > 5*time.Minute:
		return fmt.Errorf("bench: --setup-timeout %s: want >0 and <= 5m", *setupTimeout)
	case *pid < 0:
		return fmt.Errorf("bench: --server-pid %d: want a PID", *pid)
	}
	if _, err := readProc(*pid); err != nil {
		return err
	}
	var rows []SignalResult
	for _, n := range counts {
		m := *rooms
		if m == 0 {
			m = max(n/2, 1)
		}
		cfg := signalConfig{url: u, origin: *origin, token: *token, clients: n, rooms: min(m, n), rate: *rate,
			size: *size, warmup: *warmup, duration: *duration, drain: *drain, settle: *settle,
			concurrency: *concurrency, perIP: *perIP, setupTimeout: *setupTimeout, pid: *pid}
		r, err := runSignalRow(ctx, cfg)
		if err != nil {
			return fmt.Errorf("bench: signal with %d clients: %w", n, err)
		}
		rows = append(rows, r)
	}
	if *asJSON {
		return writeJSON(out, struct {
			Mode string         `json:"mode"`
			Rows []SignalResult `json:"rows"`
		}{"signal", rows})
	}
	fmt.Fprintf(out, "rtcd bench signal: %s, %s messages/s total, %d-byte padding, %s measured after %s warm-up (load average %s)\n",
		u.Redacted(), fnum(*rate), *size, *duration, *warmup, loadAvg())
	return writeSignalTable(out, rows)
}

func writeSignalTable(out io.Writer, rows []SignalResult) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\trooms\tconnected\tjoins/s\tjoin p99 µs\tsent/s\tmsgs/s\tloss %\tp50 µs\tp99 µs\tmax µs\tdisconn\tKiB/idle conn\tsrv CPU %\tsrv µs/msg\t")
	for _, r := range rows {
		kib, cpu, per := "-", "-", "-"
		if r.Server != nil {
			kib = fmt.Sprintf("%.1f", r.Server.KiBPerIdleConn)
			cpu = fmt.Sprintf("%.0f", r.Server.CPUPercent)
			per = fmt.Sprintf("%.1f", r.Server.CPUMicrosPerMsg)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%.0f\t%s\t%s\t%.2f\t%.0f\t%.0f\t%.0f\t%d\t%s\t%s\t%s\t\n", r.Clients, r.Rooms,
			r.Connected, fnum(r.ConnectsPerSec), r.ConnectP99us, fnum(r.SentPerSec), fnum(r.MsgsPerSec), r.LossPct, r.LatP50us,
			r.LatP99us, r.LatMaxus, r.Disconnects, kib, cpu, per)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	for _, r := range rows {
		if r.ServerMsgRate > 0 && r.TargetRate/float64(max(r.Connected, 1)) > float64(r.ServerMsgRate) {
			fmt.Fprintf(out, "  note: %d clients at %s/s total is above the server's %d messages/s per connection\n",
				r.Clients, fnum(r.TargetRate), r.ServerMsgRate)
		}
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(out, "  %d clients: %d × %s\n", r.Clients, r.Errors[k], k)
		}
	}
	return nil
}
