package client

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNothingAfterClose places calls and closes both clients, with a Logf
// that records any line written after Close returned and a trace buffer
// read after Close without the writers' lock. pion starts its
// state-change handlers on goroutines of its own, and the "closed" ones
// fire while the PeerConnection closes: without the gate they reach the
// caller's Logf after Close. The check waits until no goroutine runs client
// code any more, so a late write cannot slip past it.
func TestNothingAfterClose(t *testing.T) {
	hub := newFakeHub(t)
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var closed atomic.Bool
		var late atomic.Int32
		var lateLine atomic.Value
		// The trace goes to a plain buffer under the writers' own mutex,
		// as probe does; reading it after Close without that mutex is a
		// data race (-race) unless every write happened before Close.
		var traceMu sync.Mutex
		var trace bytes.Buffer
		logf := func(format string, args ...any) {
			if closed.Load() {
				late.Add(1)
				lateLine.Store(fmt.Sprintf(format, args...))
			}
			traceMu.Lock()
			defer traceMu.Unlock()
			fmt.Fprintf(&trace, format+"\n", args...)
		}
		room := fmt.Sprintf("close-%d-%d", round, time.Now().UnixNano())
		var clients [2]*Client
		for i := range clients {
			c, err := Dial(ctx, Config{URL: hub.URL(), Name: fmt.Sprintf("go-%d", i), RelayOnly: true, Logf: logf})
			if err != nil {
				cancel()
				t.Fatalf("dial %d: %v", i, err)
			}
			clients[i] = c
			if _, err := c.Join(ctx, room); err != nil {
				cancel()
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = RunCall(ctx, c, CallOptions{Messages: 5, Size: 64, Pings: 1})
			}()
		}
		wg.Wait()
		var cw sync.WaitGroup
		for _, c := range clients {
			cw.Add(1)
			go func() { defer cw.Done(); _ = c.Close() }()
		}
		cw.Wait()
		closed.Store(true)
		cancel()
		if trace.Len() == 0 {
			t.Fatalf("round %d: no trace written", round)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d peer %d: %v", round, i, err)
			}
		}
		waitNoClientGoroutines(t)
		if n := late.Load(); n > 0 {
			t.Fatalf("round %d: %d trace lines written after Close returned, e.g. %q", round, n, lateLine.Load())
		}
	}
}

// waitNoClientGoroutines waits until no goroutine but the caller has a
// frame of this package's non-test code (pion handler goroutines run our
// closures, so they show up until they are done).
func waitNoClientGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		var busy []string
		for _, g := range strings.Split(string(buf[:n]), "\n\n")[1:] {
			if strings.Contains(g, "rtcd/rtcd/client.(*peer)") || strings.Contains(g, "rtcd/rtcd/client.guard") ||
				strings.Contains(g, "rtcd/rtcd/client.(*Client)") {
				busy = append(busy, g)
			}
		}
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client goroutines still running 10 s after Close:\n%s", strings.Join(busy, "\n\n"))
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
