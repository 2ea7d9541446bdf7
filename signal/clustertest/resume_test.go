package clustertest

import (
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtcd/rtcd/internal/redistest"
)

// TestResumeOnOtherNode: a client whose socket dropped resumes on another
// node with its resume token: same peer id, same room, the signals queued
// meanwhile in order, and nobody sees it leave or join.
func TestResumeOnOtherNode(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")
	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n2.wsURL(), "b")
	c := dial(t, n1.wsURL(), "c")
	a.join("room")
	b.join("room")
	c.join("room")
	a.wait("peer-joined")
	a.wait("peer-joined")
	b.wait("peer-joined")

	a.cut()
	// Wait until n1 saw the socket go: what is written to a dying socket is
	// lost, by design (protocol.md: only unwritten signals are replayed).
	for n1.hub.Stats().Connections != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 5 {
		b.signal(a.peerID, i) // queued on n1 for a
		c.signal(a.peerID, 100+i)
	}
	c.send(msg{"v": 1, "type": "ping", "id": "p"}) // c's signals are queued once c gets pong
	c.wait("pong")

	a2 := resumeOn(t, n2.wsURL(), a)
	if a2.hello.str("room") != "room" || !slices.Equal(a2.hello.peerIDs(), sorted(b.peerID, c.peerID)) {
		t.Fatalf("resumed hello %v", a2.hello)
	}
	fromB, fromC := 0, 100
	for range 10 {
		m := a2.wait("signal")
		switch m.str("from") {
		case b.peerID:
			if seqOf(m) != fromB {
				t.Fatalf("from b: %v, want seq %d", m, fromB)
			}
			fromB++
		case c.peerID:
			if seqOf(m) != fromC {
				t.Fatalf("from c: %v, want seq %d", m, fromC)
			}
			fromC++
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	// Both ways work from the new node, to a local and to a remote peer.
	for i := range 10 {
		b.signal(a.peerID, 10+i)
		c.signal(a.peerID, 200+i)
		a2.signal(b.peerID, i)
		a2.signal(c.peerID, i)
	}
	for i := range 10 {
		if m := b.wait("signal"); seqOf(m) != i || m.str("from") != a.peerID {
			t.Fatalf("b: %v", m)
		}
		if m := c.wait("signal"); seqOf(m) != i || m.str("from") != a.peerID {
			t.Fatalf("c: %v", m)
		}
	}
	fromB, fromC = 10, 200
	for range 20 {
		m := a2.wait("signal")
		if m.str("from") == b.peerID {
			if seqOf(m) != fromB {
				t.Fatalf("a2 from b: %v want %d", m, fromB)
			}
			fromB++
		} else {
			if seqOf(m) != fromC {
				t.Fatalf("a2 from c: %v want %d", m, fromC)
			}
			fromC++
		}
	}
	// No presence change was visible, and the old token is spent.
	b.quiet(3 * hbInterval)
	c.quiet(nodeTTL + 3*hbInterval)
	a2.quiet(3 * hbInterval)
	x := connect(t, n1.wsURL(), "x")
	x.send(msg{"v": 1, "type": "hello", "resume": a.resume})
	if e := x.waitAny("error", "hello"); e.str("code") != "no_such_session" {
		t.Fatalf("spent token: %v", e)
	}
}

// TestResumeReplacesOpenSocket: resuming on another node while the old
// socket is still open closes it with 1008 "replaced".
func TestResumeReplacesOpenSocket(t *testing.T) {
	_, _, n2, a, b := twoNodesOneRoom(t)
	a2 := resumeOn(t, n2.wsURL(), a)
	if code := a.closedWith(); code != websocket.ClosePolicyViolation {
		t.Fatalf("old socket closed with %d, want 1008", code)
	}
	b.signal(a.peerID, 1)
	if m := a2.wait("signal"); seqOf(m) != 1 {
		t.Fatalf("%v", m)
	}
	b.quiet(nodeTTL + 3*hbInterval)
}

// TestResumeAfterNodeStop: clients of a node that is stopped (bye,
// reconnect) resume on another node within the resume window, as behind a
// load balancer during a rolling restart.
func TestResumeAfterNodeStop(t *testing.T) {
	_, n1, n2, a, b := twoNodesOneRoom(t)
	n1.stop()
	if bye := a.wait("bye"); bye["reconnect"] != true {
		t.Fatalf("%v", bye)
	}
	a2 := resumeOn(t, n2.wsURL(), a)
	if !slices.Equal(a2.hello.peerIDs(), []string{b.peerID}) || a2.hello.str("room") != "room" {
		t.Fatalf("resumed hello %v", a2.hello)
	}
	b.signal(a.peerID, 3)
	if m := a2.wait("signal"); seqOf(m) != 3 {
		t.Fatalf("%v", m)
	}
	b.quiet(nodeTTL + 3*hbInterval) // n1's expiry does not take a with it
	a2.signal(b.peerID, 4)
	if m := b.wait("signal"); seqOf(m) != 4 {
		t.Fatalf("%v", m)
	}
}

// TestResumeAfterRestartSameID: a node restarted with a fixed NodeID takes
// back the sessions it left in Redis when it stopped.
func TestResumeAfterRestartSameID(t *testing.T) {
	r, n1, _, a, b := twoNodesOneRoom(t)
	n1.stop()
	a.wait("bye")
	n1b := startNode(t, r.Addr(), "n1")
	a2 := resumeOn(t, n1b.wsURL(), a)
	if a2.hello.str("room") != "room" || len(a2.hello.peerIDs()) != 1 {
		t.Fatalf("resumed hello %v", a2.hello)
	}
	a2.signal(b.peerID, 9)
	if m := b.wait("signal"); seqOf(m) != 9 {
		t.Fatalf("%v", m)
	}
	b.quiet(nodeTTL + 3*hbInterval)
}
