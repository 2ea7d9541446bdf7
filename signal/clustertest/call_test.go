package clustertest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	pionturn "github.com/pion/turn/v4"

	"github.com/rtcd/rtcd/client"
	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/signal/redisbus"
)

// TestCallAcrossNodes: two Go peers (client package), one per node,
// relay-only: their offers, answers and candidates cross through Redis, each
// allocates on its own node's relay, and data and video flow.
func TestCallAcrossNodes(t *testing.T) {
	r := startRedis(t)
	n1 := startNode(t, r.addr(), "n1")
	n2 := startNode(t, r.addr(), "n2")
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
	r := startRedis(t)
	all := func(c *config.Config) { c.Cluster.ICEServers = redisbus.ICEAllNodes }
	n1 := startNode(t, r.addr(), "n1", all)
	n2 := startNode(t, r.addr(), "n2", all)
	relay2 := n2.TURNAddr().String()
	var a *wsc
	deadline := time.Now().Add(5 * time.Second)
	for {
		a = dial(t, n1.WSURL(), "a")
		if turnServer(a.hello) != nil && strings.Contains(strings.Join(turnServer(a.hello).urls, " "), relay2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello from n1 lacks n2's relay %s: %v", relay2, a.hello["iceServers"])
		}
		time.Sleep(hbInterval)
	}
	ts := turnServer(a.hello)
	if !strings.Contains(ts.urls[0], n1.TURNAddr().String()) {
		t.Fatalf("own node's TURN URL should come first: %v", ts.urls)
	}
	allocate(t, relay2, ts.user, ts.pass) // n1's credentials on n2's relay

	own := startNode(t, r.addr(), "n3")
	b := dial(t, own.WSURL(), "b")
	if u := turnServer(b.hello).urls; strings.Contains(strings.Join(u, " "), relay2) {
		t.Fatalf("ICEServers=own hands out other nodes' relays: %v", u)
	}
}

type turnInfo struct {
	urls       []string
	user, pass string
}

func turnServer(hello msg) *turnInfo {
	ss, _ := hello["iceServers"].([]any)
	for _, s := range ss {
		m, _ := s.(map[string]any)
		if m["username"] == nil {
			continue
		}
		ti := &turnInfo{user: m["username"].(string), pass: m["credential"].(string)}
		for _, u := range m["urls"].([]any) {
			ti.urls = append(ti.urls, u.(string))
		}
		return ti
	}
	return nil
}

func allocate(t *testing.T, addr, user, pass string) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: "rtcd", LoggerFactory: logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate on %s with another node's credentials: %v", addr, err)
	}
	_ = relay.Close()
}
