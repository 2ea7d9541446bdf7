package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// CallOptions say how much RunCall exchanges with the other peer.
type CallOptions struct {
	// Peer is the remote peer to talk to; empty takes the first that connects.
	Peer string
	// Messages is how many checksummed data messages each side sends.
	Messages int
	// Size is the random payload size of each message in bytes.
	Size int
	// Pings is how many data-channel round trips to time (default 5).
	Pings int
	// MinRTP is how many RTP packets must arrive from the peer (0: none).
	MinRTP uint64
	// Logf, when set, receives every event except data (e.g. t.Logf).
	Logf func(format string, args ...any)
}

// CallResult is what one side of RunCall saw.
type CallResult struct {
	Peer string
	Path PathInfo
	// Connected is from RunCall's start to the PeerConnection being connected.
	Connected time.Duration
	Sent      int
	Received  int
	// DataRTT is the median round trip of data-channel pings.
	DataRTT  time.Duration
	Media    MediaStats
	Duration time.Duration
}

// Message framing used by RunCall on the data channel.
const (
	frameData = 'D' // followed by a sealed message (checksum.go)
	framePing = 'P' // followed by 8 bytes of sender clock
	framePong = 'Q' // echo of a ping's clock
	frameDone = 'F' // sender has sent everything and received everything
)

// RunCall drives one side of a test call: it waits until a peer is
// connected and its data channel open, sends opts.Messages checksummed
// messages while verifying every message received (sequence numbers must be
// complete and unique), times data-channel pings, waits for opts.MinRTP RTP
// packets, and finishes once both sides said they are done. Both peers run
// it at the same time. It consumes c.Events until it returns.
func RunCall(ctx context.Context, c *Client, opts CallOptions) (CallResult, error) {
	if opts.Pings <= 0 {
		opts.Pings = 5
	}
	tc := &testCall{c: c, opts: opts, start: time.Now(), res: CallResult{Peer: opts.Peer},
		seen: make(map[uint64]bool, opts.Messages), sendErr: make(chan error, 1), sentCh: make(chan int, 1),
		stopSend: make(chan struct{})}
	// The sender goroutine ends before RunCall returns, whatever the outcome.
	defer func() { close(tc.stopSend); tc.sender.Wait() }()
	if err := tc.run(ctx); err != nil {
		return tc.res, err
	}
	return tc.finish(ctx)
}

// testCall is the state of one side of RunCall, owned by its loop.
type testCall struct {
	c     *Client
	opts  CallOptions
	start time.Time
	res   CallResult
	seen  map[uint64]bool // sequence numbers received
	rtts  []time.Duration

	open, sentAll, sentDone, theirDone bool

	sendErr  chan error // the sender failed
	sentCh   chan int   // the sender sent everything
	sender   sync.WaitGroup
	stopSend chan struct{}
}

func (tc *testCall) enoughRTP() bool {
	return tc.opts.MinRTP == 0 || tc.res.Media.PacketsReceived >= tc.opts.MinRTP
}

func (tc *testCall) finished() bool { return tc.sentDone && tc.theirDone && tc.enoughRTP() }

// run loops over events and ticks until both sides are done.
func (tc *testCall) run(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if tc.open {
			if m, err := tc.c.Media(tc.res.Peer); err == nil {
				tc.res.Media = m
			}
		}
		if err := tc.maybeDone(); err != nil {
			return err
		}
		if tc.finished() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("client: call with %q: %w (open=%v sent=%d/%d received=%d/%d pings=%d rtp=%d peerDone=%v)",
				tc.res.Peer, ctx.Err(), tc.open, tc.res.Sent, tc.opts.Messages, tc.res.Received, tc.opts.Messages,
				len(tc.rtts), tc.res.Media.PacketsReceived, tc.theirDone)
		case err := <-tc.sendErr:
			return err
		case n := <-tc.sentCh:
			tc.res.Sent, tc.sentAll = n, true
		case <-tick.C:
			tc.ping()
		case ev, ok := <-tc.c.Events():
			if !ok {
				return ErrClosed
			}
			if err := tc.onEvent(ev); err != nil {
				return err
			}
		}
	}
}

// maybeDone tells the peer we are done once everything of ours is through,
// RTP included: the peer leaves soon after it hears it, so nothing may still
// be awaited.
func (tc *testCall) maybeDone() error {
	if !tc.open || !tc.sentAll || tc.sentDone || tc.res.Received != tc.opts.Messages || len(tc.rtts) < tc.opts.Pings || !tc.enoughRTP() {
		return nil
	}
	if err := tc.c.Send(tc.res.Peer, []byte{frameDone}); err != nil {
		return err
	}
	tc.sentDone = true
	return nil
}

// ping times a data-channel round trip once the bulk data is through, so the
// round trip is not measured behind a queue of messages.
func (tc *testCall) ping() {
	if tc.open && tc.sentAll && tc.res.Received == tc.opts.Messages && len(tc.rtts) < tc.opts.Pings {
		ping := make([]byte, 9)
		ping[0] = framePing
		binary.BigEndian.PutUint64(ping[1:], uint64(time.Since(tc.start)))
		_ = tc.c.Send(tc.res.Peer, ping)
	}
}

func (tc *testCall) onEvent(ev Event) error {
	if tc.opts.Logf != nil && ev.Kind != EventData {
		tc.opts.Logf("%s event %s peer=%s state=%s err=%v", time.Since(tc.start).Round(time.Millisecond), ev.Kind, ev.Peer, ev.State, ev.Err)
	}
	if tc.res.Peer != "" && ev.Peer != "" && ev.Peer != tc.res.Peer {
		return nil
	}
	switch ev.Kind {
	case EventConnected:
		tc.res.Peer = ev.Peer
		if tc.res.Connected == 0 {
			tc.res.Connected = time.Since(tc.start)
		}
	case EventDataOpen:
		tc.res.Peer = ev.Peer
		if !tc.open {
			tc.open = true
			tc.startSender(ev.Peer)
		}
	case EventData:
		return tc.onData(ev)
	case EventPeerLeft:
		if ev.Peer != tc.res.Peer || tc.finished() {
			break
		}
		if tc.sentDone {
			// Everything of ours is through. The peer leaves once it has
			// heard our done, and its own done on the data channel can
			// arrive after its leave on the signaling socket (a lost SCTP
			// packet waits for a retransmission): the call is complete.
			tc.theirDone = true
			break
		}
		return fmt.Errorf("client: peer %s left during the call", ev.Peer)
	case EventClosed:
		return fmt.Errorf("client: signaling closed: %w", ev.Err)
	}
	return nil
}

// startSender sends the checksummed messages from a goroutine, so that a
// full data channel does not stop the loop from reading.
func (tc *testCall) startSender(peerID string) {
	tc.sender.Add(1)
	go func() {
		defer tc.sender.Done()
		for i := 0; i < tc.opts.Messages; i++ {
			select {
			case <-tc.stopSend:
				return
			default:
			}
			msg := append([]byte{frameData}, seal(uint64(i), tc.opts.Size)...)
			if err := tc.c.Send(peerID, msg); err != nil {
				tc.sendErr <- err
				return
			}
		}
		tc.sentCh <- tc.opts.Messages
	}()
}

func (tc *testCall) onData(ev Event) error {
	if len(ev.Data) == 0 {
		return nil
	}
	switch ev.Data[0] {
	case frameData:
		seq, err := openSealed(ev.Data[1:])
		if err != nil {
			return fmt.Errorf("client: message %d from %s: %w", tc.res.Received, ev.Peer, err)
		}
		if tc.seen[seq] || seq >= uint64(tc.opts.Messages) {
			return fmt.Errorf("client: duplicate or unexpected message seq %d from %s", seq, ev.Peer)
		}
		tc.seen[seq] = true
		tc.res.Received++
	case framePing:
		pong := append([]byte(nil), ev.Data...)
		pong[0] = framePong
		_ = tc.c.Send(ev.Peer, pong)
	case framePong:
		if len(ev.Data) == 9 {
			sent := time.Duration(binary.BigEndian.Uint64(ev.Data[1:]))
			tc.rtts = append(tc.rtts, time.Since(tc.start)-sent)
		}
	case frameDone:
		tc.theirDone = true
	}
	return nil
}

// finish fills in the round trip and the path, then gives our final "done"
// time to reach the peer before the caller closes.
func (tc *testCall) finish(ctx context.Context) (CallResult, error) {
	res := tc.res
	if len(tc.rtts) > 0 {
		sort.Slice(tc.rtts, func(i, j int) bool { return tc.rtts[i] < tc.rtts[j] })
		res.DataRTT = tc.rtts[len(tc.rtts)/2]
	}
	path, err := tc.c.Path(res.Peer)
	if err != nil && !errors.Is(err, ErrNoPath) {
		return res, err
	}
	res.Path = path
	res.Duration = time.Since(tc.start)
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
	}
	return res, nil
}
