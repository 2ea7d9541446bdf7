package signal

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/rest"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

// freePort asks the kernel for a free port on 127.0.0.1; go-zero's
// rest.Server listens on Host:Port itself and cannot report a :0 port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBehindGoZeroRestServer mounts the hub on a real go-zero rest.Server
// with every default middleware on and a 300 ms Timeout, holds a WebSocket
// open for several times that, and stops the way SIGTERM does (proc
// shutdown listeners): bye + 1001.
func TestBehindGoZeroRestServer(t *testing.T) {
	port := freePort(t)
	var rc rest.RestConf
	yaml := fmt.Sprintf("Name: signal-test\nHost: 127.0.0.1\nPort: %d\nTimeout: 600\nLog:\n  Level: error\n", port)
	if err := conf.LoadFromYamlBytes([]byte(yaml), &rc); err != nil {
		t.Fatal(err)
	}
	if !rc.Middlewares.Timeout || rc.Timeout != 600 {
		t.Fatalf("defaults not applied: %+v", rc.Middlewares)
	}
	iss, err := auth.NewIssuer(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The idle timeout is far from the rest Timeout, so that only the latter
	// is what the socket outlives.
	hub, err := NewHub(Config{PingInterval: 100 * time.Millisecond, IdleTimeout: 5 * time.Second}, iss, nil, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rest.NewServer(rc)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddRoute(rest.Route{Method: http.MethodGet, Path: "/ws", Handler: hub.Handler().ServeHTTP})
	srv.AddRoute(rest.Route{Method: http.MethodGet, Path: PathICEServers, Handler: hub.APIHandler().ServeHTTP})
	srv.AddRoute(rest.Route{Method: http.MethodGet, Path: PathTURN, Handler: hub.APIHandler().ServeHTTP})
	started := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		srv.StartWithOpts(func(*http.Server) { close(started) })
	}()
	proc.AddShutdownListener(hub.Stop) // as cmd/rtcd wires it
	shutdown := func() {
		proc.Shutdown()
		<-stopped
	}
	defer func() {
		select {
		case <-stopped:
		default:
			shutdown()
		}
	}()
	<-started

	url := fmt.Sprintf("ws://127.0.0.1:%d/ws", port)
	var ws *websocket.Conn
	deadline := time.Now().Add(readTimeout)
	for {
		ws, _, err = websocket.DefaultDialer.Dial(url, nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	c.hello("long")
	c.join("r")
	// Hold the socket 5x the rest Timeout (and past the ReadTimeout and
	// WriteTimeout go-zero derives from it for http.Server), with traffic.
	hold := time.Now().Add(3 * time.Second)
	for time.Now().Before(hold) {
		c.sync()
		time.Sleep(100 * time.Millisecond)
	}
	// The HTTP API works on the same server.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, PathICEServers))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ice-servers: %d", resp.StatusCode)
	}
	go shutdown()
	c.expect(proto.TypeBye)
	c.expectClose(1001)
	<-stopped
}
