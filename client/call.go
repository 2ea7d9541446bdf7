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
	frameData = 'D' // followed by a Seal message
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
	start := time.Now()
	res := CallResult{Peer: opts.Peer}
	seen := make(map[uint64]bool, opts.Messages)
	var rtts []time.Duration
	var (
		open, sentAll, sentDone, theirDone bool
	)
	sendErr := make(chan error, 1)
	sentCh := make(chan int, 1)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// The sender goroutine ends before RunCall returns, whatever the outcome.
	var sender sync.WaitGroup
	stopSend := make(chan struct{})
	defer func() { close(stopSend); sender.Wait() }()

	enoughRTP := func() bool { return opts.MinRTP == 0 || res.Media.PacketsReceived >= opts.MinRTP }
	finished := func() bool { return sentDone && theirDone && enoughRTP() }
	for {
		if open {
			if m, err := c.Media(res.Peer); err == nil {
				res.Media = m
			}
		}
		// "Done" means everything of ours is through, RTP included: the peer
		// leaves soon after it hears it, so nothing may still be awaited.
		if open && sentAll && !sentDone && res.Received == opts.Messages && len(rtts) >= opts.Pings && enoughRTP() {
			if err := c.Send(res.Peer, []byte{frameDone}); err != nil {
				return res, err
			}
			sentDone = true
		}
		if finished() {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("client: call with %q: %w (open=%v sent=%d/%d received=%d/%d pings=%d rtp=%d peerDone=%v)",
				res.Peer, ctx.Err(), open, res.Sent, opts.Messages, res.Received, opts.Messages, len(rtts),
				res.Media.PacketsReceived, theirDone)
		case err := <-sendErr:
			return res, err
		case n := <-sentCh:
			res.Sent, sentAll = n, true
		case <-tick.C:
			// Ping once the bulk data is through, so the round trip is not
			// measured behind a queue of messages.
			if open && sentAll && res.Received == opts.Messages && len(rtts) < opts.Pings {
				ping := make([]byte, 9)
				ping[0] = framePing
				binary.BigEndian.PutUint64(ping[1:], uint64(time.Since(start)))
				_ = c.Send(res.Peer, ping)
			}
		case ev, ok := <-c.Events():
			if !ok {
				return res, ErrClosed
			}
			if opts.Logf != nil && ev.Kind != EventData {
				opts.Logf("%s event %s peer=%s state=%s err=%v", time.Since(start).Round(time.Millisecond), ev.Kind, ev.Peer, ev.State, ev.Err)
			}
			if res.Peer != "" && ev.Peer != "" && ev.Peer != res.Peer {
				continue
			}
			switch ev.Kind {
			case EventConnected:
				res.Peer = ev.Peer
				if res.Connected == 0 {
					res.Connected = time.Since(start)
				}
			case EventDataOpen:
				res.Peer = ev.Peer
				if open {
					continue
				}
				open = true
				sender.Add(1)
				go func(peerID string) {
					defer sender.Done()
					for i := 0; i < opts.Messages; i++ {
						select {
						case <-stopSend:
							return
						default:
						}
						msg := append([]byte{frameData}, seal(uint64(i), opts.Size)...)
						if err := c.Send(peerID, msg); err != nil {
							sendErr <- err
							return
						}
					}
					sentCh <- opts.Messages
				}(ev.Peer)
			case EventData:
				if len(ev.Data) == 0 {
					continue
				}
				switch ev.Data[0] {
				case frameData:
					seq, err := openSealed(ev.Data[1:])
					if err != nil {
						return res, fmt.Errorf("client: message %d from %s: %w", res.Received, ev.Peer, err)
					}
					if seen[seq] || seq >= uint64(opts.Messages) {
						return res, fmt.Errorf("client: duplicate or unexpected message seq %d from %s", seq, ev.Peer)
					}
					seen[seq] = true
					res.Received++
				case framePing:
					pong := append([]byte(nil), ev.Data...)
					pong[0] = framePong
					_ = c.Send(ev.Peer, pong)
				case framePong:
					if len(ev.Data) == 9 {
						sent := time.Duration(binary.BigEndian.Uint64(ev.Data[1:]))
						rtts = append(rtts, time.Since(start)-sent)
					}
				case frameDone:
					theirDone = true
				}
			case EventPeerLeft:
				if ev.Peer == res.Peer && !finished() {
					return res, fmt.Errorf("client: peer %s left during the call", ev.Peer)
				}
			case EventClosed:
				return res, fmt.Errorf("client: signaling closed: %w", ev.Err)
			}
		}
	}
	if len(rtts) > 0 {
		sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
		res.DataRTT = rtts[len(rtts)/2]
	}
	path, err := c.Path(res.Peer)
	if err != nil && !errors.Is(err, ErrNoPath) {
		return res, err
	}
	res.Path = path
	res.Duration = time.Since(start)
	// Give our final "done" time to reach the peer before the caller closes.
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
	}
	return res, nil
}
