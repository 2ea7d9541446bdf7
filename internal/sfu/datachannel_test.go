package sfu

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcd/rtcd/signal/proto"
)

// texts returns the senders and texts of what p received on its chat
// channel.
func (p *peer) texts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.chat {
		out = append(out, m.From+":"+m.Text)
	}
	return out
}

// waitText waits until p has received a message with text.
func (p *peer) waitText(text string) {
	p.t.Helper()
	p.waitFor("chat "+text, func() bool {
		for _, m := range p.chat {
			if m.Text == text {
				return true
			}
		}
		return false
	})
}

// TestChatRelay checks that the server relays a client's chat to everyone
// else with the sender's id as from (whatever the client put there), keeps
// it for a channel still opening, and drops binary, oversized, malformed and
// unknown messages without harm to what follows.
func TestChatRelay(t *testing.T) {
	s := newTestServer(t)
	a := newPeer(t, s, "a", peerOpts{})
	b := newPeer(t, s, "b", peerOpts{})
	c := newPeer(t, s, "c", peerOpts{recvOnly: true})
	a.sendData(`{"t":"chat","text":"hello","from":"mallory"}`)
	for _, bad := range []string{
		`{"t":"chat","text":` + `"` + strings.Repeat("x", maxDataBytes) + `"}`,
		`{"t":"chat","text":"` + strings.Repeat("é", proto.MaxChatRunes+1) + `"}`,
		`{"t":"chat","text":`,
		`[1,2]`,
		`{"t":"launch"}`,
		`not json`,
	} {
		a.sendData(bad)
	}
	a.mu.Lock()
	if err := a.dc.Send([]byte(`{"t":"chat","text":"binary"}`)); err != nil {
		t.Fatal(err)
	}
	a.mu.Unlock()
	a.sendData(`{"t":"bye"}`)
	b.sendData(`{"t":"chat","text":"from b"}`)
	for _, p := range []*peer{b, c} {
		p.waitFor("a's bye", func() bool {
			for _, m := range p.chat {
				if m.T == proto.DataBye {
					return true
				}
			}
			return false
		})
	}
	if got, want := strings.Join(b.texts(), "|"), "a:hello|a:"; got != want {
		t.Errorf("b received %q, want %q (a's hello, then its bye)", got, want)
	}
	c.waitText("from b")
	got := c.texts()
	slices.Sort(got)
	if got, want := strings.Join(got, "|"), "a:|a:hello|b:from b"; got != want {
		t.Errorf("c received %q, want %q", got, want)
	}
	a.waitText("from b")
	if got := a.texts(); len(got) != 1 {
		t.Errorf("a received %q, want only b's message (never its own)", got)
	}
}

// testClock is a clock the test moves. It counts the times it is read, the
// server reading it once for each text message it takes in, so a test can
// wait until the server has seen what it sent.
type testClock struct {
	mu      sync.Mutex
	now     time.Time
	reads   int
	changed chan struct{} // closed and replaced on every read
}

func newTestClock() *testClock {
	return &testClock{now: time.Unix(1e9, 0), changed: make(chan struct{})}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	close(c.changed)
	c.changed = make(chan struct{})
	return c.now
}

// waitReads waits until the clock has been read n times.
func (c *testClock) waitReads(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		reads, changed := c.reads, c.changed
		c.mu.Unlock()
		if reads >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the clock was read %d times within %v, want %d", reads, wait, n)
		}
	}
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestChatRateLimit checks that a participant's burst beyond the limit is
// dropped, and that it may send again once the limit has refilled.
func TestChatRateLimit(t *testing.T) {
	s := newTestServer(t)
	clock := newTestClock()
	s.now = clock.Now
	a := newPeer(t, s, "a", peerOpts{})
	b := newPeer(t, s, "b", peerOpts{})
	sent := dataBurst + 5
	for i := range sent {
		a.sendData(`{"t":"chat","text":"n` + strconv.Itoa(i) + `"}`)
	}
	clock.waitReads(t, sent)
	clock.add(time.Second)
	a.sendData(`{"t":"chat","text":"late"}`)
	b.waitText("late")
	got := b.texts()
	if len(got) != dataBurst+1 {
		t.Fatalf("b received %d messages, want the burst of %d and the late one: %q", len(got), dataBurst, got)
	}
	for i, m := range got[:dataBurst] {
		if want := "a:n" + strconv.Itoa(i); m != want {
			t.Errorf("message %d is %q, want %q", i, m, want)
		}
	}
}
