package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Packet layout of every bench datagram; the rest up to --size is padding.
const (
	pktMagic   = 0x52544342 // "RTCB"
	pktHeader  = 24         // magic(4) flow(4) seq(8) sentNs(8)
	probeBit   = 1 << 63    // seq bit marking set-up probes, ignored by the stats
	maxPktSize = 65000
)

// loadConfig describes the traffic each flow generates.
type loadConfig struct {
	size     int           // datagram payload bytes
	rate     float64       // packets/s per flow; 0 = closed loop
	window   int           // closed loop: packets in flight per flow
	warmup   time.Duration // traffic before the measured window
	duration time.Duration // measured window
	drain    time.Duration // how long to wait for late echoes after the window
	// pionClient relays through pion's TURN client, one datagram per
	// system call, instead of the batched generator (mmsg.go); TCP always
	// uses pion's.
	pionClient bool
}

// timeline is shared by all flows of one run so their windows coincide.
type timeline struct {
	epoch    time.Time // timestamps in packets are ns since epoch (monotonic)
	measFrom time.Duration
	measTo   time.Duration
}

func (tl timeline) now() time.Duration { return time.Since(tl.epoch) }

func (tl timeline) inWindow(t time.Duration) bool { return t >= tl.measFrom && t < tl.measTo }

// flowResult is what one flow observed; merged across flows for the report.
type flowResult struct {
	sent      uint64 // packets sent inside the window
	recv      uint64 // echoes of those packets, whenever they arrived before the drain ended
	sentAll   uint64 // every packet sent while the window was open (for CPU accounting)
	recvAll   uint64 // every echo received while the window was open
	writeErrs uint64
	stalls    uint64 // closed loop: window refilled after no echo for stallTimeout
	rtt       Histogram
}

func (r *flowResult) merge(o *flowResult) {
	r.sent += o.sent
	r.recv += o.recv
	r.sentAll += o.sentAll
	r.recvAll += o.recvAll
	r.writeErrs += o.writeErrs
	r.stalls += o.stalls
	r.rtt.Merge(&o.rtt)
}

// stallTimeout is how long a closed-loop flow waits for any echo before it
// declares its in-flight packets lost and refills the window.
const stallTimeout = 200 * time.Millisecond

// flow is one client's path to the echo peer: a relayed conn or a plain socket.
type flow struct {
	id   uint32
	conn net.PacketConn
	peer net.Addr
	// raw is set for flows of the batched generator (mmsg.go): conn is raw,
	// and the closed loop sends and receives with sendmmsg/recvmmsg.
	raw *chanConn
}

func putHeader(b []byte, flowID uint32, seq uint64, sent time.Duration) {
	binary.BigEndian.PutUint32(b[0:], pktMagic)
	binary.BigEndian.PutUint32(b[4:], flowID)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(sent))
}

func parseHeader(b []byte) (flowID uint32, seq uint64, sent time.Duration, ok bool) {
	if len(b) < pktHeader || binary.BigEndian.Uint32(b[0:]) != pktMagic {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint64(b[8:]),
		time.Duration(binary.BigEndian.Uint64(b[16:])), true
}

// probe sends marked datagrams until one comes back, so that the allocation,
// permission and channel binding are in place before the timed run.
func probe(ctx context.Context, f flow, size int, timeout time.Duration) error {
	buf := make([]byte, size)
	rbuf := make([]byte, maxPktSize+100)
	deadline := time.Now().Add(timeout)
	defer func() { _ = f.conn.SetReadDeadline(time.Time{}) }()
	for seq := uint64(0); time.Now().Before(deadline); seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		putHeader(buf, f.id, probeBit|seq, 0)
		if _, err := f.conn.WriteTo(buf, f.peer); err != nil {
			return err
		}
		_ = f.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, _, err := f.conn.ReadFrom(rbuf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return err
			}
			if id, s, _, ok := parseHeader(rbuf[:n]); ok && id == f.id && s&probeBit != 0 {
				return nil
			}
		}
	}
	return errors.New("bench: no echo through the path before the set-up timeout")
}

// runFlows drives every flow with cfg until the window closes plus the drain, and
// returns the merged result. It returns early, with what it has, if ctx ends.
func runFlows(ctx context.Context, flows []flow, cfg loadConfig, tl timeline) flowResult {
	results := make([]flowResult, len(flows))
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runFlow(ctx, flows[i], cfg, tl, i, len(flows), &results[i])
		}()
	}
	wg.Wait()
	var total flowResult
	for i := range results {
		total.merge(&results[i])
	}
	return total
}

func runFlow(ctx context.Context, f flow, cfg loadConfig, tl timeline, idx, n int, res *flowResult) {
	tokens := make(chan struct{}, max(cfg.window, 1))
	for i := 0; i < cap(tokens); i++ {
		tokens <- struct{}{}
	}
	var (
		mu       sync.Mutex // guards sentDone and sentWin once the sender is finished
		sentDone bool
		sentWin  uint64
	)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		receive(ctx, f, cfg, tl, tokens, res, func() (bool, uint64) {
			mu.Lock()
			defer mu.Unlock()
			return sentDone, sentWin
		})
	}()

	var local flowResult // sender-owned counters, published at the end
	buf := make([]byte, cfg.size)
	var seq uint64
	send := func() {
		t := tl.now()
		putHeader(buf, f.id, seq, t)
		seq++
		if _, err := f.conn.WriteTo(buf, f.peer); err != nil {
			local.writeErrs++
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond) // don't spin on a persistent error
			return
		}
		if tl.inWindow(t) {
			local.sent++
			local.sentAll++
		}
	}

	if cfg.rate > 0 {
		interval := time.Duration(float64(time.Second) / cfg.rate)
		// Stagger flows across one interval so they don't send in lockstep.
		next := tl.now() + interval*time.Duration(idx)/time.Duration(max(n, 1))
		for ctx.Err() == nil {
			now := tl.now()
			if now >= tl.measTo {
				break
			}
			if now < next {
				time.Sleep(next - now)
				continue
			}
			if now-next > 100*time.Millisecond { // fell far behind: don't burst to catch up
				next = now
			}
			send()
			next += interval
		}
	} else {
		timer := time.NewTimer(stallTimeout)
		timer.Stop()
		// token waits for one send token; false after a stall (the window
		// was refilled) or when ctx ends.
		token := func() bool {
			select {
			case <-tokens:
				return true
			default:
			}
			timer.Reset(stallTimeout)
			select {
			case <-tokens:
				timer.Stop()
				return true
			case <-timer.C:
				local.stalls++
				for i := 0; i < cap(tokens); i++ {
					select {
					case tokens <- struct{}{}:
					default:
					}
				}
			case <-ctx.Done():
				timer.Stop()
			}
			return false
		}
		var bs *batchSender
		if f.raw != nil {
			bs = newBatchSender(f.raw, cfg.size)
		}
		for ctx.Err() == nil && tl.now() < tl.measTo {
			if !token() {
				continue
			}
			if bs == nil {
				send()
				continue
			}
			k := 1 // and every token already back
		more:
			for k < mmsgBatch {
				select {
				case <-tokens:
					k++
				default:
					break more
				}
			}
			t := tl.now()
			n, err := bs.send(f.id, &seq, t, k, cfg.size)
			if tl.inWindow(t) {
				local.sent += uint64(n)
				local.sentAll += uint64(n)
			}
			if err != nil {
				local.writeErrs++
				if isClosed(err) {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	mu.Lock()
	sentDone, sentWin = true, local.sent
	mu.Unlock()
	<-recvDone
	res.sent, res.sentAll = local.sent, local.sentAll
	res.writeErrs, res.stalls = local.writeErrs, local.stalls
}

// receive counts echoes until the window has closed and either every in-window
// packet has come back or the drain time has passed.
func receive(ctx context.Context, f flow, cfg loadConfig, tl timeline, tokens chan struct{},
	res *flowResult, senderState func() (done bool, sentWin uint64),
) {
	buf := make([]byte, maxPktSize+100)
	end := tl.measTo + cfg.drain
	var lastDeadline time.Duration = -time.Hour
	got := func(p []byte) {
		id, seq, sent, ok := parseHeader(p)
		if !ok || id != f.id || seq&probeBit != 0 {
			return
		}
		select {
		case tokens <- struct{}{}:
		default:
		}
		at := tl.now()
		if tl.inWindow(at) {
			res.recvAll++
		}
		if tl.inWindow(sent) {
			res.recv++
			res.rtt.Record(at - sent)
		}
	}
	var br *batchReceiver
	if f.raw != nil {
		br = newBatchReceiver(f.raw)
	}
	for {
		now := tl.now()
		if now >= end || ctx.Err() != nil {
			return
		}
		if now >= tl.measTo {
			if done, sentWin := senderState(); done && res.recv >= sentWin {
				return
			}
		}
		if now-lastDeadline > 50*time.Millisecond {
			_ = f.conn.SetReadDeadline(tl.epoch.Add(now + 100*time.Millisecond))
			lastDeadline = now
		}
		var err error
		if br != nil {
			err = br.read(got)
		} else {
			var n int
			if n, _, err = f.conn.ReadFrom(buf); err == nil {
				got(buf[:n])
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				lastDeadline = -time.Hour
				continue
			}
			return // closed or broken: report what we have
		}
	}
}
