// Package callback keeps callbacks registered on other libraries' objects
// from running after their owner has closed.
//
// pion starts most handlers (connection and ICE state, candidates, data
// channels, allocation events) on goroutines of its own, so one can begin
// after the object's Close has returned, and then write into a caller's
// writer or touch freed state. Every such callback enters a Gate first;
// the owner's Close shuts the gate, which refuses later callbacks and
// waits for those already inside.
package callback

import (
	"context"
	"sync"
)

// Gate admits callbacks until Shut. The zero value is open.
type Gate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Enter reports whether a callback may run; when it returns true the caller
// must call Leave when done.
func (g *Gate) Enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave ends a callback admitted by Enter.
func (g *Gate) Leave() { g.wg.Done() }

// Shut refuses further callbacks and waits for those in flight. A callback
// must not call Shut on its own gate: it would wait for itself.
func (g *Gate) Shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Guard wraps a one-argument callback so that it runs through g.
func Guard[T any](g *Gate, fn func(T)) func(T) {
	return func(v T) {
		if !g.Enter() {
			return
		}
		defer g.Leave()
		fn(v)
	}
}

// Guard0 is Guard for callbacks without arguments.
func Guard0(g *Gate, fn func()) func() {
	return func() {
		if !g.Enter() {
			return
		}
		defer g.Leave()
		fn()
	}
}

// AfterFunc is context.AfterFunc whose stop also waits: when f has already
// started, stop returns only after f has returned, so f never runs past the
// call that set it up.
func AfterFunc(ctx context.Context, f func()) (stop func()) {
	done := make(chan struct{})
	stopCtx := context.AfterFunc(ctx, func() { defer close(done); f() })
	return func() {
		if !stopCtx() {
			<-done
		}
	}
}
