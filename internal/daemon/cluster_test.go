package daemon_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcd/rtcd/client"
	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/internal/redistest"
	"github.com/rtcd/rtcd/internal/testharness/daemontest"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/redisbus"
)

// The cluster tests that need whole nodes, each with its TURN relay; those
// of signaling alone are in signal/clustertest.

// clusterNode runs a whole node in cluster mode with fast heartbeats and
// waits until it is connected to Redis.
func clusterNode(t *testing.T, redisAddr, id string, mod ...func(*config.Config)) *daemon.Daemon {
	t.Helper()
	c := config.Default()
	c.Auth.Secrets = []string{"cluster-test-turn-secret"}
	c.Log.Level = "severe" // the Redis outages of other tests are logged as errors
	// Every node is 127.0.0.1 here: a relay reaches its own address only at
	// its own allocations, so the other nodes' relays need the address
	// allowed (real nodes have addresses of their own).
	c.Turn.AllowPeers = []string{"127.0.0.1/32"}
	c.Cluster = redisbus.Config{
		Enabled: true, RedisAddr: redisAddr, NodeID: id,
		HeartbeatInterval: 100 * time.Millisecond, NodeTTL: 1200 * time.Millisecond, RedisTimeout: 500 * time.Millisecond,
	}
	for _, f := range mod {
		f(&c)
	}
	d := daemontest.Start(t, c)
	deadline := time.Now().Add(5 * time.Second)
	for d.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready: %v", id, d.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// TestCallAcrossNodes: two Go peers (client package), one per node,
// relay-only: their offers, answers and candidates cross through Redis, each
// allocates on its own node's relay, and data and video flow.
func TestCallAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	n1 := clusterNode(t, r.Addr(), "n1")
	n2 := clusterNode(t, r.Addr(), "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var cs [2]*client.Client
	for i, url := range []string{n1.HTTPURL(), n2.HTTPURL()} {
		c, err := client.Dial(ctx, client.Config{URL: url, Name: fmt.Sprintf("go-%d", i), RelayOnly: true,
			TURNTransports: []string{client.TransportUDP}, Video: true})
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		cs[i] = c
		if _, err := c.Join(ctx, "call"); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	var res [2]client.CallResult
	var errs [2]error
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = client.RunCall(ctx, cs[i], client.CallOptions{Messages: 100, Size: 1000, MinRTP: 30,
				Logf: func(f string, a ...any) { t.Logf("peer %d: "+f, append([]any{i}, a...)...) }})
		}()
	}
	wg.Wait()
	for i := range cs {
		if errs[i] != nil {
			t.Fatalf("peer %d: %v", i, errs[i])
		}
		if res[i].Path.LocalType != "relay" || res[i].Received != 100 {
			t.Fatalf("peer %d: path %s, received %d", i, res[i].Path, res[i].Received)
		}
		t.Logf("peer %d: path %s, connected after %v, RTP %d", i, res[i].Path, res[i].Connected.Round(time.Millisecond), res[i].Media.PacketsReceived)
	}
}

// TestICEServersAllNodes: with ICEServers=all a client gets the TURN URLs of
// every live node, and credentials minted by one node open the relay of the
// other (shared Auth.Secrets).
func TestICEServersAllNodes(t *testing.T) {
	r := redistest.Run(t)
	all := func(c *config.Config) { c.Cluster.ICEServers = redisbus.ICEAllNodes }
	n1 := clusterNode(t, r.Addr(), "n1", all)
	n2 := clusterNode(t, r.Addr(), "n2", all)
	relay2 := n2.TURNAddr().String()
	var ts iceServer
	deadline := time.Now().Add(5 * time.Second)
	for {
		// n1 learns n2's URLs from n2's heartbeats.
		var ws io.Closer
		ws, ts = hello(t, n1, "a")
		_ = ws.Close()
		if strings.Contains(strings.Join(ts.URLs, " "), relay2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello from n1 lacks n2's relay %s: %v", relay2, ts.URLs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(ts.URLs[0], n1.TURNAddr().String()) {
		t.Fatalf("own node's TURN URL should come first: %v", ts.URLs)
	}
	// n1's credentials on n2's relay.
	ts.URLs = slices.DeleteFunc(ts.URLs, func(u string) bool { return !strings.Contains(u, relay2) })
	allocateICE(t, ts, "udp")

	own := clusterNode(t, r.Addr(), "n3")
	if _, ts := hello(t, own, "b"); strings.Contains(strings.Join(ts.URLs, " "), relay2) {
		t.Fatalf("ICEServers=own hands out other nodes' relays: %v", ts.URLs)
	}
}

// TestSFURoomAcrossNodes: in an SFU room with a participant on each node,
// both send their media to the one media server of the node that claimed
// the room, reached with its own candidates, and each gets the other's
// track through it; the other node's media server carries nothing.
func TestSFURoomAcrossNodes(t *testing.T) {
	r := redistest.Run(t)
	sfuMode := func(c *config.Config) { c.Signal.Media = signal.MediaSFU }
	n1 := clusterNode(t, r.Addr(), "n1", sfuMode)
	n2 := clusterNode(t, r.Addr(), "n2", sfuMode)
	a := newSFUClient(t, n1, "sfu-cluster")
	b := newSFUClient(t, n2, "sfu-cluster")
	exchangeTracks(t, a, b)
	s1, s2 := n1.SFU().Stats(), n2.SFU().Stats()
	if len(s1)+len(s2) != 1 {
		t.Fatalf("media server rooms: n1 %+v, n2 %+v; want the room on one node", s1, s2)
	}
	if st := append(s1, s2...)[0]; st.Participants != 2 || st.PacketsForwarded == 0 {
		t.Fatalf("the room's media server: %+v, want both participants and forwarded packets", st)
	}
}
