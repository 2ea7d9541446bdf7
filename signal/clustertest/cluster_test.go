package clustertest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/rtcd/rtcd/internal/redistest"
)

// TestRoomAcrossNodes: peers on two nodes see each other join, update and
// leave, and their signals cross in order, exactly once.
func TestRoomAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	n1 := startNode(t, r.Addr(), "n1")
	n2 := startNode(t, r.Addr(), "n2")

	a := dial(t, n1.wsURL(), "a")
	b := dial(t, n2.wsURL(), "b")
	if j := a.join("r1"); len(j.peerIDs()) != 0 {
		t.Fatalf("a joined %v, want an empty room", j)
	}
	j := b.join("r1")
	if !slices.Equal(j.peerIDs(), []string{a.peerID}) {
		t.Fatalf("b joined %v, want peer %s", j, a.peerID)
	}
	if p := a.wait("peer-joined"); p.peer() != b.peerID {
		t.Fatalf("a got %v, want peer-joined %s", p, b.peerID)
	}

	const n = 300
	for i := range n {
		a.signal(b.peerID, i)
		b.signal(a.peerID, i)
	}
	for _, c := range []struct {
		to   *wsc
		from string
	}{{b, a.peerID}, {a, b.peerID}} {
		for i := range n {
			m := c.to.wait("signal")
			if m.str("from") != c.from || seqOf(m) != i {
				t.Fatalf("%s: signal %d: got %v", c.to.name, i, m)
			}
		}
	}

	b.send(msg{"v": 1, "type": "update", "name": "Bee", "state": msg{"audio": true}})
	if u := a.wait("peer-updated"); u.peer() != b.peerID || u["peer"].(map[string]any)["name"] != "Bee" {
		t.Fatalf("a got %v, want peer-updated Bee", u)
	}
	c := dial(t, n1.wsURL(), "c")
	if j := c.join("r1"); !slices.Equal(j.peerIDs(), sorted(a.peerID, b.peerID)) {
		t.Fatalf("c joined %v", j)
	}
	b.wait("peer-joined")
	a.wait("peer-joined")

	b.send(msg{"v": 1, "type": "leave"})
	b.wait("left")
	for _, x := range []*wsc{a, c} {
		if p := x.wait("peer-left"); p.peer() != b.peerID {
			t.Fatalf("%s: got %v, want peer-left %s", x.name, p, b.peerID)
		}
	}
	// Signals to a peer that left are refused on the sender's node.
	a.signal(b.peerID, 1)
	if e := a.wait("error"); e.str("code") != "unknown_peer" {
		t.Fatalf("got %v", e)
	}
	a.quiet(3 * hbInterval)
	c.quiet(3 * hbInterval)
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// TestCapacityClusterWide: RoomSize counts peers on every node, also when
// joins race on two nodes.
func TestCapacityClusterWide(t *testing.T) {
	r := redistest.Run(t)
	size := func(c *nodeConfig) { c.Signal.RoomSize = 3 }
	n1 := startNode(t, r.Addr(), "n1", size)
	n2 := startNode(t, r.Addr(), "n2", size)
	for round := range 3 {
		room := fmt.Sprintf("cap%d", round)
		var clients []*wsc
		for i := range 8 {
			url := n1.wsURL()
			if i%2 == 1 {
				url = n2.wsURL()
			}
			clients = append(clients, dial(t, url, fmt.Sprintf("c%d", i)))
		}
		var wg sync.WaitGroup
		codes := make([]string, len(clients))
		start := make(chan struct{})
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c.send(msg{"v": 1, "type": "join", "id": "j", "room": room})
			}()
			_ = i
		}
		close(start)
		wg.Wait()
		joined := 0
		for i, c := range clients {
			for codes[i] == "" {
				m := c.waitAny("joined", "error")
				if m.str("type") == "joined" {
					codes[i] = "ok"
					joined++
				} else {
					codes[i] = m.str("code")
				}
			}
		}
		if joined != 3 {
			t.Fatalf("round %d: %d joined (%v), want exactly 3", round, joined, codes)
		}
		for i, code := range codes {
			if code != "ok" && code != "room_full" {
				t.Fatalf("client %d: %s", i, code)
			}
		}
	}
}
