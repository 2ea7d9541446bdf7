package signal

import "sync"

// item is one encoded server message waiting for the writer.
type item struct {
	b []byte
	// keep marks messages that survive a resume (relayed signals). Replies,
	// presence and ice messages are dropped then, because the resumed hello
	// carries the current room, peers and credentials.
	keep bool
}

// outbox is a session's bounded queue of outgoing messages. It outlives the
// connections of the session, which is how messages wait for a resume.
// Producers push under the router lock (so every recipient sees events in
// the order the state changed) and call notify after releasing it.
type outbox struct {
	mu    sync.Mutex // guards the following fields
	items []item
	owner *conn // the connection whose writer may take; nil while detached
	max   int
	full  bool // overflowed once: the session is being ended
}

func newOutbox(max int) *outbox {
	return &outbox{max: max}
}

// push appends a message. It reports false when the queue is full; the
// caller must then end the session (signaling messages are never dropped
// silently).
func (o *outbox) push(b []byte, keep bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.full {
		return false
	}
	if len(o.items) >= o.max {
		o.full = true
		o.items = nil
		return false
	}
	o.items = append(o.items, item{b: b, keep: keep})
	return true
}

// pushFor pushes a reply meant for connection c only; it is dropped if c no
// longer owns the outbox (the session was resumed elsewhere).
func (o *outbox) pushFor(c *conn, b []byte) (owned, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owner != c {
		return false, true
	}
	if o.full {
		return true, false
	}
	if len(o.items) >= o.max {
		o.full = true
		o.items = nil
		return true, false
	}
	o.items = append(o.items, item{b: b})
	return true, true
}

// notify starts a writer run on the owning connection, if there is one and
// none is running; it does not block. A detached outbox waits for the
// resume, whose startWriter sends what is queued.
func (o *outbox) notify() {
	o.mu.Lock()
	c := o.owner
	o.mu.Unlock()
	if c != nil {
		c.kick()
	}
}

// take hands all queued messages to c's writer; ok is false once c no longer
// owns the outbox, which tells the writer to stop.
func (o *outbox) take(c *conn) (items []item, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owner != c {
		return nil, false
	}
	items, o.items = o.items, nil
	return items, true
}

// unread puts back messages a failed write did not deliver, in front.
func (o *outbox) unread(c *conn, items []item) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owner != c || o.full || len(items) == 0 {
		return
	}
	o.items = append(items, o.items...)
}

// attach makes c the owner. For a resume it keeps only the messages that
// survive one and puts first (the hello reply) in front of them.
func (o *outbox) attach(c *conn, first []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := make([]item, 0, len(o.items)+1)
	kept = append(kept, item{b: first})
	for _, it := range o.items {
		if it.keep {
			kept = append(kept, it)
		}
	}
	o.items = kept
	o.owner = c
}

// detach releases c's ownership if it still has it.
func (o *outbox) detach(c *conn) {
	o.mu.Lock()
	if o.owner == c {
		o.owner = nil
	}
	o.mu.Unlock()
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// handOff gives up the outbox when its session moves to another node: it
// returns the messages that survive a resume and leaves the outbox without
// an owner, so that the old connection's writer stops.
func (o *outbox) handOff() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	var kept [][]byte
	for _, it := range o.items {
		if it.keep {
			kept = append(kept, it.b)
		}
	}
	o.items = nil
	o.owner = nil
	o.full = true // nothing may queue here any more
	return kept
}
