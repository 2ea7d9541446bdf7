package clustertest

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcd/rtcd/internal/redistest"
)

// TestNodeCrash: a node killed with SIGKILL disappears from the other
// node's rooms within the heartbeat TTL, and leaves no ghost in Redis for
// later joiners or for the room's capacity.
func TestNodeCrash(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	url2, kill := startChild(t, r.Addr(), "n2")

	a := dial(t, n1.wsURL(), "a")
	b := dial(t, url2, "b")
	a.join("room")
	b.join("room")
	a.wait("peer-joined")

	start := time.Now()
	kill()
	if p := a.wait("peer-left"); p.peer() != b.peerID {
		t.Fatalf("got %v, want peer-left %s", p, b.peerID)
	}
	gone := time.Since(start)
	t.Logf("killed node's peer left the other node's room after %v (NodeTTL %v, heartbeat %v)", gone.Round(time.Millisecond), nodeTTL, hbInterval)
	if bound := nodeTTL + 3*hbInterval + time.Second; gone > bound {
		t.Errorf("dead node's peer vanished after %v, beyond the bound %v", gone, bound)
	}
	c := dial(t, n1.wsURL(), "c")
	if j := c.join("room"); !slices.Equal(j.peerIDs(), []string{a.peerID}) {
		t.Fatalf("c joined %v, want only %s (no ghost)", j, a.peerID)
	}
	a.signal(b.peerID, 1)
	if e := a.wait("error"); e.str("code") != "unknown_peer" {
		t.Fatalf("got %v", e)
	}
}

// TestNodeStop: a node stopped cleanly tells its clients to reconnect; its
// peers leave the other rooms within the TTL unless they resume elsewhere.
func TestNodeStop(t *testing.T) {
	_, _, n2, a, b := twoNodesOneRoom(t)
	n2.stop()
	if p := a.wait("peer-left"); p.peer() != b.peerID {
		t.Fatalf("got %v", p)
	}
}

// TestRedisRestart: with Redis down, each node's rooms keep working
// locally and readiness (/readyz) says why; when Redis is back (empty: no persistence)
// the nodes re-register, see each other's peers, including those that
// joined during the outage, and signals cross again, none duplicated.
func TestRedisRestart(t *testing.T) {
	r, n1, n2, a, b := twoNodesOneRoom(t)

	r.Stop()
	downAt := time.Now()
	for _, n := range []*node{n1, n2} {
		waitReady(t, n, false, 5*time.Second)
		if err := n.hub.Ready(); err == nil || !strings.Contains(err.Error(), "redis") {
			t.Fatalf("readiness during outage: %v, want one naming redis", err)
		}
	}
	t.Logf("the outage was reported after %v", time.Since(downAt).Round(time.Millisecond))

	// Local rooms keep working: c joins on n1 and talks to a.
	c := dial(t, n1.wsURL(), "c")
	j := c.join("room")
	if !slices.Contains(j.peerIDs(), a.peerID) {
		t.Fatalf("c joined %v during the outage, want a in it", j)
	}
	a.wait("peer-joined")
	for i := range 20 {
		c.signal(a.peerID, i)
	}
	for i := range 20 {
		if m := a.wait("signal"); seqOf(m) != i || m.str("from") != c.peerID {
			t.Fatalf("local signal %d during outage: %v", i, m)
		}
	}
	// Cross-node signals fail loudly rather than vanish.
	a.signal(b.peerID, 0)
	if e := a.wait("error"); e.str("code") != "internal" {
		t.Fatalf("cross-node signal during outage: %v", e)
	}

	// After NodeTTL without Redis the other node's peers are gone from view.
	if p := a.wait("peer-left"); p.peer() != b.peerID {
		t.Fatalf("got %v", p)
	}
	if p := b.wait("peer-left"); p.peer() != a.peerID {
		t.Fatalf("got %v", p)
	}

	r.Start()
	upAt := time.Now()
	for _, n := range []*node{n1, n2} {
		waitReady(t, n, true, 10*time.Second)
	}
	ready := time.Since(upAt)
	// b sees a and c again (c joined during the outage), a and c see b.
	got := map[string]bool{}
	for len(got) < 2 {
		got[b.wait("peer-joined").peer()] = true
	}
	if !got[a.peerID] || !got[c.peerID] {
		t.Fatalf("b got peer-joined for %v", got)
	}
	if p := a.wait("peer-joined"); p.peer() != b.peerID {
		t.Fatalf("a got %v", p)
	}
	if p := c.wait("peer-joined"); p.peer() != b.peerID {
		t.Fatalf("c got %v", p)
	}
	t.Logf("after redis came back: ready in %v, rooms merged in %v", ready.Round(time.Millisecond), time.Since(upAt).Round(time.Millisecond))

	for i := range 50 {
		a.signal(b.peerID, i)
		b.signal(c.peerID, i)
	}
	for i := range 50 {
		if m := b.wait("signal"); seqOf(m) != i || m.str("from") != a.peerID {
			t.Fatalf("b: signal %d: %v", i, m)
		}
		if m := c.wait("signal"); seqOf(m) != i || m.str("from") != b.peerID {
			t.Fatalf("c: signal %d: %v", i, m)
		}
	}
	for _, x := range []*wsc{a, b, c} {
		x.quiet(5 * hbInterval) // nothing duplicated, no stray presence
	}
}

// TestRedisBlip: an outage shorter than NodeTTL changes nothing the
// clients can see; cross-node signaling resumes by itself.
func TestRedisBlip(t *testing.T) {
	// The outage lasts as long as restarting redis-server, which can take
	// more than the tests' usual NodeTTL on a loaded machine: these nodes
	// wait longer before they give up on each other.
	const ttl = 4 * time.Second
	r, n1, n2, a, b := twoNodesOneRoom(t, func(c *nodeConfig) { c.Cluster.NodeTTL = ttl })
	r.Stop()
	waitReady(t, n1, false, 5*time.Second)
	waitReady(t, n2, false, 5*time.Second)
	b.send(msg{"v": 1, "type": "update", "name": "Renamed"}) // cannot reach n1 now
	r.Start()
	waitReady(t, n1, true, 5*time.Second)
	waitReady(t, n2, true, 5*time.Second)
	// The rename made during the outage arrives with n2's resync.
	if u := a.wait("peer-updated"); u.peer() != b.peerID || u["peer"].(map[string]any)["name"] != "Renamed" {
		t.Fatalf("a got %v", u)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.send(msg{"v": 1, "type": "signal", "to": b.peerID, "kind": "candidate", "data": msg{"seq": 7}})
		m := a.waitAnyFor(200*time.Millisecond, "error")
		if m == nil {
			break // no error: delivered
		}
		if time.Now().After(deadline) {
			t.Fatalf("cross-node signaling did not resume: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := b.wait("signal"); seqOf(m) != 7 {
		t.Fatalf("b got %v", m)
	}
	a.quiet(ttl + 3*hbInterval) // no peer-left: the blip was shorter than NodeTTL
	b.quiet(3 * hbInterval)
}

// TestNoRedisAtStart: a cluster node whose Redis is down at start serves
// its rooms alone, is not ready, and joins the cluster once Redis is up.
func TestNoRedisAtStart(t *testing.T) {
	r := redistest.Run(t)
	r.Stop()
	n1 := nodeDown(t, r.Addr(), "n1")
	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n1.wsURL(), "b")
	a.join("x")
	b.join("x")
	a.wait("peer-joined")
	r.Start()
	waitReady(t, n1, true, 5*time.Second)
	n2 := startNode(t, r.Addr(), "n2")
	c := dial(t, n2.wsURL(), "c")
	if j := c.join("x"); !slices.Equal(j.peerIDs(), sorted(a.peerID, b.peerID)) {
		t.Fatalf("c joined %v, want the peers that joined while Redis was down", j)
	}
}

// TestCrashRestartSameID: a node that crashed and came back under the same
// NodeID (so its heartbeat never lapsed for the others) clears the peers its
// previous run left, once their resume window is over.
func TestCrashRestartSameID(t *testing.T) {
	r := redistest.Run(t)
	n2 := startNode(t, r.Addr(), "n2")
	url1, kill := startChild(t, r.Addr(), "n1")
	a := dial(t, n2.wsURL(), "a")
	b := dial(t, url1, "b")
	a.join("room")
	b.join("room")
	a.wait("peer-joined")
	kill()
	start := time.Now()
	const window = time.Second
	startNode(t, r.Addr(), "n1", func(c *nodeConfig) { c.Signal.ResumeWindow = window })
	if p := a.wait("peer-left"); p.peer() != b.peerID {
		t.Fatalf("got %v", p)
	}
	t.Logf("the crashed run's peer left after %v (resume window %v)", time.Since(start).Round(time.Millisecond), window)
	c := dial(t, n2.wsURL(), "c")
	if j := c.join("room"); !slices.Equal(j.peerIDs(), []string{a.peerID}) {
		t.Fatalf("c joined %v, want no ghost", j)
	}
}

// TestRedisHang: a Redis that stops answering without closing its sockets
// (SIGSTOP: a partition, a stalled host) is detected by timeouts; rooms keep
// working locally meanwhile and the cluster heals when it answers again.
func TestRedisHang(t *testing.T) {
	r, n1, n2, a, b := twoNodesOneRoom(t)

	if err := r.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = r.Signal(syscall.SIGCONT)
		}
	}()
	hungAt := time.Now()
	// A join during the hang answers within the Redis timeout, locally.
	c := dial(t, n1.wsURL(), "c")
	j := c.join("room")
	t.Logf("join during the hang answered after %v", time.Since(hungAt).Round(time.Millisecond))
	if !slices.Contains(j.peerIDs(), a.peerID) {
		t.Fatalf("c joined %v", j)
	}
	a.wait("peer-joined")
	waitReady(t, n1, false, 5*time.Second)
	t.Logf("the hang was reported after %v", time.Since(hungAt).Round(time.Millisecond))
	c.signal(a.peerID, 5)
	if m := a.wait("signal"); seqOf(m) != 5 {
		t.Fatalf("%v", m)
	}

	_ = r.Signal(syscall.SIGCONT)
	resumed = true
	waitReady(t, n1, true, 10*time.Second)
	waitReady(t, n2, true, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := b.waitAnyFor(100*time.Millisecond, "peer-joined"); m != nil && m.peer() == c.peerID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never saw c, who joined during the hang")
		}
	}
	for {
		c.signal(b.peerID, 6)
		if c.waitAnyFor(100*time.Millisecond, "error") == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cross-node signaling did not come back")
		}
	}
	for {
		m := b.wait("signal")
		if m.str("from") == c.peerID && seqOf(m) == 6 {
			break
		}
	}
}
