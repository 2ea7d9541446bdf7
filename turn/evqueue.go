package turn

import (
	"net"
	"sync"
	"sync/atomic"
)

// pktQueue hands datagrams from an event loop to pion's reader of the same
// socket (STUN on a listen socket, Data indications on a relay socket). It
// is bounded: when pion falls behind, the loop drops, as a full socket
// buffer would, and never waits. Slots keep their buffers, so a steady
// stream allocates nothing.
type pktQueue struct {
	mu     sync.Mutex
	slots  []queuedPkt
	head   int // oldest
	n      int // queued
	closed bool
	ready  chan struct{}  // a push or close happened; capacity 1
	drops  *atomic.Uint64 // the server's count of dropped datagrams
}

type queuedPkt struct {
	b    []byte
	addr net.Addr
}

func newPktQueue(size int, drops *atomic.Uint64) *pktQueue {
	return &pktQueue{slots: make([]queuedPkt, size), ready: make(chan struct{}, 1), drops: drops}
}

// push copies d; false when the queue is full or closed.
func (q *pktQueue) push(d []byte, addr net.Addr) bool {
	q.mu.Lock()
	if q.closed || q.n == len(q.slots) {
		q.mu.Unlock()
		q.drops.Add(1)
		return false
	}
	s := &q.slots[(q.head+q.n)%len(q.slots)]
	s.b = append(s.b[:0], d...)
	s.addr = addr
	q.n++
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *pktQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for the oldest datagram and copies it into b (truncated to
// len(b), as a UDP read is); net.ErrClosed once closed.
func (q *pktQueue) pop(b []byte) (int, net.Addr, error) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			s := &q.slots[q.head]
			n, a := copy(b, s.b), s.addr
			s.addr = nil
			q.head = (q.head + 1) % len(q.slots)
			q.n--
			q.mu.Unlock()
			return n, a, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return 0, nil, net.ErrClosed
		}
		<-q.ready
	}
}

// close wakes the reader, which then gets net.ErrClosed.
func (q *pktQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}
