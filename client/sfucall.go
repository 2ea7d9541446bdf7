package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// SFUCallOptions configure RunSFUCall.
type SFUCallOptions struct {
	// MinRTP is how many RTP packets must arrive from the media server.
	MinRTP uint64
	// Tracks is how many remote tracks must arrive (one per other
	// participant's video for Go clients).
	Tracks int
}

// SFUCallResult is what RunSFUCall saw.
type SFUCallResult struct {
	Connected time.Duration // from RunSFUCall to the media server connection's "connected"
	Path      PathInfo      // the selected pair to the media server
	Media     MediaStats    // everything received from it
}

// RunSFUCall waits, in a room whose media goes through the media server
// (MediaMode is proto.MediaSFU), until the connection to the server is up
// and the others' media arrive through it, or ctx ends. It reads Events.
func RunSFUCall(ctx context.Context, c *Client, opts SFUCallOptions) (SFUCallResult, error) {
	var res SFUCallResult
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	connected := false
	for {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("client: media server call (connected %v, %d RTP packets on %d tracks): %w",
				connected, res.Media.PacketsReceived, res.Media.Tracks, ctx.Err())
		case ev, ok := <-c.Events():
			if !ok || ev.Kind == EventClosed {
				return res, fmt.Errorf("client: media server call: %w", errors.Join(ErrClosed, ev.Err))
			}
			if ev.Kind == EventConnected && ev.Peer == proto.SFUPeer && !connected {
				connected, res.Connected = true, time.Since(start)
			}
			continue
		case <-tick.C:
		}
		if !connected {
			continue
		}
		m, err := c.Media(proto.SFUPeer)
		if err != nil {
			return res, fmt.Errorf("client: media server call: %w", err)
		}
		res.Media = m
		if m.PacketsReceived >= opts.MinRTP && m.Tracks >= opts.Tracks {
			res.Path, err = c.Path(proto.SFUPeer)
			return res, err
		}
	}
}
