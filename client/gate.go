package client

import "sync"

// callbackGate lets callbacks registered on pion objects run only while
// their owner is open. pion calls most handlers on goroutines of its own
// (often started with `go handler(...)`), so one can begin after the
// PeerConnection's Close has returned. Every callback enters the gate
// first; shut closes it, so callbacks arriving later do nothing, and waits
// for those already inside. After shut returns, no callback of the owner
// can touch its state, its events or the caller's Logf.
type callbackGate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// enter reports whether the callback may run; when true, the caller must
// call leave when it is done.
func (g *callbackGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *callbackGate) leave() { g.wg.Done() }

// shut refuses further callbacks and waits for those in flight. A callback
// must not call shut on its own gate (it would wait for itself).
func (g *callbackGate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// guard wraps a one-argument callback so that it runs through the gate.
func guard[T any](g *callbackGate, fn func(T)) func(T) {
	return func(v T) {
		if !g.enter() {
			return
		}
		defer g.leave()
		fn(v)
	}
}

// guard0 is guard for callbacks without arguments.
func guard0(g *callbackGate, fn func()) func() {
	return func() {
		if !g.enter() {
			return
		}
		defer g.leave()
		fn()
	}
}
