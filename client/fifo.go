package client

import "sync"

// fifo is an unbounded queue. pion invokes callbacks on its own goroutines,
// and signaling must never be dropped, so producers push without blocking
// and one consumer drains in order.
type fifo[T any] struct {
	mu     sync.Mutex // guards items and closed
	items  []T
	closed bool
	notify chan struct{} // capacity 1: "items may be non-empty"
}

func newFIFO[T any]() *fifo[T] { return &fifo[T]{notify: make(chan struct{}, 1)} }

func (q *fifo[T]) push(v T) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// pop blocks until an item is available or done is closed.
func (q *fifo[T]) pop(done <-chan struct{}) (T, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			q.mu.Unlock()
			return v, true
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-done:
			var zero T
			return zero, false
		}
	}
}

func (q *fifo[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.items = nil
	q.mu.Unlock()
}
