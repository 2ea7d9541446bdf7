package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rtcd/rtcd/internal/callback"
	"github.com/rtcd/rtcd/signal/proto"
)

// wsJoin says how one bench client reaches a room over signaling.
type wsJoin struct {
	url     *url.URL
	origin  string // the Origin header, "" for none
	token   string
	name    string
	room    string
	source  int // the client's index, which picks its loopback source address
	perIP   int // clients per loopback source address
	timeout time.Duration
}

// dialJoin connects, says hello and joins j.room within j.timeout. On
// loopback each client dials from a 127.x source address of its own, so
// many clients stay under the server's per-address limits. The
// connection's deadlines are cleared on success.
func dialJoin(ctx context.Context, j wsJoin) (*websocket.Conn, proto.Hello, proto.ServerMessage, error) {
	var h proto.Hello
	var joined proto.ServerMessage
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: j.timeout, ReadBufferSize: 4096, WriteBufferSize: 4096}
	if ip := net.ParseIP(j.url.Hostname()); (ip != nil && ip.IsLoopback()) || j.url.Hostname() == "localhost" {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(j.source, j.perIP)}, Timeout: j.timeout}
		d.NetDialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, "tcp4", addr)
		}
	}
	var hdr http.Header
	if j.origin != "" {
		hdr = http.Header{"Origin": []string{j.origin}}
	}
	conn, resp, err := d.DialContext(ctx, j.url.String(), hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, h, joined, fmt.Errorf("handshake: HTTP %d", resp.StatusCode)
		}
		return nil, h, joined, fmt.Errorf("dial: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = conn.Close()
		}
	}()
	stop := callback.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	deadline, _ := ctx.Deadline()
	_ = conn.SetWriteDeadline(deadline)
	_ = conn.SetReadDeadline(deadline)
	name := j.name
	if err := conn.WriteJSON(proto.ClientMessage{V: proto.V1, Type: proto.TypeHello, ID: "h", Name: &name,
		Token: j.token}); err != nil {
		return nil, h, joined, fmt.Errorf("hello: %w", err)
	}
	b, err := readUntil(conn, proto.TypeHello)
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		return nil, h, joined, fmt.Errorf("hello: %w", err)
	}
	if err := conn.WriteJSON(proto.ClientMessage{V: proto.V1, Type: proto.TypeJoin, ID: "j", Room: j.room}); err != nil {
		return nil, h, joined, fmt.Errorf("join: %w", err)
	}
	b, err = readUntil(conn, proto.TypeJoined)
	if err == nil {
		err = json.Unmarshal(b, &joined)
	}
	if err != nil {
		return nil, h, joined, fmt.Errorf("join: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	_ = conn.SetReadDeadline(time.Time{})
	ok = true
	return conn, h, joined, nil
}
