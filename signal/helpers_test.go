package signal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zeromicro/go-zero/core/logx"

	"github.com/rtcd/rtcd/internal/testharness"

	"github.com/rtcd/rtcd/auth"

	"github.com/rtcd/rtcd/signal/proto"
)

func TestMain(m *testing.M) {
	logx.SetLevel(logx.ErrorLevel)
	testharness.VerifyTestMain(m)
}

const (
	testTURNSecret  = "turn-secret-for-tests"
	testTokenSecret = "token-secret-for-tests-0123456789"
	readTimeout     = 5 * time.Second
)

var testURLs = ICEURLs{
	STUN: []string{"stun:127.0.0.1:3478"},
	TURN: []string{"turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"},
}

type env struct {
	t      testing.TB
	hub    *Hub
	srv    *httptest.Server
	issuer *auth.Issuer
	tokens *auth.Tokens
}

type envOpt func(*envOpts)

type envOpts struct {
	ttl   time.Duration
	media MediaServer
}

func withTTL(d time.Duration) envOpt { return func(o *envOpts) { o.ttl = d } }

// withMedia gives the hub a media server before it serves; nil leaves it without.
func withMedia(m MediaServer) envOpt { return func(o *envOpts) { o.media = m } }

// newEnv starts a hub behind an httptest server on 127.0.0.1:0 with /ws
// and /api/v1 mounted as cmd/rtcd mounts them.
func newEnv(t testing.TB, cfg Config, opts ...envOpt) *env {
	t.Helper()
	o := envOpts{ttl: time.Hour}
	for _, f := range opts {
		f(&o)
	}
	iss, err := auth.NewIssuer([]string{testTURNSecret}, o.ttl)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.NewTokens(testTokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := NewHub(cfg, iss, tok, testURLs)
	if err != nil {
		t.Fatal(err)
	}
	if o.media != nil {
		hub.SetMedia(o.media)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", hub.Handler())
	mux.Handle("/api/v1/", hub.APIHandler())
	srv := httptest.NewServer(mux)
	e := &env{t: t, hub: hub, srv: srv, issuer: iss, tokens: tok}
	t.Cleanup(func() {
		hub.Stop()
		srv.Close()
	})
	return e
}

func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws" }

type client struct {
	t  testing.TB
	ws *websocket.Conn
}

// dial opens a socket and fails the test if the upgrade is refused.
func (e *env) dial(hdr http.Header) *client {
	e.t.Helper()
	c, resp, err := e.tryDial(hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	return c
}

func (e *env) tryDial(hdr http.Header) (*client, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: readTimeout}
	ws, resp, err := d.Dial(e.wsURL(), hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	c := &client{t: e.t, ws: ws}
	e.t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

type msg map[string]any

func (m msg) str(k string) string {
	s, _ := m[k].(string)
	return s
}

func (m msg) obj(k string) msg {
	o, _ := m[k].(map[string]any)
	return msg(o)
}

func (m msg) list(k string) []msg {
	l, _ := m[k].([]any)
	out := make([]msg, 0, len(l))
	for _, v := range l {
		o, _ := v.(map[string]any)
		out = append(out, msg(o))
	}
	return out
}

func (c *client) send(v any) {
	c.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next message; it fails the test on close or timeout.
func (c *client) read() msg {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("server sent bad JSON %q: %v", b, err)
	}
	if v, _ := m["v"].(float64); v != 1 {
		c.t.Fatalf("message without v:1: %s", b)
	}
	return m
}

// expect reads the next message and checks its type.
func (c *client) expect(typ string) msg {
	c.t.Helper()
	m := c.read()
	if m.str("type") != typ {
		c.t.Fatalf("got %v, want type %q", m, typ)
	}
	return m
}

// expectError reads the next message and checks it is an error with code and id.
func (c *client) expectError(code, id string) msg {
	c.t.Helper()
	m := c.expect(proto.TypeError)
	if m.str("code") != code || m.str("id") != id {
		c.t.Fatalf("got error %v, want code %q id %q", m, code, id)
	}
	if m.str("message") == "" {
		c.t.Fatalf("error without message: %v", m)
	}
	return m
}

// sync proves the socket is up and that nothing is queued before a pong.
func (c *client) sync() {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "ping", "id": "sync"})
	m := c.read()
	if m.str("type") != proto.TypePong || m.str("id") != "sync" {
		c.t.Fatalf("got %v, want the pong (something unexpected was queued)", m)
	}
}

// expectClose reads until the socket closes and returns the close error.
func (c *client) expectClose(code int) *websocket.CloseError {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	for {
		_, b, err := c.ws.ReadMessage()
		if err == nil {
			c.t.Logf("before close: %s", b)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("got %v, want close %d", err, code)
		}
		if ce.Code != code {
			c.t.Fatalf("got close %d %q, want %d", ce.Code, ce.Text, code)
		}
		return ce
	}
}

func (c *client) hello(name string) msg {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "hello", "id": "h", "name": name})
	m := c.expect(proto.TypeHello)
	if m.str("id") != "h" || !strings.HasPrefix(m.str("peerId"), "p_") || !strings.HasPrefix(m.str("resume"), "r_") {
		c.t.Fatalf("bad hello reply %v", m)
	}
	return m
}

func (c *client) join(room string) msg {
	c.t.Helper()
	c.send(msg{"v": 1, "type": "join", "id": "j", "room": room})
	m := c.expect(proto.TypeJoined)
	if m.str("room") != room || m.str("id") != "j" {
		c.t.Fatalf("bad joined %v", m)
	}
	return m
}

// peer is a client that said hello, with its id.
type peer struct {
	*client
	id     string
	resume string
}

func (e *env) peer(name string) *peer {
	e.t.Helper()
	c := e.dial(nil)
	h := c.hello(name)
	return &peer{client: c, id: h.str("peerId"), resume: h.str("resume")}
}

func (e *env) token(room, user string, ttl time.Duration) string {
	e.t.Helper()
	s, err := e.tokens.Sign(auth.Claims{Room: room, User: user, Expires: time.Now().Add(ttl)})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
