package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/auth"
	"github.com/rtcd/rtcd/internal/redistest"
	"github.com/rtcd/rtcd/internal/testharness"
	"github.com/rtcd/rtcd/signal"
	"github.com/rtcd/rtcd/signal/redisbus"
)

const (
	testSecret = "cluster-test-turn-secret"
	hbInterval = 100 * time.Millisecond
	nodeTTL    = 1200 * time.Millisecond
	msgWait    = 5 * time.Second
	childEnv   = "RTCD_CLUSTERTEST_CHILD" // "redisAddr nodeID": run a node and block
)

// testURLs are the relay URLs every test node hands out; no relay runs.
var testURLs = signal.ICEURLs{
	STUN: []string{"stun:127.0.0.1:3478"},
	TURN: []string{"turn:127.0.0.1:3478?transport=udp"},
}

func TestMain(m *testing.M) {
	// Severe: the Redis outages the tests cause are logged as errors.
	logx.SetLevel(logx.SevereLevel)
	if v := os.Getenv(childEnv); v != "" {
		runChild(v)
		return
	}
	testharness.VerifyTestMain(m)
}

// nodeConfig is what a test node is built from: the Signal and Cluster
// sections of etc/rtcd.yaml.
type nodeConfig struct {
	Signal  signal.Config
	Cluster redisbus.Config
	Media   signal.MediaServer // nil: the hub has none
	Events  func(signal.Event) // nil: nobody listens
}

// defaultConfig is a cluster node with fast heartbeats.
func defaultConfig(redisAddr, id string) nodeConfig {
	return nodeConfig{
		Signal: signal.Config{MessagesPerSecond: 5000},
		Cluster: redisbus.Config{
			Enabled: true, RedisAddr: redisAddr, NodeID: id,
			HeartbeatInterval: hbInterval, NodeTTL: nodeTTL, RedisTimeout: 500 * time.Millisecond,
		},
	}
}

// node is one cluster node as internal/daemon wires it, without the relay:
// a hub with the Redis bus, its /ws served on a loopback port.
type node struct {
	hub  *signal.Hub
	srv  *httptest.Server
	once sync.Once
}

// newNode builds a node and starts serving; it does not wait for Redis.
func newNode(c nodeConfig) (*node, error) {
	issuer, err := auth.NewIssuer([]string{testSecret}, time.Hour)
	if err != nil {
		return nil, err
	}
	bus, err := redisbus.New(c.Cluster)
	if err != nil {
		return nil, err
	}
	hub, err := signal.NewHub(c.Signal, issuer, nil, testURLs)
	if err != nil {
		return nil, err
	}
	if c.Media != nil {
		hub.SetMedia(c.Media)
	}
	if c.Events != nil {
		hub.SetEvents(c.Events)
	}
	if err := hub.StartBus(bus); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", hub.Handler())
	return &node{hub: hub, srv: httptest.NewServer(mux)}, nil
}

// wsURL is the node's signaling endpoint.
func (n *node) wsURL() string { return "ws://" + n.srv.Listener.Addr().String() + "/ws" }

// stop stops the node as the daemon does: the hub (clients are told to
// reconnect, the bus leaves the cluster), then HTTP. Idempotent.
func (n *node) stop() {
	n.once.Do(func() {
		n.hub.Stop()
		n.srv.Close()
	})
}

// runNode builds a node that the test's cleanup stops.
func runNode(t *testing.T, c nodeConfig) *node {
	t.Helper()
	n, err := newNode(c)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	t.Cleanup(n.stop)
	return n
}

// startNode runs a cluster node in-process and waits until it is connected.
func startNode(t *testing.T, redisAddr, id string, mod ...func(*nodeConfig)) *node {
	t.Helper()
	c := defaultConfig(redisAddr, id)
	for _, f := range mod {
		f(&c)
	}
	n := runNode(t, c)
	waitReady(t, n, true, 5*time.Second)
	return n
}

// runChild is a node in its own process, so that a test can SIGKILL it.
func runChild(v string) {
	f := strings.Fields(v)
	n, err := newNode(defaultConfig(f[0], f[1]))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("WS", n.wsURL())
	select {}
}

// startChild runs a node in a child process; kill stops it with SIGKILL.
func startChild(t *testing.T, redisAddr, id string) (wsURL string, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+redisAddr+" "+id)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(kill)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "WS ") {
			t.Fatalf("child node: %q", l)
		}
		return strings.TrimPrefix(l, "WS "), kill
	case <-time.After(10 * time.Second):
		t.Fatal("child node did not start")
	}
	return "", kill
}

// waitReady waits until the node is ready (or not ready: connected to the
// cluster or not, what /readyz reports) and returns how long it took.
func waitReady(t *testing.T, n *node, ready bool, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := n.hub.Ready()
		if (err == nil) == ready {
			return time.Since(start)
		}
		if time.Since(start) > max {
			t.Fatalf("node %s: ready %v after %v, want ready=%v", n.hub.NodeID(), err, max, ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// msg is one server message.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

func (m msg) peer() string {
	p, _ := m["peer"].(map[string]any)
	s, _ := p["id"].(string)
	return s
}

func (m msg) peerIDs() []string {
	ps, _ := m["peers"].([]any)
	var ids []string
	for _, p := range ps {
		if pm, ok := p.(map[string]any); ok {
			ids = append(ids, pm["id"].(string))
		}
	}
	return ids
}

// wsc is a raw protocol client: everything it receives is logged in order.
type wsc struct {
	t      *testing.T
	name   string
	ws     *websocket.Conn
	in     chan msg
	done   chan struct{}
	hello  msg
	peerID string
	resume string
	err    error // why the reader stopped; read after done
}

func dial(t *testing.T, url, name string) *wsc {
	t.Helper()
	c := connect(t, url, name)
	c.send(msg{"v": 1, "type": "hello", "name": name})
	c.hello = c.wait("hello")
	c.peerID, c.resume = c.hello.str("peerId"), c.hello.str("resume")
	return c
}

func connect(t *testing.T, url, name string) *wsc {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, url, err)
	}
	c := &wsc{t: t, name: name, ws: ws, in: make(chan msg, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.in)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			var m msg
			if json.Unmarshal(b, &m) == nil {
				c.in <- m
			}
		}
	}()
	t.Cleanup(c.cut)
	return c
}

// cut drops the TCP connection without a close frame (a network loss: the
// session waits for a resume).
func (c *wsc) cut() {
	_ = c.ws.NetConn().Close()
	<-c.done
}

func (c *wsc) send(m msg) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	_ = c.ws.SetWriteDeadline(time.Now().Add(msgWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// wait returns the next message of type typ, failing on any error message
// (unless typ is "error") and after msgWait.
func (c *wsc) wait(typ string) msg {
	c.t.Helper()
	return c.next(typ, func(m msg) bool {
		if typ != "error" && m.str("type") == "error" {
			c.t.Fatalf("%s: error %v waiting for %s", c.name, m, typ)
		}
		return m.str("type") == typ
	})
}

// next returns the first message match accepts, failing after msgWait or
// when the socket closes; what names it in the failure.
func (c *wsc) next(what string, match func(msg) bool) msg {
	c.t.Helper()
	m, closed := c.poll(msgWait, match)
	switch {
	case closed:
		c.t.Fatalf("%s: socket closed waiting for %s", c.name, what)
	case m == nil:
		c.t.Fatalf("%s: no %s within %v", c.name, what, msgWait)
	}
	return m
}

// quiet fails if any message other than pong arrives within d.
func (c *wsc) quiet(d time.Duration) {
	c.t.Helper()
	if m, _ := c.poll(d, func(m msg) bool { return m.str("type") != "pong" && m.str("type") != "ice" }); m != nil {
		c.t.Fatalf("%s: unexpected %v", c.name, m)
	}
}

// poll returns the first message match accepts within d: nil when none
// came, and closed when the socket closed first.
func (c *wsc) poll(d time.Duration, match func(msg) bool) (m msg, closed bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return nil, true
			}
			if match(m) {
				return m, false
			}
		case <-timer.C:
			return nil, false
		}
	}
}

func (c *wsc) join(room string) msg {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": room})
	return c.wait("joined")
}

// joinResult returns joined or the error code.
func (c *wsc) joinResult(room string) (msg, string) {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": room})
	timer := time.NewTimer(msgWait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: closed", c.name)
			}
			switch m.str("type") {
			case "joined":
				return m, ""
			case "error":
				return nil, m.str("code")
			}
		case <-timer.C:
			c.t.Fatalf("%s: no join reply", c.name)
		}
	}
}

func (c *wsc) signal(to string, seq int) {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "signal", "to": to, "kind": "candidate", "data": msg{"seq": seq}})
}

// seqOf reads data.seq of a relayed signal.
func seqOf(m msg) int {
	d, _ := m["data"].(map[string]any)
	f, _ := d["seq"].(float64)
	return int(f)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitAny returns the next message of one of the types.
func (c *wsc) waitAny(types ...string) msg {
	c.t.Helper()
	return c.next(fmt.Sprint(types), func(m msg) bool { return slices.Contains(types, m.str("type")) })
}

// waitAnyFor is waitAny with its own timeout; nil if nothing came.
func (c *wsc) waitAnyFor(d time.Duration, types ...string) msg {
	m, _ := c.poll(d, func(m msg) bool { return slices.Contains(types, m.str("type")) })
	return m
}

// nodeDown starts a cluster node whose Redis is not running.
func nodeDown(t *testing.T, redisAddr, id string) *node {
	t.Helper()
	n := runNode(t, defaultConfig(redisAddr, id))
	if n.hub.Ready() == nil {
		t.Fatal("ready with Redis down")
	}
	return n
}

// resumeOn opens a new socket to url and resumes the session of old.
func resumeOn(t *testing.T, url string, old *wsc) *wsc {
	t.Helper()
	c := connect(t, url, old.name+"'")
	c.send(msg{"v": 1, "type": "hello", "resume": old.resume})
	c.hello = c.wait("hello")
	c.peerID, c.resume = c.hello.str("peerId"), c.hello.str("resume")
	if c.hello["resumed"] != true || c.peerID != old.peerID {
		t.Fatalf("resume on %s: %v, want resumed as %s", url, c.hello, old.peerID)
	}
	return c
}

// closedWith waits for c's socket to close and returns the close code.
func (c *wsc) closedWith() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(msgWait):
		c.t.Fatalf("%s: socket still open", c.name)
	}
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return 0
}

// twoNodesOneRoom is the common start of the fault tests: Redis, nodes n1
// and n2 (configured by mod), client a on n1 and b on n2 in room "room",
// and a has seen b join.
func twoNodesOneRoom(t *testing.T, mod ...func(*nodeConfig)) (r *redistest.Server, n1, n2 *node, a, b *wsc) {
	t.Helper()
	r = redistest.Run(t)
	n1 = startNode(t, r.Addr(), "n1", mod...)
	n2 = startNode(t, r.Addr(), "n2", mod...)
	a = dial(t, n1.wsURL(), "a")
	b = dial(t, n2.wsURL(), "b")
	a.join("room")
	b.join("room")
	a.wait("peer-joined")
	return r, n1, n2, a, b
}
