package turn

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestPktQueue: bounded FIFO of copies, drops counted when full, a blocked
// reader woken by a push and by close, and what was queued before close is
// still delivered.
func TestPktQueue(t *testing.T) {
	var drops atomic.Uint64
	q := newPktQueue(2, &drops)
	a1 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	a2 := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	src := []byte("first")
	if !q.push(src, a1) || !q.push([]byte("second"), a2) {
		t.Fatal("push into a queue with room refused")
	}
	copy(src, "XXXXX") // the queue holds a copy
	if q.push([]byte("third"), a1) || drops.Load() != 1 {
		t.Fatalf("push into a full queue: drops %d, want 1", drops.Load())
	}
	buf := make([]byte, 3)
	n, a, err := q.pop(buf)
	if err != nil || string(buf[:n]) != "fir" || a != a1 {
		t.Fatalf("pop = %q, %v, %v; want the first datagram truncated to 3 bytes", buf[:n], a, err)
	}
	buf = make([]byte, 16)
	if n, a, _ := q.pop(buf); string(buf[:n]) != "second" || a != a2 {
		t.Fatalf("pop = %q from %v, want second", buf[:n], a)
	}

	got := make(chan string)
	go func() {
		b := make([]byte, 16)
		n, _, err := q.pop(b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	q.push([]byte("late"), a1)
	if s := <-got; s != "late" {
		t.Fatalf("blocked pop got %q, want late", s)
	}

	q.push([]byte("before close"), a1)
	q.close()
	if n, _, err := q.pop(buf); err != nil || string(buf[:n]) != "before close" {
		t.Fatalf("pop after close = %q, %v; want what was queued before", buf[:n], err)
	}
	if _, _, err := q.pop(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pop on a closed, empty queue: %v", err)
	}
	if q.push([]byte("x"), a1) {
		t.Fatal("push into a closed queue accepted")
	}

	blocked := newPktQueue(1, &drops)
	errc := make(chan error)
	go func() { _, _, err := blocked.pop(buf); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	blocked.close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("close did not wake a blocked pop with net.ErrClosed: %v", err)
	}
}
