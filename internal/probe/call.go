package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rtcd/rtcd/client"
)

// checkCall places a relay-only call between two probe peers in one room
// and exchanges checksummed data both ways.
func (r *runner) checkCall(ctx context.Context) (string, error) {
	var peers [2]*client.Client
	var traceMu sync.Mutex // both peers write to one Options.Trace
	for i := range peers {
		c, err := client.Dial(ctx, client.Config{
			URL: r.tg.wsURL, Name: fmt.Sprintf("rtcd-probe-%d", i), Token: r.opts.Token, Origin: r.opts.Origin,
			RelayOnly: true, DialTimeout: r.opts.CheckTimeout, TLSConfig: r.tlsConfig(),
			Logf: r.traceTo(&traceMu, fmt.Sprintf("probe peer %d: ", i)),
		})
		if err != nil {
			return "", fmt.Errorf("probe peer %d: %w", i, err)
		}
		defer c.Close()
		if _, err := c.Join(ctx, r.opts.Room); err != nil {
			return "", fmt.Errorf("probe peer %d: %w", i, err)
		}
		peers[i] = c
	}
	const messages = 20
	type result struct {
		res client.CallResult
		err error
	}
	out := make(chan result, 2)
	for _, c := range peers {
		go func() {
			res, err := client.RunCall(ctx, c, client.CallOptions{Messages: messages, Size: 512, Pings: 3})
			out <- result{res, err}
		}()
	}
	var first client.CallResult
	var errs []error
	for i := 0; i < 2; i++ {
		o := <-out
		if o.err != nil {
			errs = append(errs, o.err)
		} else if i == 0 || first.Peer == "" {
			first = o.res
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return fmt.Sprintf("connected in %s over %s; %d messages checked each way; round trip %s",
		first.Connected.Round(time.Millisecond), first.Path.Kind(), messages, first.DataRTT.Round(100*time.Microsecond)), nil
}

// traceTo returns a client.Config.Logf writing to Options.Trace under mu,
// or nil without a trace.
func (r *runner) traceTo(mu *sync.Mutex, prefix string) func(string, ...any) {
	w := r.opts.Trace
	if w == nil {
		return nil
	}
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%s %s"+format+"\n", append([]any{time.Now().Format("15:04:05.000"), prefix}, args...)...)
	}
}
