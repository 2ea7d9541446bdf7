package turn

import (
	"sync"
	"time"
)

// group counts goroutines that pion runs on conns we handed it, so Stop can
// wait for them. pion's Server.Close does not wait; a conn reports "exited"
// when its reader saw the error that ends pion's loop.
type group struct {
	mu      sync.Mutex
	n       int
	closing bool
	zero    chan struct{} // closed when closing && n == 0
}

func newGroup() *group { return &group{zero: make(chan struct{})} }

// add registers one more reader; false once Stop began.
func (g *group) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 {
		close(g.zero)
	}
}

func (g *group) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return
	}
	g.closing = true
	if g.n == 0 {
		close(g.zero)
	}
}

func (g *group) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-g.zero:
		return true
	case <-t.C:
		return false
	}
}

// member is embedded in every tracked conn.
type member struct {
	g    *group
	once sync.Once
}

func (m *member) exited() { m.once.Do(m.g.done) }
