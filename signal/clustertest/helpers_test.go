package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rtcd/rtcd/internal/leaktest"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/internal/config"
	"github.com/rtcd/rtcd/internal/daemon"
	"github.com/rtcd/rtcd/signal/redisbus"
)

const (
	testSecret = "cluster-test-turn-secret"
	hbInterval = 100 * time.Millisecond
	nodeTTL    = 1200 * time.Millisecond
	msgWait    = 5 * time.Second
	childEnv   = "RTCD_CLUSTERTEST_CHILD" // "redisAddr nodeID": run a node and block
)

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		runChild(v)
		return
	}
	logx.SetLevel(logx.ErrorLevel)
	leaktest.VerifyTestMain(m)
}

// nodeConfig is config.Default() in cluster mode with fast heartbeats.
func nodeConfig(redisAddr, id string) config.Config {
	c := config.Default()
	c.Auth.Secrets = []string{testSecret}
	c.Log.Level = "severe" // /readyz 503s are expected here
	c.Signal.MessagesPerSecond = 5000
	// Every node is 127.0.0.1 here: a relay reaches its own address only at
	// its own allocations, so the other nodes' relays need the address
	// allowed (real nodes have addresses of their own).
	c.Turn.AllowPeers = []string{"127.0.0.1/32"}
	c.Cluster = redisbus.Config{
		Enabled: true, RedisAddr: redisAddr, NodeID: id,
		HeartbeatInterval: hbInterval, NodeTTL: nodeTTL, RedisTimeout: 500 * time.Millisecond,
	}
	return c
}

// runChild is a node in its own process, so that a test can SIGKILL it.
func runChild(v string) {
	f := strings.Fields(v)
	logx.SetLevel(logx.ErrorLevel)
	d, err := daemon.New(nodeConfig(f[0], f[1]))
	if err == nil {
		err = d.Start()
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("WS", d.WSURL())
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

// redisProc is a redis-server started by the test on a free loopback port,
// without persistence; it is stopped by PID at cleanup, also on failure.
type redisProc struct {
	t    *testing.T
	bin  string
	port int
	args []string // extra redis-server arguments
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, args ...string) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found: install Debian's redis-server (test/deps.sh does) to run the cluster tests")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	r := &redisProc{t: t, bin: bin, port: port, args: args}
	t.Cleanup(r.stop)
	r.start()
	return r
}

func (r *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisProc) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, r.args...)...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.addr()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatal("redis-server did not answer PING within 5s")
}

func (r *redisProc) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := io.ReadFull(c, b)
	// -NOAUTH also means it is up (a password is set).
	return strings.HasPrefix(string(b[:n]), "+PONG") || strings.HasPrefix(string(b[:n]), "-NOAUTH")
}

// startNode runs a cluster node in-process.
func startNode(t *testing.T, redisAddr, id string, mod ...func(*config.Config)) *daemon.Daemon {
	t.Helper()
	c := nodeConfig(redisAddr, id)
	for _, f := range mod {
		f(&c)
	}
	d, err := daemon.New(c)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	t.Cleanup(d.Stop)
	waitReady(t, d.HTTPURL(), true, 5*time.Second)
	return d
}

// readyz returns /readyz's status code and body.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until /readyz says ready (or not ready) and returns how long it took.
func waitReady(t *testing.T, base string, ready bool, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, body := readyz(t, base)
		if (code == http.StatusOK) == ready {
			return time.Since(start)
		}
		if time.Since(start) > max {
			t.Fatalf("readyz at %s: %d %q after %v, want ready=%v", base, code, body, max, ready)
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
	timer := time.NewTimer(msgWait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: socket closed waiting for %s", c.name, typ)
			}
			if m.str("type") == typ {
				return m
			}
			if m.str("type") == "error" {
				c.t.Fatalf("%s: error %v waiting for %s", c.name, m, typ)
			}
		case <-timer.C:
			c.t.Fatalf("%s: no %s within %v", c.name, typ, msgWait)
		}
	}
}

// quiet fails if any message other than pong arrives within d.
func (c *wsc) quiet(d time.Duration) {
	c.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if ok && m.str("type") != "pong" && m.str("type") != "ice" {
				c.t.Fatalf("%s: unexpected %v", c.name, m)
			}
		case <-timer.C:
			return
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
	timer := time.NewTimer(msgWait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("%s: socket closed waiting for %v", c.name, types)
			}
			if slices.Contains(types, m.str("type")) {
				return m
			}
		case <-timer.C:
			c.t.Fatalf("%s: none of %v within %v", c.name, types, msgWait)
		}
	}
}

// startPlain runs a node with config c (no cluster unless c says so).
func startPlain(t *testing.T, c config.Config) string {
	t.Helper()
	d, err := daemon.New(c)
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	t.Cleanup(d.Stop)
	return d.HTTPURL()
}

// waitAnyFor is waitAny with its own timeout; nil if nothing came.
func (c *wsc) waitAnyFor(d time.Duration, types ...string) msg {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return nil
			}
			if slices.Contains(types, m.str("type")) {
				return m
			}
		case <-timer.C:
			return nil
		}
	}
}

// nodeDown starts a cluster node whose Redis is not running.
func nodeDown(t *testing.T, redisAddr, id string) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(nodeConfig(redisAddr, id))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	if code, _ := readyz(t, d.HTTPURL()); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d with Redis down", code)
	}
	return d
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
// and n2, client a on n1 and b on n2 in room "room", and a has seen b join.
func twoNodesOneRoom(t *testing.T) (r *redisProc, n1, n2 *daemon.Daemon, a, b *wsc) {
	t.Helper()
	r = startRedis(t)
	n1 = startNode(t, r.addr(), "n1")
	n2 = startNode(t, r.addr(), "n2")
	a = dial(t, n1.WSURL(), "a")
	b = dial(t, n2.WSURL(), "b")
	a.join("room")
	b.join("room")
	a.wait("peer-joined")
	return r, n1, n2, a, b
}
